//! What AWS bills for one request, by the published sizing rules: DynamoDB item sizes and
//! the write and read units they cost (with index copies), SQS's 64 KiB chunks. Pure; the
//! meter (`billed_units`) applies them to what the functions send.

use aws_sdk_dynamodb::types::AttributeValue;
use outflow::store::schema::{Index, INDEXES, PARTITION_KEY, SORT_KEY};
use std::collections::HashMap;

/// One DynamoDB item, as the SDK holds it.
pub type Item = HashMap<String, AttributeValue>;

/// DynamoDB's size of an item: each attribute's name and value (UTF-8 bytes for names and
/// strings, numbers by significant digits, one byte for booleans and nulls, 3 bytes plus
/// one per element for lists and maps).
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

/// The size of one attribute value.
pub fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// A number's size: one byte per two significant digits, plus one.
fn number_size(n: &str) -> usize {
    let digits: String = n
        .split(['e', 'E'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

/// Write units for writing an item of `size` bytes: one per started KB, at least one.
pub fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

/// Read units for reading `size` bytes in one request: one per started 4 KB (at least one),
/// half for an eventually consistent read.
pub fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

/// Write units billed for a write's before and after images (a put, an update and a
/// delete are billed by the larger of the two).
pub fn table_write_units(before: Option<&Item>, after: Option<&Item>) -> f64 {
    write_units(before.map_or(0, item_size).max(after.map_or(0, item_size)))
}

/// Write units of the copies the table's indexes (all projecting every attribute) make of
/// one write: a put where the item enters an index, a delete where it leaves, both where
/// its index key changes, an update where it stays and changed.
pub fn index_write_units(before: Option<&Item>, after: Option<&Item>) -> f64 {
    INDEXES
        .iter()
        .map(|index| one_index_write_units(index, before, after))
        .sum()
}

fn one_index_write_units(index: &Index, before: Option<&Item>, after: Option<&Item>) -> f64 {
    let before = before.filter(|i| in_index(index, i));
    let after = after.filter(|i| in_index(index, i));
    match (before, after) {
        (None, None) => 0.0,
        (None, Some(new)) => write_units(item_size(new)),
        (Some(old), None) => write_units(item_size(old)),
        (Some(old), Some(new)) if index_key(index, old) != index_key(index, new) => {
            write_units(item_size(old)) + write_units(item_size(new))
        }
        (Some(old), Some(new)) if old == new => 0.0,
        (Some(_), Some(new)) => write_units(item_size(new)),
    }
}

/// Whether an item has the index's key attributes (the indexes are sparse).
fn in_index(index: &Index, item: &Item) -> bool {
    item.contains_key(index.partition_key) && item.contains_key(index.sort_key)
}

fn index_key<'a>(
    index: &Index,
    item: &'a Item,
) -> (Option<&'a AttributeValue>, Option<&'a AttributeValue>) {
    (item.get(index.partition_key), item.get(index.sort_key))
}

/// The table key of an item or a key map: its partition and sort key strings.
pub fn table_key(item: &Item) -> Option<(String, String)> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    Some((text(PARTITION_KEY)?, text(SORT_KEY)?))
}

/// SQS bills a request per started 64 KiB of its payload, at least one.
pub fn sqs_requests(payload_bytes: usize) -> u64 {
    payload_bytes.div_ceil(64 * 1024).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    #[test]
    fn sizes_follow_dynamodbs_rules() {
        let item: Item = [
            ("pk".to_string(), s("WS#1")),
            ("n".to_string(), AttributeValue::N("12345".into())),
            ("ok".to_string(), AttributeValue::Bool(true)),
            (
                "m".to_string(),
                AttributeValue::M([("a".to_string(), s("xy"))].into()),
            ),
        ]
        .into();
        // pk 2+4, n 1+(3+1), ok 2+1, m 1+(3+1+1+2)
        assert_eq!(item_size(&item), 6 + 5 + 3 + 8);
        assert_eq!(number_size("1000"), 2);
        assert_eq!(number_size("-0.00123"), 3);
    }

    #[test]
    fn units_round_up_per_started_kilobyte_and_4_kb() {
        assert_eq!(write_units(0), 1.0);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(100, false), 0.5);
        assert_eq!(sqs_requests(65_536), 1);
        assert_eq!(sqs_requests(65_537), 2);
    }

    #[test]
    fn index_copies_follow_the_items_in_and_out_of_each_index() {
        let base: Item = [("pk".to_string(), s("a")), ("sk".to_string(), s("b"))].into();
        let mut due = base.clone();
        due.insert("due_pk".into(), s("D"));
        due.insert("due_sk".into(), s("1"));
        assert_eq!(index_write_units(None, Some(&base)), 0.0);
        assert_eq!(index_write_units(None, Some(&due)), 1.0);
        assert_eq!(index_write_units(Some(&due), Some(&due)), 0.0);
        let mut moved = due.clone();
        moved.insert("due_sk".into(), s("2"));
        assert_eq!(index_write_units(Some(&due), Some(&moved)), 2.0);
        assert_eq!(index_write_units(Some(&due), None), 1.0);
        assert_eq!(table_write_units(Some(&due), None), 1.0);
    }
}

//! Arrays read from a request with a cap on what is kept. A list the limits allow a few
//! items of (a message's attachments, a request's events) would otherwise grow to whatever
//! 1 MiB of `{}` or `0` holds — some 350,000 items, 25 MB of Chatwoot attachments — before
//! its count is checked.

use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;

/// Reads an array keeping its first `KEEP` items; the rest are read through (their syntax
/// checked, nothing built) and dropped. Give `KEEP` one more than the limit, so the
/// caller's count check still sees that there were too many.
pub(crate) fn first<'de, D, T, const KEEP: usize>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_seq(First::<T, KEEP>(PhantomData))
}

struct First<T, const KEEP: usize>(PhantomData<T>);

impl<'de, T: Deserialize<'de>, const KEEP: usize> Visitor<'de> for First<T, KEEP> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        // As serde words it for a `Vec`, so refusals read as before.
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Vec<T>, A::Error> {
        let mut kept = Vec::with_capacity(items.size_hint().unwrap_or(0).min(KEEP));
        while kept.len() < KEEP {
            match items.next_element()? {
                Some(item) => kept.push(item),
                None => return Ok(kept),
            }
        }
        while items.next_element::<IgnoredAny>()?.is_some() {}
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<const KEEP: usize>(json: &str) -> Result<Vec<u8>, serde_json::Error> {
        first::<_, u8, KEEP>(&mut serde_json::Deserializer::from_str(json))
    }

    #[test]
    fn keeps_the_first_items_and_reads_the_rest_through() {
        assert_eq!(read::<3>("[1, 2]").unwrap(), vec![1, 2]);
        assert_eq!(
            read::<3>("[1, 2, 3, 4, {\"a\": [5]}]").unwrap(),
            vec![1, 2, 3]
        );
        let long = format!("[{}]", vec!["7"; 100_000].join(","));
        let kept = read::<21>(&long).unwrap();
        // Grown as a Vec grows (doubling), and no further.
        assert_eq!(kept.len(), 21);
        assert!(kept.capacity() < 2 * 21, "{}", kept.capacity());
    }

    #[test]
    fn refuses_what_a_vec_refuses() {
        assert!(read::<3>("null")
            .unwrap_err()
            .to_string()
            .contains("a sequence"));
        assert!(
            read::<3>("[1, \"x\"]").is_err(),
            "a kept item of the wrong type"
        );
        assert!(
            read::<1>("[1, 2").is_err(),
            "broken syntax past the kept items"
        );
    }
}

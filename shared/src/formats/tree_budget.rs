//! A bound on the JSON tree a body may build. The checked parser reads a body into a
//! `serde_json::Value`, where a one-key object costs a B-tree node of about 640 bytes for
//! 7 bytes of input: 1 MiB of `{"":0}` items would take some 100 MB. The body is counted
//! first, streaming, building nothing, and a body over the budget is refused.

use super::invalid::InvalidEvent;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Most JSON values in one body, keys included (a Chatwoot `message_created` holds 232 in
/// 3.5 KB: 1 MiB of such events about 70,000, 100 of them 23,200).
pub const MAX_JSON_VALUES: usize = 200_000;
/// Most objects and arrays in one body (the same events: 25 each, about 7,500 per MiB).
/// A body at both budgets peaks at 56 MB in all (`tests/e2e/ingest_memory.rs`).
pub const MAX_JSON_CONTAINERS: usize = 20_000;

/// Refuses a body whose JSON tree would pass the budget; a body that is not JSON passes
/// (the parser then says what is wrong with it).
pub fn check(body: &[u8]) -> Result<(), InvalidEvent> {
    let mut count = Count::default();
    let mut reader = serde_json::Deserializer::from_slice(body);
    let counted = Counter(&mut count).deserialize(&mut reader);
    if counted.is_err() && count.over() {
        return Err(InvalidEvent::new(
            "body",
            format!(
                "holds more than {MAX_JSON_VALUES} JSON values or {MAX_JSON_CONTAINERS} \
                 objects and arrays; send fewer events per request"
            ),
        ));
    }
    Ok(())
}

/// Values and containers seen so far.
#[derive(Default)]
struct Count {
    values: usize,
    containers: usize,
}

impl Count {
    fn over(&self) -> bool {
        self.values > MAX_JSON_VALUES || self.containers > MAX_JSON_CONTAINERS
    }

    /// Counts one value (and one container if it is one); an error stops the reading.
    fn add<E: de::Error>(&mut self, container: bool) -> Result<(), E> {
        self.values += 1;
        self.containers += usize::from(container);
        match self.over() {
            true => Err(E::custom("over the JSON tree budget")),
            false => Ok(()),
        }
    }
}

/// Counts a value and everything inside it.
struct Counter<'a>(&'a mut Count);

impl<'de> DeserializeSeed<'de> for Counter<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Counter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.0.add(false)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.0.add(false)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.0.add(false)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.0.add(false)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.0.add(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.add(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        self.0.add(true)?;
        while items.next_element_seed(Counter(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        self.0.add(true)?;
        while entries.next_key_seed(Counter(&mut *self.0))?.is_some() {
            entries.next_value_seed(Counter(&mut *self.0))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(item: &str, n: usize) -> Vec<u8> {
        format!(r#"{{"events":[{}]}}"#, vec![item; n].join(",")).into_bytes()
    }

    #[test]
    fn the_fixtures_times_a_full_body_are_within_the_budget() {
        let chatwoot = include_str!("../../../../shared/fixtures/livedesk_message_created.json");
        // 1 MiB of Chatwoot events, far more than the 100 a request may carry.
        let n = 1024 * 1024 / chatwoot.len();
        assert_eq!(check(&items(chatwoot, n)), Ok(()));
    }

    #[test]
    fn a_body_of_tiny_objects_is_refused_before_it_is_built() {
        // 7 bytes each: 150,000 B-tree nodes (about 100 MB) from 1 MiB.
        let refused = check(&items(r#"{"":0}"#, 150_000)).unwrap_err();
        assert_eq!(refused.field, "body");
        assert!(refused.message.contains("20000 objects"), "{refused}");
        assert!(check(&items(r#"{"":0}"#, MAX_JSON_CONTAINERS - 2)).is_ok());
        assert!(check(&items("0", MAX_JSON_VALUES + 1)).is_err());
        assert!(check(&items("0", MAX_JSON_VALUES - 10)).is_ok());
    }

    #[test]
    fn every_kind_of_value_is_counted() {
        // Each kind reaches the counter (a kind it did not take would end the count early
        // and let the body through): 61 values per item, within the container budget.
        let kinds = r#"null,true,-1,1.5,"a\nb",1e300"#;
        let item = format!("[{}]", [kinds; 10].join(","));
        let item = item.as_str();
        let n = MAX_JSON_VALUES / 61 + 1;
        assert!(check(&items(item, n)).is_err());
        assert!(check(&items(item, n - 10)).is_ok());
    }

    #[test]
    fn a_body_that_is_not_json_is_left_to_the_parser() {
        assert_eq!(check(b"{\"events\": [1, 2"), Ok(()));
        assert_eq!(check(b"not json"), Ok(()));
    }
}

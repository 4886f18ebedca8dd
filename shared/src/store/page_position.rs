//! Where a stored message stands in the page order its windows are read in. A window
//! flushed part by part records the index keys of the last message of the part it is
//! about to queue (`sending_through`) and of the last part it queued (`sent_through`): a
//! message at or before either went out (or may have) in a part already queued, so the
//! rest of that bundle will not carry an edit of it.

use super::Item;

/// A message's keys in the indexes windows read their pages from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagePosition {
    /// Its `window`-index sort key (the default endpoint's windows).
    window: Option<String>,
    /// Its `arrival`-index partition (the hour, fixed width) and sort key (other
    /// endpoints' windows).
    arrival: Option<(String, String)>,
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

impl PagePosition {
    /// The position of a stored message item.
    pub(super) fn of(item: &Item) -> Self {
        let owned = |name| text(item, name).map(str::to_string);
        Self {
            window: owned("win_sk"),
            arrival: owned("arr_pk").zip(owned("arr_sk")),
        }
    }

    /// True when a window's cursor (`sent_through` or `sending_through`) is at or after this
    /// message: in the `arrival` index for a window of another endpoint (`endpoint`), else
    /// in the `window` index.
    pub(super) fn queued_by(&self, sent_through: &Item, endpoint: bool) -> bool {
        if endpoint {
            let through = text(sent_through, "arr_pk").zip(text(sent_through, "arr_sk"));
            // One chat's partitions differ only in their fixed-width hour: in order.
            match (&self.arrival, through) {
                (Some((pk, sk)), Some(through)) => (pk.as_str(), sk.as_str()) <= through,
                _ => false,
            }
        } else {
            match (&self.window, text(sent_through, "win_sk")) {
                (Some(sk), Some(through)) => sk.as_str() <= through,
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
            .collect()
    }

    #[test]
    fn a_message_up_to_the_last_queued_is_in_a_queued_part() {
        let at = |sk: &str| PagePosition::of(&item(&[("win_sk", sk)]));
        let through = item(&[
            ("pk", "WS#a"),
            ("sk", "MSG#m2"),
            ("win_sk", "0001#t#0002#m2"),
        ]);
        assert!(at("0001#t#0001#m1").queued_by(&through, false));
        assert!(at("0001#t#0002#m2").queued_by(&through, false));
        assert!(!at("0001#t#0003#m3").queued_by(&through, false));
        // Not in the index the window reads: not known to be queued.
        assert!(!at("0001#t#0001#m1").queued_by(&through, true));
    }

    #[test]
    fn another_endpoints_order_is_the_hour_then_the_arrival() {
        let at = |pk: &str, sk: &str| PagePosition::of(&item(&[("arr_pk", pk), ("arr_sk", sk)]));
        let (h1, h2) = ("WS#a#ARR#1772362800000#3", "WS#a#ARR#1772366400000#3");
        let through = item(&[("arr_pk", h2), ("arr_sk", "c#1772366500000#b")]);
        assert!(at(h1, "c#1772366300000#z").queued_by(&through, true));
        assert!(at(h2, "c#1772366500000#b").queued_by(&through, true));
        assert!(!at(h2, "c#1772366600000#a").queued_by(&through, true));
        assert!(!at(h1, "c#1772366300000#z").queued_by(&through, false));
    }
}

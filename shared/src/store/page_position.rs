//! Where a stored message stands in the page order its windows are read in, and whether
//! an edit of it still waits for its window's bundle. A window flushed part by part
//! records the index keys of the last message of the part it is about to queue
//! (`sending_through`) and of the last part it queued (`sent_through`): a message at or
//! before either went out (or may have) in a part already queued, so the rest of that
//! bundle will not carry an edit of it. A window flushed whole has no such marks: its
//! claim says a run may have read it or sent it, and `first_claimed_by` that a run may
//! have sent it whole, unless that same run cut it into parts (`planned_by`): a run
//! sends a window whole or cuts it, not both.

use super::Item;

/// A window item's attributes that `PagePosition::waits_in` reads.
pub(super) const WINDOW_MARKS: &str =
    "pk, claimed_by, first_claimed_by, planned_by, sent_through, sending_through";

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

    /// True when an edit of this message waits for the bundle of `window` (its item, with
    /// `WINDOW_MARKS`), of another endpoint when `endpoint`: else it is told as an update,
    /// at worst besides a bundle that carries the new text too, never neither.
    pub(super) fn waits_in(&self, window: &Item, endpoint: bool) -> bool {
        // A run holds it: it may have read the message already.
        if window.contains_key("claimed_by") {
            return false;
        }
        // Claimed before by a run that did not cut it into parts: a bundle of the whole
        // window may have gone (its finish refused, then the claim taken away by a save,
        // an enable, a switch-off), and only this says so. A later run's parts would go
        // under the webhook-ids that bundle began with, so their marks are not trusted.
        if let Some(first) = window.get("first_claimed_by") {
            if window.get("planned_by") != Some(first) {
                return false;
            }
        }
        // The last part recorded as queued, or the one being queued (its record may never
        // come, and the part then goes again under the same webhook-id).
        !["sent_through", "sending_through"].iter().any(|name| {
            window
                .get(*name)
                .and_then(|v| v.as_m().ok())
                .is_some_and(|through| self.queued_by(through, endpoint))
        })
    }

    /// True when a window's cursor (`sent_through` or `sending_through`) is at or after this
    /// message: in the `arrival` index for a window of another endpoint (`endpoint`), else
    /// in the `window` index.
    fn queued_by(&self, sent_through: &Item, endpoint: bool) -> bool {
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
    fn an_edit_waits_only_for_a_window_no_run_may_have_sent_it_in() {
        let at = PagePosition::of(&item(&[("win_sk", "0001#t#0002#m2")]));
        let window = |pairs: &[(&str, &str)]| {
            let mut w = item(&[("pk", "WS#a")]);
            w.extend(item(pairs));
            w
        };
        let through = |sk: &str| AttributeValue::M(item(&[("win_sk", sk)]));
        assert!(at.waits_in(&window(&[]), false), "pending, never claimed");
        assert!(!at.waits_in(&window(&[("claimed_by", "r1")]), false));
        // Claimed once and not cut by that run: sent whole, perhaps.
        assert!(!at.waits_in(&window(&[("first_claimed_by", "r1")]), false));
        let later = window(&[("first_claimed_by", "r1"), ("planned_by", "r2")]);
        assert!(!at.waits_in(&later, false), "cut by a later run");
        // Cut by the run that first claimed it: the marks say which parts went.
        let mut streamed = window(&[("first_claimed_by", "r1"), ("planned_by", "r1")]);
        assert!(at.waits_in(&streamed, false), "no part queued yet");
        streamed.insert("sending_through".into(), through("0001#t#0001#m1"));
        assert!(at.waits_in(&streamed, false), "in a later part");
        let mut held = streamed.clone();
        held.insert("claimed_by".into(), AttributeValue::S("r3".into()));
        assert!(
            !at.waits_in(&held, false),
            "a run holds it: it may have read it"
        );
        streamed.insert("sent_through".into(), through("0001#t#0002#m2"));
        assert!(!at.waits_in(&streamed, false), "in a part queued");
        // Claimed by an older version only (no first claimer): the marks alone.
        let mut older = window(&[]);
        older.insert("sending_through".into(), through("0001#t#0003#m3"));
        assert!(!at.waits_in(&older, false), "in the part being queued");
        // Another endpoint's window: its marks are in the `arrival` order.
        let (hour, sk) = ("WS#a#ARR#1772362800000#3", "c#1772362900000#m2");
        let there = PagePosition::of(&item(&[("arr_pk", hour), ("arr_sk", sk)]));
        let mut theirs = window(&[("first_claimed_by", "r1"), ("planned_by", "r1")]);
        assert!(there.waits_in(&theirs, true));
        let mark = item(&[("arr_pk", hour), ("arr_sk", sk)]);
        theirs.insert("sent_through".into(), AttributeValue::M(mark));
        assert!(!there.waits_in(&theirs, true));
        assert!(at.waits_in(&theirs, false), "no `window`-index mark");
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

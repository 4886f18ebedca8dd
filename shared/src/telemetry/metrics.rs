//! The metric names of the `Outflow` namespace and one recording function per event, so
//! the names live in one place (the template's alarms and dashboard use the same ones).
//!
//! Without an installed recorder (tests, the local runner) recording is a no-op.

use crate::domain::FailureKind;
use ::metrics::{counter, describe_counter, describe_histogram, histogram, Unit};

/// Events stored by ingest (duplicates and skipped kinds not included).
pub const EVENTS_INGESTED: &str = "EventsIngested";
/// Events refused by ingest: every event of a throttled request, and one per request
/// whose body could not be parsed (its events cannot be counted).
pub const EVENTS_REJECTED: &str = "EventsRejected";
/// Events dropped because their message was already stored.
pub const DUPLICATES_DROPPED: &str = "DuplicatesDropped";
/// Bundles the aggregator queued (a bundle split into parts counts once).
pub const BUNDLES_BUILT: &str = "BundlesBuilt";
/// Messages carried by those bundles.
pub const MESSAGES_BUNDLED: &str = "MessagesBundled";
/// Delivery attempts the receiver answered with 2xx.
pub const DELIVERIES_SUCCEEDED: &str = "DeliveriesSucceeded";
/// Delivery attempts that failed (non-2xx, timeout, connection error, refused URL).
pub const DELIVERIES_FAILED: &str = "DeliveriesFailed";
/// Failed delivery attempts by kind: dimension `FailureKind` (dns, connect, tls, timeout,
/// http_status, ...), a handful of values, never a workspace. `DeliveriesFailed` counts
/// the same attempts without the dimension, for the failure-rate alarm.
pub const DELIVERY_FAILURES_BY_KIND: &str = "DeliveryFailuresByKind";
/// The dimension naming a failure's kind.
pub const FAILURE_KIND: &str = "FailureKind";
/// Time from sending a delivery's request to its answer, in milliseconds.
pub const DELIVERY_LATENCY: &str = "DeliveryLatency";
/// Webhooks disabled automatically (too many failures in a row, or 410 Gone).
pub const WEBHOOKS_DISABLED: &str = "WebhooksDisabled";
/// Deliveries out of attempts, moved to the dead-letter queue.
pub const DELIVERIES_DEAD_LETTERED: &str = "DeliveriesDeadLettered";
/// Aggregation windows set aside: failing again and again, or never able to succeed
/// (an alarm fires on any).
pub const WINDOWS_SET_ASIDE: &str = "WindowsSetAside";
/// Aggregation windows a run left due because DynamoDB failed one of their steps (a
/// claim, a settings read, a parking, a finish, ...): late, not lost; a steady count means
/// a table fault.
pub const WINDOWS_LEFT_DUE: &str = "WindowsLeftDue";
/// Deliveries of a slow workspace handed back untried because it already held its share
/// of sender invocations (on the dashboard: a slow tenant being held back).
pub const DELIVERIES_OVER_SHARE: &str = "DeliveriesOverShare";
/// One per container start (emitted by the EMF layer on the first invocation).
pub const COLD_START: &str = "ColdStart";

/// Every counter, for describing units and for checks that the template names only these.
pub const COUNTERS: [&str; 13] = [
    EVENTS_INGESTED,
    EVENTS_REJECTED,
    DUPLICATES_DROPPED,
    BUNDLES_BUILT,
    MESSAGES_BUNDLED,
    DELIVERIES_SUCCEEDED,
    DELIVERIES_FAILED,
    DELIVERY_FAILURES_BY_KIND,
    WEBHOOKS_DISABLED,
    DELIVERIES_DEAD_LETTERED,
    WINDOWS_SET_ASIDE,
    WINDOWS_LEFT_DUE,
    DELIVERIES_OVER_SHARE,
];

/// Registers each metric's unit with the installed recorder.
pub fn describe() {
    for name in COUNTERS {
        describe_counter!(name, Unit::Count, "");
    }
    describe_histogram!(DELIVERY_LATENCY, Unit::Milliseconds, "");
}

/// What one ingest request did.
pub fn ingested(stored: usize, duplicates: usize) {
    add(EVENTS_INGESTED, stored);
    add(DUPLICATES_DROPPED, duplicates);
}

/// Ingest refused `events` events.
pub fn rejected(events: usize) {
    add(EVENTS_REJECTED, events);
}

/// The aggregator queued one bundle of `messages` messages.
pub fn bundle_built(messages: usize) {
    add(BUNDLES_BUILT, 1);
    add(MESSAGES_BUNDLED, messages);
}

/// One delivery attempt (`failure`: why it failed, if it did) and how long it took.
pub fn delivery_attempted(failure: Option<FailureKind>, latency_ms: u64) {
    match failure {
        None => add(DELIVERIES_SUCCEEDED, 1),
        Some(kind) => {
            add(DELIVERIES_FAILED, 1);
            counter!(DELIVERY_FAILURES_BY_KIND, FAILURE_KIND => kind.as_str()).increment(1);
        }
    }
    histogram!(DELIVERY_LATENCY).record(latency_ms as f64);
}

/// A webhook was disabled automatically.
pub fn webhook_disabled() {
    add(WEBHOOKS_DISABLED, 1);
}

/// The aggregator set `windows` windows aside.
pub fn windows_set_aside(windows: usize) {
    add(WINDOWS_SET_ASIDE, windows);
}

/// The aggregator left `windows` windows due after a DynamoDB failure (an unreadable
/// shard of the due index counts one: its windows are unknown).
pub fn windows_left_due(windows: usize) {
    add(WINDOWS_LEFT_DUE, windows);
}

/// `deliveries` deliveries ran out of attempts.
pub fn dead_lettered(deliveries: usize) {
    add(DELIVERIES_DEAD_LETTERED, deliveries);
}

/// `deliveries` deliveries were handed back over their workspace's share.
pub fn over_share(deliveries: usize) {
    add(DELIVERIES_OVER_SHARE, deliveries);
}

fn add(name: &'static str, n: usize) {
    if n > 0 {
        counter!(name).increment(n as u64);
    }
}

//! A request's log record carried by its metric document: the fields a log line would
//! hold (`level`, `fields` with the `message`), written as properties of the EMF
//! document the invocation writes anyway. One line instead of two: CloudWatch Logs bills
//! every byte ingested and 26 more per line, and on ingest, one invocation per chat
//! event, the two lines were most of the bill's log bytes (docs/performance.md).

use metrics_cloudwatch_embedded::Collector;
use serde_json::Value;
use std::io::Write;
use std::sync::OnceLock;

/// The process's collector, once `install` has put it in place.
static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();

/// Remembers the installed collector for [`info_with_metrics`].
pub(super) fn remember(collector: &'static Collector) {
    let _ = COLLECTOR.set(collector);
}

/// Writes this invocation's metric document now, with `message` and `fields` (a JSON
/// object) as an info line's `level` and `fields` (a Logs Insights query on
/// `fields.workspace_id` finds it like any line). False when there is no document to
/// carry them — no collector (a handler run in process), text logs, info off, or nothing
/// counted since the last document: the caller then logs the line as usual.
pub fn info_with_metrics(message: &str, mut fields: Value) -> bool {
    let Some(collector) = COLLECTOR.get() else {
        return false;
    };
    let Some(map) = fields.as_object_mut() else {
        return false;
    };
    if !super::logs::json_logs() || !tracing::enabled!(tracing::Level::INFO) {
        return false;
    }
    map.insert("message".into(), message.into());
    let mut document = Vec::new();
    // The collector is the process's: this relies on one invocation at a time (the
    // runtime's sequential loop, one thread, nothing awaited while the record is set).
    let flushed = {
        let record = Record::set(collector, fields);
        record.collector.flush(&mut document)
    };
    if flushed.is_err() || document.is_empty() {
        return false;
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&document).and_then(|()| out.flush()).is_ok()
}

/// The record's properties on the collector, for one flush: properties outlive a flush,
/// so they are removed when this drops (even on a panic), and no later document — the
/// next invocation's, another tenant's — carries them.
struct Record {
    collector: &'static Collector,
}

impl Record {
    fn set(collector: &'static Collector, fields: Value) -> Self {
        collector.set_property("level", "INFO");
        collector.set_property("fields", fields);
        Record { collector }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        self.collector.remove_property("level");
        self.collector.remove_property("fields");
    }
}

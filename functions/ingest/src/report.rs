//! The `202` body of `POST /v1/events`: one result per event.

use outflow::domain::MessageId;
use serde::Serialize;
use utoipa::ToSchema;

/// What became of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    /// Stored or applied.
    Accepted,
    /// A message seen before: stored and delivered once.
    Duplicate,
    /// Understood, but nothing to deliver (the reason says why).
    Skipped,
}

/// The outcome of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EventResult {
    /// Position in the request.
    pub index: usize,
    /// What became of it.
    pub status: EventStatus,
    /// The message, for message events.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub message_id: Option<MessageId>,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The `202` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct IngestReport {
    /// Events stored or applied.
    pub accepted: usize,
    /// Messages seen before (stored and delivered once).
    pub duplicates: usize,
    /// Events that are not customer messages.
    pub skipped: usize,
    /// One result per event, in request order.
    pub events: Vec<EventResult>,
}

impl IngestReport {
    /// Records the next event's result.
    pub fn push(
        &mut self,
        status: EventStatus,
        message_id: Option<MessageId>,
        reason: Option<String>,
    ) {
        match status {
            EventStatus::Accepted => self.accepted += 1,
            EventStatus::Duplicate => self.duplicates += 1,
            EventStatus::Skipped => self.skipped += 1,
        }
        self.events.push(EventResult {
            index: self.events.len(),
            status,
            message_id,
            reason,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_counted_and_indexed_in_order() {
        let mut report = IngestReport::default();
        report.push(
            EventStatus::Accepted,
            Some(MessageId::new_unchecked("m1")),
            None,
        );
        report.push(
            EventStatus::Duplicate,
            Some(MessageId::new_unchecked("m1")),
            None,
        );
        report.push(EventStatus::Skipped, None, Some("note".into()));
        assert_eq!(
            (report.accepted, report.duplicates, report.skipped),
            (1, 1, 1)
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["events"][1]["status"], "duplicate");
        assert_eq!(json["events"][2]["index"], 2);
        assert!(json["events"][2].get("message_id").is_none());
    }
}

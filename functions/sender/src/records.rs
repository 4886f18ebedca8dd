//! The records of one SQS batch: decoded into deliveries, grouped by workspace, and each
//! workspace's split into its chats' delivery order groups (pure, no I/O).

use aws_lambda_events::event::sqs::SqsMessage;
use outflow::domain::{DeliveryEnvelope, ReleaseOrder, WorkspaceId};
use outflow::queue::Queued;
use std::collections::BTreeMap;

/// One delivery received from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The SQS message id (what a partial batch response names).
    pub message_id: String,
    /// The receipt handle, to hide the message until its retry.
    pub receipt_handle: Option<String>,
    /// The delivery.
    pub envelope: DeliveryEnvelope,
    /// Times SQS has handed it out, this one included (`ApproximateReceiveCount`).
    pub receives: u32,
    /// How long it waited in the queue before SQS first handed it out (ms; 0 when SQS
    /// does not say): behind its chat's failing delivery, or in a backlog.
    pub waited_ms: i64,
}

/// A batch read: the records of each workspace in queue order, and the SQS ids of
/// messages that could not be read (retried, then moved to the DLQ by the redrive).
#[derive(Debug, Default)]
pub struct Decoded {
    /// Records by workspace.
    pub by_workspace: BTreeMap<WorkspaceId, Vec<Record>>,
    /// Undecodable messages.
    pub undecodable: Vec<String>,
    /// Release steps, with their SQS ids.
    pub releases: Vec<(String, ReleaseOrder)>,
}

/// Reads every message of a batch.
pub fn decode_all(messages: Vec<SqsMessage>) -> Decoded {
    let mut decoded = Decoded::default();
    for message in messages {
        match decode(&message) {
            Ok(Decodes::Release(id, order)) => decoded.releases.push((id, order)),
            Ok(Decodes::Delivery(record)) => decoded
                .by_workspace
                .entry(record.envelope.workspace_id.clone())
                .or_default()
                .push(record),
            Err(why) => {
                // Retried, then dead-lettered: a poison message is kept, not dropped.
                tracing::error!(sqs_message_id = ?message.message_id, error = %why, "undecodable delivery");
                decoded.undecodable.extend(message.message_id);
            }
        }
    }
    decoded
}

/// One message read.
enum Decodes {
    Delivery(Record),
    Release(String, ReleaseOrder),
}

fn decode(message: &SqsMessage) -> Result<Decodes, String> {
    let message_id = message
        .message_id
        .clone()
        .ok_or("record without messageId")?;
    let body = message.body.as_deref().ok_or("record without body")?;
    match Queued::decode(body).map_err(|e| format!("bad message: {e}"))? {
        Queued::Release(order) => Ok(Decodes::Release(message_id, order)),
        Queued::Delivery(envelope) => Ok(Decodes::Delivery(Record {
            message_id,
            receipt_handle: message.receipt_handle.clone(),
            envelope,
            receives: receives(message),
            waited_ms: waited_ms(message),
        })),
    }
}

/// `ApproximateReceiveCount`, which Lambda always sets; read as a first receive if not.
fn receives(message: &SqsMessage) -> u32 {
    let count = message.attributes.get("ApproximateReceiveCount");
    count.and_then(|n| n.parse().ok()).unwrap_or_else(|| {
        tracing::warn!(sqs_message_id = ?message.message_id, ?count, "no readable receive count");
        1
    })
}

/// `ApproximateFirstReceiveTimestamp` less `SentTimestamp` (both SQS's clock), which
/// Lambda always sets; 0 if not.
fn waited_ms(message: &SqsMessage) -> i64 {
    let at = |name: &str| message.attributes.get(name)?.parse::<i64>().ok();
    match (at("SentTimestamp"), at("ApproximateFirstReceiveTimestamp")) {
        (Some(sent), Some(first)) => (first - sent).max(0),
        _ => 0,
    }
}

/// Splits a workspace's records by chat (message group), each kept in queue order.
pub fn in_chat_order(records: &[Record]) -> Vec<Vec<&Record>> {
    let mut groups: Vec<(String, Vec<&Record>)> = Vec::new();
    for record in records {
        let key = record.envelope.message_group();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(record),
            None => groups.push((key, vec![record])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use outflow::domain::{ChatId, DeliveryId, Timestamp};

    /// A record of `ws`'s chat `chat`, delivery `id`.
    pub fn record(ws: &str, chat: &str, id: &str) -> Record {
        Record {
            message_id: format!("sqs-{id}"),
            receipt_handle: Some(format!("rh-{id}")),
            envelope: DeliveryEnvelope {
                workspace_id: WorkspaceId::new_unchecked(ws),
                delivery_id: DeliveryId::new_unchecked(id),
                created_at: Timestamp::from_unix(0).unwrap(),
                sequence: 0,
                chat_id: Some(ChatId::new_unchecked(chat)),
                body: "{}".into(),
                summary: None,
                event_type: None,
                released_by: None,
            },
            receives: 1,
            waited_ms: 0,
        }
    }

    fn message(id: &str, body: Option<String>) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = body;
        m
    }

    #[test]
    fn a_batch_is_read_by_workspace_and_bad_messages_are_named() {
        let good = |ws: &str, id: &str| {
            let env = record(ws, "c", id).envelope;
            message(id, Some(serde_json::to_string(&env).unwrap()))
        };
        let order = ReleaseOrder::enable(&WorkspaceId::new_unchecked("ws_a"), 1);
        let release = serde_json::json!({ "release": order });
        let decoded = decode_all(vec![
            good("ws_b", "1"),
            message("2", Some("{".into())),
            good("ws_a", "3"),
            message("4", None),
            good("ws_b", "5"),
            message("6", Some(release.to_string())),
        ]);
        assert_eq!(decoded.undecodable, ["2", "4"]);
        assert_eq!(
            decoded
                .by_workspace
                .values()
                .flatten()
                .map(|r| r.receives)
                .max(),
            Some(1)
        );
        assert_eq!(
            decoded.releases.len(),
            1,
            "the release step is not a delivery"
        );
        assert_eq!(decoded.releases[0].0, "6");
        let ids: Vec<(String, Vec<String>)> = decoded
            .by_workspace
            .iter()
            .map(|(ws, rs)| {
                (
                    ws.to_string(),
                    rs.iter().map(|r| r.message_id.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            [
                ("ws_a".to_string(), vec!["3".to_string()]),
                ("ws_b".to_string(), vec!["1".to_string(), "5".to_string()])
            ]
        );
    }

    /// The record one delivery message with these SQS `attributes` decodes to.
    fn decoded_with(attributes: &[(&str, &str)]) -> Record {
        let env = record("ws", "c", "1").envelope;
        let mut m = message("1", Some(serde_json::to_string(&env).unwrap()));
        for (name, value) in attributes {
            m.attributes.insert((*name).into(), (*value).into());
        }
        let mut decoded = decode_all(vec![m]);
        decoded
            .by_workspace
            .values_mut()
            .flatten()
            .next()
            .unwrap()
            .clone()
    }

    #[test]
    fn a_record_knows_how_often_it_was_received() {
        let count = [("ApproximateReceiveCount", "7")];
        assert_eq!(decoded_with(&count).receives, 7);
    }

    #[test]
    fn a_record_knows_how_long_it_waited_before_its_first_receive() {
        let waited = |attributes: &[(&str, &str)]| decoded_with(attributes).waited_ms;
        // As Lambda sends them: epoch milliseconds, as strings.
        let sent = ("SentTimestamp", "1796443240000");
        let first = ("ApproximateFirstReceiveTimestamp", "1796443271500");
        assert_eq!(waited(&[sent, first]), 31_500);
        assert_eq!(waited(&[sent]), 0, "unknown: not waited");
        let early = ("ApproximateFirstReceiveTimestamp", "1796443239000");
        assert_eq!(waited(&[sent, early]), 0, "clock skew is no wait");
    }

    #[test]
    fn chats_keep_their_queue_order() {
        let records = [
            record("ws", "a", "1"),
            record("ws", "b", "2"),
            record("ws", "a", "3"),
        ];
        let groups: Vec<Vec<&str>> = in_chat_order(&records)
            .iter()
            .map(|g| g.iter().map(|r| r.envelope.delivery_id.as_str()).collect())
            .collect();
        assert_eq!(groups, [vec!["1", "3"], vec!["2"]]);
    }
}

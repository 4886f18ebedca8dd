//! The decision after a workspace's deliveries were tried: what each attempt means for
//! its delivery (done, retried after a delay, dead-lettered), the log and activity to
//! write, and the webhook's health. Pure: the attempts and failure counts come in, a
//! `Settlement` comes out for `workspace.rs` to carry out.

use crate::records::Record;
use outflow::delivery::{HealthChange, RetryPolicy};
use outflow::domain::{ActivityAction, ActivityEntry, Attempt, DeadLetter, DeliveryId, Timestamp};
use std::collections::HashMap;
use std::time::Duration;

/// A record to hand back to the queue, visible again after `delay`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// The SQS message id (named in the partial batch response).
    pub message_id: String,
    /// Its receipt handle, to set the delay (none: the queue's visibility timeout).
    pub receipt_handle: Option<String>,
    /// When it is to be tried again.
    pub delay: Duration,
}

impl Retry {
    /// `record`, handed back to come again after `delay`.
    pub fn of(record: &Record, delay: Duration) -> Self {
        Self {
            message_id: record.message_id.clone(),
            receipt_handle: record.receipt_handle.clone(),
            delay,
        }
    }
}

/// Everything a workspace's batch leads to.
#[derive(Debug, Default)]
pub struct Settlement {
    /// The attempts, for the request log.
    pub log: Vec<Attempt>,
    /// One activity entry per attempt.
    pub activity: Vec<ActivityEntry>,
    /// Records to try again (failed, or waiting behind a failed one of their chat).
    pub retry: Vec<Retry>,
    /// Records out of attempts, with what the dead letter keeps of them.
    pub dead: Vec<(Retry, DeadLetter)>,
    /// What the attempts do to the webhook's health.
    pub health: HealthChange,
}

/// Settles each record with its attempt (`None`: not tried, waiting behind its chat's
/// failed delivery). `failures` holds each failed delivery's failed attempts so far;
/// `jitter` gives a uniform sample in [-1, 1] per retry.
pub fn settle(
    tried: Vec<(&Record, Option<Attempt>)>,
    failures: &HashMap<DeliveryId, u32>,
    retry: &RetryPolicy,
    jitter: &mut dyn FnMut() -> f64,
    now: Timestamp,
) -> Settlement {
    let mut out = Settlement::default();
    for (record, attempt) in tried {
        let again = |delay| Retry::of(record, delay);
        let Some(attempt) = attempt else {
            // Visible again at once, yet FIFO hands it out only after its chat's failed
            // delivery (still hidden until its retry) is done: it comes back behind it.
            out.retry.push(again(Duration::ZERO));
            continue;
        };
        let what = record.envelope.describe();
        let entry = if attempt.succeeded() {
            let detail = format!("Delivered {what} in {} ms", attempt.latency_ms);
            ActivityEntry::new(attempt.time, ActivityAction::Delivered, detail)
        } else {
            let failed = failures.get(&attempt.delivery_id).copied().unwrap_or(1);
            match retry.next_delay(failed, attempt.retry_after(), jitter()) {
                Some(delay) => out.retry.push(again(delay)),
                None => out.dead.push((
                    again(Duration::ZERO),
                    dead_letter(record, &attempt, failed, now),
                )),
            }
            let detail = format!("Delivery of {what} failed: {}", attempt.failure_text());
            ActivityEntry::new(attempt.time, ActivityAction::DeliveryFailed, detail)
        };
        out.activity.push(entry);
        out.log.push(attempt);
    }
    out.health = HealthChange::of(&out.log);
    out
}

fn dead_letter(record: &Record, attempt: &Attempt, attempts: u32, now: Timestamp) -> DeadLetter {
    DeadLetter {
        envelope: record.envelope.clone(),
        attempts,
        last_error: attempt.error.clone().unwrap_or_default(),
        dead_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::tests::record;
    use outflow::domain::{FailureKind, Outcome, RecordedResponse, RequestId};
    use std::collections::BTreeMap;

    fn attempt(r: &Record, status: u16, retry_after: Option<&str>) -> Attempt {
        let mut headers = BTreeMap::new();
        if let Some(v) = retry_after {
            headers.insert("retry-after".to_string(), v.to_string());
        }
        let mut a = Attempt {
            request_id: RequestId::new_unchecked("req"),
            delivery_id: r.envelope.delivery_id.clone(),
            chat_id: r.envelope.chat_id.clone(),
            time: Timestamp::from_unix(100).unwrap(),
            outcome: Outcome::Success,
            url: "https://r.example/".into(),
            request_headers: BTreeMap::new(),
            request_body: "{}".into(),
            response: Some(RecordedResponse {
                status,
                headers,
                body: String::new(),
                body_truncated: false,
                headers_truncated: false,
            }),
            latency_ms: 5,
            error: None,
            failure_kind: None,
            request_body_cut: None,
        };
        if status != 200 {
            a.fail(FailureKind::HttpStatus, format!("HTTP {status}"));
        }
        a
    }

    fn policy() -> RetryPolicy {
        RetryPolicy::new(
            vec![
                Duration::ZERO,
                Duration::from_secs(5),
                Duration::from_secs(60),
            ],
            0.0,
        )
    }

    #[test]
    fn each_attempt_is_done_retried_or_dead_lettered() {
        let ok = record("ws", "a", "d-ok");
        let failed = record("ws", "b", "d-fail");
        let waiting = record("ws", "b", "d-wait");
        let throttled = record("ws", "c", "d-429");
        let exhausted = record("ws", "d", "d-dead");
        let tried = vec![
            (&ok, Some(attempt(&ok, 200, None))),
            (&failed, Some(attempt(&failed, 500, None))),
            (&waiting, None),
            (&throttled, Some(attempt(&throttled, 429, Some("30")))),
            (&exhausted, Some(attempt(&exhausted, 503, None))),
        ];
        let failures = HashMap::from([
            (DeliveryId::new_unchecked("d-fail"), 1),
            (DeliveryId::new_unchecked("d-429"), 2),
            (DeliveryId::new_unchecked("d-dead"), 3),
        ]);
        let now = Timestamp::from_unix(200).unwrap();
        let s = settle(tried, &failures, &policy(), &mut || 0.0, now);
        let retries: Vec<(&str, u64)> = s
            .retry
            .iter()
            .map(|r| (r.message_id.as_str(), r.delay.as_secs()))
            .collect();
        assert_eq!(
            retries,
            [("sqs-d-fail", 5), ("sqs-d-wait", 0), ("sqs-d-429", 30)]
        );
        assert_eq!(s.dead.len(), 1);
        let (handed_back, letter) = &s.dead[0];
        assert_eq!(handed_back.message_id, "sqs-d-dead");
        assert_eq!((letter.attempts, letter.dead_at), (3, now));
        assert_eq!(letter.last_error, "HTTP 503");
        assert_eq!(s.log.len(), 4, "the waiting record was not tried");
        let actions: Vec<ActivityAction> = s.activity.iter().map(|a| a.action).collect();
        assert_eq!(
            actions,
            [
                ActivityAction::Delivered,
                ActivityAction::DeliveryFailed,
                ActivityAction::DeliveryFailed,
                ActivityAction::DeliveryFailed
            ]
        );
        assert!(s.activity[1].detail.contains("(http_status) HTTP 500"));
        assert_eq!(s.health.failures, 3);
        assert!(s.health.after_success);
    }
}

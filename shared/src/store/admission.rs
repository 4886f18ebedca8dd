//! Ingest admission in one UpdateItem on the workspace item: the API key is checked, the
//! request is counted in the workspace's rate window, and the webhook settings come back
//! with it (`ALL_NEW`), so an ingest request starts with one round trip instead of three
//! (key read, settings read, rate counter). A refused request writes nothing.

use super::endpoints::endpoints_in;
use super::filter_items::READS_FILTER_REF;
use super::workspaces::{key_entry_names, key_record_in, KEY_HOLDS_SCOPE};
use super::{keys, n, number_attribute, s, Item, Store, StoreError, StoreResult};
use crate::domain::{
    ApiKey, EndpointId, OverLimit, RateLimit, RateWindow, Scope, Timestamp, Webhook, WorkspaceId,
};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The outcome of admitting one ingest request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Counted; the webhook settings as they are now (`None`: none registered), and the
    /// workspace's additional endpoints.
    Admitted {
        /// The default endpoint's settings.
        webhook: Option<Box<Webhook>>,
        /// The additional endpoints listed (their settings are read by the caller).
        endpoints: Vec<EndpointId>,
    },
    /// The key is not (or no longer) one of the workspace's keys.
    UnknownKey,
    /// The key is the workspace's but may not send events.
    MissingScope(Scope),
    /// The workspace's window is full.
    Throttled(OverLimit),
}

/// The last rate window this container saw per workspace. Only a guess of which update
/// to try first (count in the current window, or open a new one); a wrong guess costs one
/// more request, never a wrong count.
#[derive(Debug, Clone, Default)]
pub struct RateWindows(Arc<Mutex<HashMap<WorkspaceId, i64>>>);

/// Workspaces remembered per container before the memory starts over.
const REMEMBERED_WORKSPACES: usize = 10_000;

impl RateWindows {
    fn last(&self, ws: &WorkspaceId) -> Option<i64> {
        self.0.lock().ok()?.get(ws).copied()
    }

    fn saw(&self, ws: &WorkspaceId, window: i64) {
        if let Ok(mut seen) = self.0.lock() {
            if seen.len() >= REMEMBERED_WORKSPACES && !seen.contains_key(ws) {
                seen.clear();
            }
            seen.insert(ws.clone(), window);
        }
    }
}

/// The two updates: count in the window the item holds, or start the next window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Count { window: i64 },
    Open { window: i64 },
}

/// What to do after a step's condition failed, from the item as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Try this step.
    Try(Step),
    /// Refuse: the key is not the workspace's.
    UnknownKey,
    /// Refuse: the key lacks `events:write`.
    MissingScope,
    /// Refuse: the window is full.
    Throttled(OverLimit),
}

fn next_step(old: Option<&Item>, key: &ApiKey, limit: RateLimit, now: RateWindow) -> Next {
    let (window, left) = (now.start, now.left_secs);
    let Some(old) = old else {
        return Next::UnknownKey;
    };
    match key_record_in(old, key) {
        None => return Next::UnknownKey,
        Some(record) if !record.grant.allows(Scope::EventsWrite) => return Next::MissingScope,
        Some(_) => {}
    }
    let number = |name: &str| number_attribute::<i64>(old, name);
    match number("rate_window") {
        // Another Lambda opened this window (or, with its clock ahead, the next one):
        // count in it.
        Some(held) if held >= window => {
            if number("rate_count").unwrap_or(0) >= i64::from(limit.requests) {
                Next::Throttled(OverLimit {
                    retry_after_secs: left.max(1),
                })
            } else {
                Next::Try(Step::Count { window: held })
            }
        }
        _ => Next::Try(Step::Open { window }),
    }
}

impl Store {
    /// Checks `key`, counts one request of `ws` at `now` and returns the webhook settings,
    /// all in one conditional UpdateItem (two when the rate window changes hands).
    pub async fn admit_ingest(
        &self,
        ws: &WorkspaceId,
        key: &ApiKey,
        limit: RateLimit,
        now: &Timestamp,
        seen: &RateWindows,
    ) -> StoreResult<Admission> {
        let now = limit.window(now);
        let window = now.start;
        let mut step = if seen.last(ws) == Some(window) {
            Step::Count { window }
        } else {
            Step::Open { window }
        };
        // Each failed step learns the item's state, so the next one fits it; only a race
        // with other Lambdas on the window can fail again.
        for _ in 0..4 {
            let result = self.admission_update(ws, key, limit, step).send().await;
            let failed = match result {
                Ok(out) => {
                    let (Step::Count { window } | Step::Open { window }) = step;
                    seen.saw(ws, window);
                    let endpoints = out.attributes.as_ref().map(endpoints_in);
                    let webhook = self.webhook_in(ws, out.attributes).await?.map(Box::new);
                    let endpoints = endpoints.unwrap_or_default();
                    return Ok(Admission::Admitted { webhook, endpoints });
                }
                Err(e) => match e.into_service_error() {
                    UpdateItemError::ConditionalCheckFailedException(failed) => failed,
                    other => return Err(StoreError::service("UpdateItem", &other)),
                },
            };
            match next_step(failed.item(), key, limit, now) {
                Next::Try(next) => step = next,
                Next::UnknownKey => return Ok(Admission::UnknownKey),
                Next::MissingScope => return Ok(Admission::MissingScope(Scope::EventsWrite)),
                Next::Throttled(over) => return Ok(Admission::Throttled(over)),
            }
        }
        Err(StoreError::Dynamo {
            op: "UpdateItem",
            detail: "the rate window kept changing hands".into(),
        })
    }

    /// The conditional update of one step: the key must be the workspace's, and the window
    /// must be the one the step expects.
    fn admission_update(
        &self,
        ws: &WorkspaceId,
        key: &ApiKey,
        limit: RateLimit,
        step: Step,
    ) -> UpdateItemFluentBuilder {
        let update = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .set_expression_attribute_names(Some(key_entry_names(key)))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":scope", s(Scope::EventsWrite.as_str()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match step {
            Step::Count { window } => update
                .update_expression("ADD rate_count :one")
                .condition_expression(format!(
                    "{KEY_HOLDS_SCOPE} AND rate_window = :w AND rate_count < :limit"
                ))
                .expression_attribute_values(":w", n(window))
                .expression_attribute_values(":limit", n(limit.requests)),
            Step::Open { window } => update
                // Marks the item as read by an ingest that follows `filter_ref`, since the
                // first window this version opened (ms).
                .update_expression(format!(
                    "SET rate_window = :w, rate_count = :one, \
                     {READS_FILTER_REF} = if_not_exists({READS_FILTER_REF}, :marked)"
                ))
                .expression_attribute_values(":marked", n(window * 1_000))
                .condition_expression(format!(
                    "{KEY_HOLDS_SCOPE} AND (attribute_not_exists(rate_window) OR rate_window < :w)"
                ))
                .expression_attribute_values(":w", n(window)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    const LIMIT: RateLimit = RateLimit {
        requests: 2,
        window_secs: 1,
    };

    fn at(start: i64) -> RateWindow {
        RateWindow {
            start,
            left_secs: 1,
        }
    }

    fn item(key: &ApiKey, window: Option<i64>, count: i64) -> Item {
        let mut item = Item::from([(
            "api_keys".to_string(),
            AttributeValue::M(HashMap::from([(key.hash(), s("t"))])),
        )]);
        if let Some(w) = window {
            item.insert("rate_window".into(), n(w));
            item.insert("rate_count".into(), n(count));
        }
        item
    }

    #[test]
    fn a_failed_step_picks_the_step_that_fits_the_item() {
        let key = ApiKey::generate(&WorkspaceId::generate());
        let other = ApiKey::generate(&WorkspaceId::generate());
        assert_eq!(next_step(None, &key, LIMIT, at(10)), Next::UnknownKey);
        let stored = item(&other, Some(10), 0);
        assert_eq!(
            next_step(Some(&stored), &key, LIMIT, at(10)),
            Next::UnknownKey
        );
        let fresh = item(&key, None, 0);
        assert_eq!(
            next_step(Some(&fresh), &key, LIMIT, at(10)),
            Next::Try(Step::Open { window: 10 })
        );
        let older = item(&key, Some(9), 5);
        assert_eq!(
            next_step(Some(&older), &key, LIMIT, at(10)),
            Next::Try(Step::Open { window: 10 })
        );
        let open = item(&key, Some(10), 1);
        assert_eq!(
            next_step(Some(&open), &key, LIMIT, at(10)),
            Next::Try(Step::Count { window: 10 })
        );
        let full = item(&key, Some(10), 2);
        assert_eq!(
            next_step(Some(&full), &key, LIMIT, at(10)),
            Next::Throttled(OverLimit {
                retry_after_secs: 1
            })
        );
        let mut scoped = item(&key, Some(10), 0);
        let entry = AttributeValue::M(HashMap::from([(
            "scopes".to_string(),
            AttributeValue::L(vec![s("logs:read")]),
        )]));
        scoped.insert(
            "api_keys".into(),
            AttributeValue::M(HashMap::from([(key.hash(), entry)])),
        );
        assert_eq!(
            next_step(Some(&scoped), &key, LIMIT, at(10)),
            Next::MissingScope
        );
        let ahead = item(&key, Some(11), 0);
        assert_eq!(
            next_step(Some(&ahead), &key, LIMIT, at(10)),
            Next::Try(Step::Count { window: 11 })
        );
    }

    #[test]
    fn the_memory_of_windows_is_bounded() {
        let seen = RateWindows::default();
        let first = WorkspaceId::generate();
        seen.saw(&first, 1);
        assert_eq!(seen.last(&first), Some(1));
        for _ in 0..REMEMBERED_WORKSPACES {
            seen.saw(&WorkspaceId::generate(), 2);
        }
        assert_eq!(seen.last(&first), None);
        assert!(seen.0.lock().unwrap().len() <= REMEMBERED_WORKSPACES);
    }
}

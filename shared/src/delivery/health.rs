//! Consecutive-failure accounting: the 11th failure in a row disables the webhook and
//! emails the owner once; a success resets the count; a 410 Gone disables at once.
//! `HealthChange` decides what a batch's attempts do; `HealthKeeper` carries it out.

use crate::delivery::notices::NOTICE_TIME_LIMIT;
use crate::delivery::Notices;
use crate::domain::portal::MAX_LINK_SECS;
use crate::domain::webhook::{OwnerEmail, MAX_CONSECUTIVE_FAILURES, OWNER_EMAILS_PER_DAY};
use crate::domain::{
    warning_due, ActivityAction, ActivityEntry, Attempt, Notice, Timestamp, Webhook, WebhookStatus,
    WorkspaceId, WARN_AFTER_MS,
};
use crate::domain::{PortalLink, PortalToken};
use crate::notify::OwnerNotifier;
use crate::store::{FailureCount, Store, StoreResult};
use crate::telemetry::metrics;

/// Tries of an owed owner email (a minute apart at least) before it is given up.
pub const OWNER_EMAIL_TRIES: u32 = 5;

/// What a batch's attempts, in the order they ended, do to the consecutive-failure count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthChange {
    /// At least one attempt succeeded: the count starts over from the failures after it.
    pub after_success: bool,
    /// Failed attempts after the last success (all of them when none succeeded).
    pub failures: u32,
    /// The last failure, in words (kind and error), for the disable reason.
    pub last_failure: Option<String>,
    /// A receiver answered 410 Gone: it asked for no more deliveries (disables even when
    /// a later attempt succeeded).
    pub gone: bool,
}

impl HealthChange {
    /// The change made by `attempts` (any order: they are taken in the order they ended).
    pub fn of<'a>(attempts: impl IntoIterator<Item = &'a Attempt>) -> Self {
        let mut ended: Vec<&Attempt> = attempts.into_iter().collect();
        ended.sort_by_key(|a| a.ended_ms());
        let mut change = HealthChange::default();
        for attempt in ended {
            if attempt.succeeded() {
                change.after_success = true;
                change.failures = 0;
            } else {
                change.failures += 1;
                change.gone |= attempt.gone();
                change.last_failure = Some(attempt.failure_text());
            }
        }
        change
    }
}

/// What the health keeper did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureVerdict {
    /// Nothing failed (a success may have reset the count).
    Healthy,
    /// Counted; the webhook stays on.
    Counted(u32),
    /// This batch disabled the webhook (and the owner was told).
    Disabled(u32),
    /// Over the limit, but another delivery already disabled it.
    AlreadyDisabled(u32),
}

/// Keeps one workspace's webhook health.
#[derive(Clone, Debug)]
pub struct HealthKeeper {
    store: Store,
    notifier: OwnerNotifier,
    notices: Notices,
}

impl HealthKeeper {
    /// A keeper over the store, emailing through the notifier.
    pub fn new(store: Store, notifier: OwnerNotifier) -> Self {
        let notices = Notices::new(store.clone(), notifier.clone());
        Self {
            store,
            notifier,
            notices,
        }
    }

    /// Carries out a batch's change at `now`: one write when the count changes (none when
    /// a success finds it at zero: `was_failing` is the count read before the batch), and
    /// the disable when the count passes the limit or the receiver answered 410.
    pub async fn apply(
        &self,
        ws: &WorkspaceId,
        change: &HealthChange,
        was_failing: bool,
        now: Timestamp,
    ) -> StoreResult<FailureVerdict> {
        if change.failures == 0 && !change.gone {
            if change.after_success && was_failing {
                self.store.reset_failures(ws).await?;
            }
            return Ok(FailureVerdict::Healthy);
        }
        let failing = self
            .store
            .count_failures(ws, change.failures, change.after_success, now)
            .await?;
        let count = failing.count;
        let last = change.last_failure.as_deref().unwrap_or_default();
        let reason = if change.gone {
            "the receiver answered 410 Gone, asking for no more deliveries".to_string()
        } else if WebhookStatus::over_limit(count) {
            format!(
                "more than {MAX_CONSECUTIVE_FAILURES} consecutive failed deliveries; last error: {last}"
            )
        } else {
            // The count's update says whether it is due, so a warned incident costs
            // nothing more; the incident's mark keeps it to one warning.
            if warning_due(failing.since_ms, failing.warned, now.millis()) {
                // A warning never fails the batch's bookkeeping.
                if let Err(e) = self.warn(ws, failing, last, now).await {
                    tracing::error!(workspace_id = %ws, error = %e, "failing webhook not warned");
                }
            }
            return Ok(FailureVerdict::Counted(count));
        };
        self.disable(ws, &reason, count, now).await
    }

    /// Warns the owner that the webhook keeps failing, once per failure incident (only
    /// the caller that marks the incident warned sends it).
    async fn warn(
        &self,
        ws: &WorkspaceId,
        failing: FailureCount,
        last_error: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let began_by = now.millis() - WARN_AFTER_MS;
        if !self.store.claim_warning(ws, began_by, now).await? {
            return Ok(());
        }
        let Some(webhook) = self.store.webhook_as_stored(ws).await? else {
            return Ok(());
        };
        tracing::warn!(workspace_id = %ws, failures = failing.count, "owner warned: webhook failing");
        let link = self.portal_link_or_none(ws, now, "warning");
        let portal = tokio::time::timeout(NOTICE_TIME_LIMIT, link)
            .await
            .unwrap_or(None);
        let notice = Notice::Failing {
            url: webhook.url,
            failures: failing.count,
            since: Timestamp::from_unix_millis(failing.since_ms).unwrap_or(now),
            last_error: last_error.to_string(),
            portal,
            routes: ws.routes(),
        };
        self.notices.send(ws, &notice, now).await;
        Ok(())
    }

    /// Disables the webhook unless another delivery already did; only the one that did
    /// records it, and owes the owner one email (in the same write).
    async fn disable(
        &self,
        ws: &WorkspaceId,
        reason: &str,
        count: u32,
        now: Timestamp,
    ) -> StoreResult<FailureVerdict> {
        if !self.store.disable_webhook(ws, reason, now).await? {
            return Ok(FailureVerdict::AlreadyDisabled(count));
        }
        tracing::warn!(workspace_id = %ws, failures = count, "webhook disabled automatically");
        metrics::webhook_disabled();
        let disabled = ActivityEntry::new(
            now,
            ActivityAction::Disabled,
            format!("Webhook disabled: {reason}"),
        );
        self.store.record_activity(ws, &disabled).await?;
        self.email_owner(ws, now).await?;
        Ok(FailureVerdict::Disabled(count))
    }

    /// Sends the owner email a disable owes, when one is owed and no other sender holds
    /// it: at most `OWNER_EMAILS_PER_DAY` a day; a failed send stays owed and a later
    /// batch of the workspace sends it.
    pub async fn email_owner(&self, ws: &WorkspaceId, now: Timestamp) -> StoreResult<()> {
        let Some(webhook) = self.store.claim_owner_email(ws, now).await? else {
            return Ok(());
        };
        let day = now.utc_day();
        let detail = match webhook.owner_email(&day) {
            OwnerEmail::NotDue => return Ok(()),
            OwnerEmail::OverDailyCap => {
                self.store.drop_owner_email(ws).await?;
                format!("Owner not emailed: at most {OWNER_EMAILS_PER_DAY} emails a day")
            }
            OwnerEmail::Send => match self.send(ws, &webhook, now).await {
                Ok(owner) => {
                    self.store.owner_email_sent(ws, &webhook, &day).await?;
                    format!("Owner {owner} notified by email")
                }
                Err(e) => {
                    tracing::error!(workspace_id = %ws, error = %e, "owner email failed");
                    if self.store.owner_email_failed(ws).await? < OWNER_EMAIL_TRIES {
                        format!("Owner email failed (sent again later): {e}")
                    } else {
                        self.store.drop_owner_email(ws).await?;
                        format!("Owner email failed {OWNER_EMAIL_TRIES} times; not sent: {e}")
                    }
                }
            },
        };
        let entry = ActivityEntry::new(now, ActivityAction::OwnerNotified, detail);
        self.store.record_activity(ws, &entry).await
    }

    /// A 7-day portal link for the owner's `email`, or none when it cannot be saved: the
    /// email matters more than its link, and without one it still goes out.
    async fn portal_link_or_none(
        &self,
        ws: &WorkspaceId,
        now: Timestamp,
        email: &str,
    ) -> Option<String> {
        self.portal_link(ws, now).await.unwrap_or_else(|e| {
            tracing::warn!(workspace_id = %ws, error = %e, "no portal link for the {email}");
            None
        })
    }

    /// A 7-day portal link for the owner's email (none where the public URL is unknown).
    async fn portal_link(&self, ws: &WorkspaceId, now: Timestamp) -> StoreResult<Option<String>> {
        // The portal opens the workspace, whichever endpoint the email is about.
        let ws = &ws.tenant();
        let token = PortalToken::generate(ws);
        let Some(url) = self.notifier.portal_url(&token) else {
            return Ok(None);
        };
        let link = PortalLink {
            minted_ms: now.millis(),
            expires_ms: now.millis() + MAX_LINK_SECS as i64 * 1_000,
        };
        Ok(self
            .store
            .save_portal_link(ws, &token, link)
            .await?
            .then_some(url))
    }

    /// Emails the owner why the webhook was disabled; the address it went to.
    async fn send(
        &self,
        ws: &WorkspaceId,
        webhook: &Webhook,
        now: Timestamp,
    ) -> Result<String, String> {
        let workspace = self
            .store
            .workspace(ws)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the workspace is gone")?;
        let reason = webhook.owner_email_due.as_deref().unwrap_or_default();
        let portal = self.portal_link_or_none(ws, now, "owner email").await;
        self.notifier
            .webhook_disabled(
                &workspace.owner_email,
                &workspace.name,
                (&webhook.url, &ws.routes()),
                reason,
                portal.as_deref(),
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(workspace.owner_email)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeliveryId, FailureKind, Outcome, RecordedResponse, RequestId};
    use std::collections::BTreeMap;

    /// An attempt that ended at `ended` ms with `status` (0: no answer).
    fn attempt(ended: i64, status: u16) -> Attempt {
        let mut a = Attempt {
            request_id: RequestId::new_unchecked("req"),
            delivery_id: DeliveryId::new_unchecked("msg"),
            chat_id: None,
            time: Timestamp::from_unix_millis(ended - 10).unwrap(),
            outcome: Outcome::Success,
            url: String::new(),
            request_headers: BTreeMap::new(),
            request_body: String::new(),
            response: (status > 0).then(|| RecordedResponse {
                status,
                headers: BTreeMap::new(),
                body: String::new(),
                body_truncated: false,
                headers_truncated: false,
            }),
            latency_ms: 10,
            error: None,
            failure_kind: None,
            request_body_cut: None,
        };
        match status {
            200 => {}
            0 => a.fail(FailureKind::Timeout, "timeout"),
            _ => a.fail(FailureKind::HttpStatus, format!("HTTP {status}")),
        }
        a
    }

    #[test]
    fn a_batch_changes_the_count_by_what_ended_last() {
        /// Attempts as (ended ms, status), then after_success, failures, gone.
        type Case<'a> = (&'a [(i64, u16)], bool, u32, bool);
        let cases: [Case; 7] = [
            (&[], false, 0, false),
            (&[(1, 200), (2, 200)], true, 0, false),
            (&[(1, 500), (2, 0)], false, 2, false),
            (&[(3, 500), (1, 500), (2, 200)], true, 1, false),
            (&[(1, 500), (2, 200)], true, 0, false),
            (&[(1, 410), (2, 503)], false, 2, true),
            (&[(1, 410), (2, 200)], true, 0, true),
        ];
        for (attempts, after_success, failures, gone) in cases {
            let attempts: Vec<Attempt> = attempts.iter().map(|&(e, s)| attempt(e, s)).collect();
            let change = HealthChange::of(&attempts);
            assert_eq!(
                (change.after_success, change.failures, change.gone),
                (after_success, failures, gone),
                "{attempts:?}"
            );
        }
    }

    #[test]
    fn the_last_failure_is_named_with_its_kind() {
        let attempts = [attempt(1, 0), attempt(2, 502)];
        let change = HealthChange::of(&attempts);
        assert_eq!(
            change.last_failure.as_deref(),
            Some("(http_status) HTTP 502")
        );
    }
}

//! Consecutive-failure accounting: the 11th failure in a row disables the webhook and
//! emails the owner once; a success resets the count.

use crate::domain::webhook::MAX_CONSECUTIVE_FAILURES;
use crate::domain::{Timestamp, WebhookStatus, WorkspaceId};
use crate::notify::OwnerNotifier;
use crate::store::{ActivityEntry, Store, StoreResult};
use crate::telemetry::metrics;

/// What the health keeper did after a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureVerdict {
    /// Counted; the webhook stays on.
    Counted(u32),
    /// This failure disabled the webhook (and the owner was told).
    Disabled(u32),
    /// Over the limit, but another delivery already disabled it.
    AlreadyDisabled(u32),
}

/// Keeps one workspace's webhook health.
#[derive(Clone, Debug)]
pub struct HealthKeeper {
    store: Store,
    notifier: OwnerNotifier,
}

impl HealthKeeper {
    /// A keeper over the store, emailing through the notifier.
    pub fn new(store: Store, notifier: OwnerNotifier) -> Self {
        Self { store, notifier }
    }

    /// Counts a failed request and disables the webhook on the 11th in a row.
    pub async fn failure(
        &self,
        ws: &WorkspaceId,
        url: &str,
        error: &str,
    ) -> StoreResult<FailureVerdict> {
        let count = self.store.add_failure(ws).await?;
        if !WebhookStatus::over_limit(count) {
            return Ok(FailureVerdict::Counted(count));
        }
        let reason = format!(
            "more than {MAX_CONSECUTIVE_FAILURES} consecutive failed deliveries; last error: {error}"
        );
        self.disable(ws, url, &reason, count).await
    }

    /// The receiver answered 410 Gone: it asked for no more deliveries, so the webhook is
    /// disabled at once (Standard Webhooks), counted as a failure too.
    pub async fn gone(&self, ws: &WorkspaceId, url: &str) -> StoreResult<FailureVerdict> {
        let count = self.store.add_failure(ws).await?;
        let reason = "the receiver answered 410 Gone, asking for no more deliveries";
        self.disable(ws, url, reason, count).await
    }

    /// Disables the webhook unless another delivery already did; only the one that did
    /// records it and emails the owner.
    async fn disable(
        &self,
        ws: &WorkspaceId,
        url: &str,
        reason: &str,
        count: u32,
    ) -> StoreResult<FailureVerdict> {
        if !self
            .store
            .disable_webhook(ws, reason, Timestamp::now())
            .await?
        {
            return Ok(FailureVerdict::AlreadyDisabled(count));
        }
        tracing::warn!(workspace_id = %ws, failures = count, "webhook disabled automatically");
        metrics::webhook_disabled();
        self.store
            .record_activity(
                ws,
                &ActivityEntry::now("disabled", format!("Webhook disabled: {reason}")),
            )
            .await?;
        match self.store.workspace(ws).await? {
            Some(workspace) => {
                let sent = self
                    .notifier
                    .webhook_disabled(&workspace.owner_email, &workspace.name, url, reason)
                    .await;
                let detail = match sent {
                    Ok(()) => format!("Owner {} notified by email", workspace.owner_email),
                    Err(e) => {
                        tracing::error!(workspace_id = %ws, error = %e, "owner email failed");
                        format!("Owner email failed: {e}")
                    }
                };
                self.store
                    .record_activity(ws, &ActivityEntry::now("owner_notified", detail))
                    .await?;
            }
            None => tracing::error!(workspace_id = %ws, "disabled webhook has no workspace"),
        }
        Ok(FailureVerdict::Disabled(count))
    }

    /// A success: the consecutive count starts over.
    pub async fn success(&self, ws: &WorkspaceId) -> StoreResult<()> {
        self.store.reset_failures(ws).await?;
        Ok(())
    }
}

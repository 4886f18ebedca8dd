//! The owner email a disable owes, kept on the workspace item until it is sent: the
//! disable writes it in the same update that switches the webhook off, a sender claims it
//! for a short lease while it talks to SES, and only a sent (or capped) email clears it.
//! A failed send or a crashed sender leaves it owed, and a later batch sends it.

use super::webhooks::webhook_of;
use super::{applied, keys, n, s, Store, StoreResult};
use crate::domain::{Timestamp, Webhook, WorkspaceId};
use aws_sdk_dynamodb::types::ReturnValue;

/// How long a claim on an owed email holds (a sender that died with it lets it go).
const LEASE_MS: i64 = 60_000;

impl Store {
    /// Claims the owed owner email for `LEASE_MS`; the webhook as it is then (a filter
    /// kept apart not read: the email does not show it), or `None` when none is owed or
    /// another sender holds it.
    pub async fn claim_owner_email(
        &self,
        ws: &WorkspaceId,
        now: Timestamp,
    ) -> StoreResult<Option<Webhook>> {
        let result = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression("SET owner_email_lease = :now")
            .condition_expression(
                "attribute_exists(owner_email_due) AND \
                 (attribute_not_exists(owner_email_lease) OR owner_email_lease < :stale)",
            )
            .expression_attribute_values(":now", n(now.millis()))
            .expression_attribute_values(":stale", n(now.millis() - LEASE_MS))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let item = applied("UpdateItem", result)?.and_then(|out| out.attributes);
        webhook_of(item)
    }

    /// The owed email went out on `day`: counted, no longer owed.
    pub async fn owner_email_sent(
        &self,
        ws: &WorkspaceId,
        webhook: &Webhook,
        day: &str,
    ) -> StoreResult<()> {
        let count = if webhook.owner_emails_day.as_deref() == Some(day) {
            "owner_emails_sent = owner_emails_sent + :one"
        } else {
            "owner_emails_sent = :one"
        };
        self.update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression(format!(
                "SET owner_emails_day = :day, {count} \
                 REMOVE owner_email_due, owner_email_lease, owner_email_failures"
            ))
            .expression_attribute_values(":day", s(day))
            .expression_attribute_values(":one", n(1))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .map_err(|e| super::StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    /// The owed email could not be sent: the debt stays, and so does the lease, so the
    /// next try waits for it to run out (one a minute at most, however busy the
    /// workspace). Returns how many tries have failed.
    pub async fn owner_email_failed(&self, ws: &WorkspaceId) -> StoreResult<u32> {
        let result = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression("ADD owner_email_failures :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let item = applied("UpdateItem", result)?.and_then(|out| out.attributes);
        Ok(item
            .and_then(|a| a.get("owner_email_failures")?.as_n().ok()?.parse().ok())
            .unwrap_or(0))
    }

    /// The owed email is dropped (the day's emails are used up, or it kept failing).
    pub async fn drop_owner_email(&self, ws: &WorkspaceId) -> StoreResult<()> {
        self.clear_owner_email(
            ws,
            "REMOVE owner_email_due, owner_email_lease, owner_email_failures",
        )
        .await
    }

    async fn clear_owner_email(&self, ws: &WorkspaceId, expression: &str) -> StoreResult<()> {
        let result = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        applied("UpdateItem", result)?;
        Ok(())
    }
}

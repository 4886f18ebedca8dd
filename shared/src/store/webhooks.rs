//! The webhook settings and health, with the atomic failure counter. They live on the
//! workspace item (`META`); a workspace without a registered webhook has no `secret`.

use super::{keys, n, s, Store, StoreError, StoreResult};
use crate::domain::{Aggregation, Timestamp, WebhookStatus, WorkspaceId};
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};

/// Settings and health as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRecord {
    /// Where deliveries go.
    pub url: String,
    /// On or off.
    pub enabled: bool,
    /// Granularity.
    pub aggregation: Aggregation,
    /// Signing secret.
    pub secret: String,
    /// Keep one conversation per chat: a resolved conversation does not restart `is_new_chat`.
    #[serde(default)]
    pub continuous_conversation: bool,
    /// Failed requests since the last success.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// When it was disabled automatically.
    #[serde(default)]
    pub disabled_at: Option<Timestamp>,
    /// Why.
    #[serde(default)]
    pub disabled_reason: Option<String>,
    /// The secret before the last rotation, still signing until it expires.
    #[serde(default)]
    pub previous_secret: Option<String>,
    /// When the previous secret stops signing (ms).
    #[serde(default)]
    pub previous_secret_expires_ms: Option<i64>,
    /// Raised by every save and enable, so what a container remembers under older
    /// settings (ingest's open windows) is not trusted after a change.
    #[serde(default)]
    pub settings_version: u64,
    /// The last save with immediate delivery (ms), which may have flushed pending
    /// windows early: later windows start no earlier, so none is collected twice.
    #[serde(default)]
    pub immediate_since_ms: Option<i64>,
}

impl WebhookRecord {
    /// When windows collected under these settings may start at the earliest.
    pub fn windows_start_no_earlier_than(&self) -> Option<Timestamp> {
        self.immediate_since_ms
            .and_then(Timestamp::from_unix_millis)
    }
}

/// After a rotation, deliveries carry the old signature too for this long.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3_600 * 1_000;

impl WebhookRecord {
    /// The secrets that sign a delivery at `now_ms`: the current one, and the previous one
    /// during the 24 hours after a rotation.
    pub fn signing_secrets(&self, now_ms: i64) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(expires)) =
            (&self.previous_secret, self.previous_secret_expires_ms)
        {
            if now_ms < expires {
                secrets.push(previous);
            }
        }
        secrets
    }

    /// The tenant-facing health.
    pub fn status(&self) -> WebhookStatus {
        WebhookStatus {
            consecutive_failures: self.consecutive_failures,
            disabled_at: self.disabled_at,
            disabled_reason: self.disabled_reason.clone(),
        }
    }
}

/// What a settings update asks for.
#[derive(Debug, Clone)]
pub struct WebhookUpdate {
    /// New URL.
    pub url: String,
    /// New on/off state.
    pub enabled: bool,
    /// New granularity.
    pub aggregation: Aggregation,
    /// Keep one continuous conversation per chat.
    pub continuous_conversation: bool,
    /// Used only when the webhook has no secret yet.
    pub new_secret: String,
    /// When the settings are saved.
    pub saved_at: Timestamp,
}

/// The condition "a webhook is registered" (the workspace item holds its secret).
const REGISTERED: &str = "attribute_exists(secret)";

const RESET_HEALTH: &str = "consecutive_failures = :zero REMOVE disabled_at, disabled_reason";

impl Store {
    /// The webhook settings (strongly consistent: the sender acts on them).
    pub async fn webhook(&self, ws: &WorkspaceId) -> StoreResult<Option<WebhookRecord>> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::workspace_pk(ws)))
            .key("sk", s(keys::META))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        webhook_of(out.item)
    }

    /// Writes the settings, keeping an existing secret. Turning the webhook on resets its health.
    pub async fn put_webhook(
        &self,
        ws: &WorkspaceId,
        update: &WebhookUpdate,
    ) -> StoreResult<WebhookRecord> {
        let health = if update.enabled {
            RESET_HEALTH
        } else {
            "consecutive_failures = if_not_exists(consecutive_failures, :zero)"
        };
        let immediate = if update.aggregation.is_immediate() {
            ", immediate_since_ms = :now_ms"
        } else {
            ""
        };
        let expr = format!(
            "SET #url = :url, enabled = :enabled, aggregation = :agg, continuous_conversation = :cc, \
             secret = if_not_exists(secret, :secret), updated_at = :now{immediate}, {health} \
             ADD settings_version :one"
        );
        let now = update.saved_at;
        let mut request = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression(expr)
            .expression_attribute_names("#url", "url")
            .expression_attribute_values(":url", s(&update.url))
            .expression_attribute_values(
                ":enabled",
                aws_sdk_dynamodb::types::AttributeValue::Bool(update.enabled),
            )
            .expression_attribute_values(
                ":agg",
                serde_dynamo::to_attribute_value(update.aggregation)?,
            )
            .expression_attribute_values(":secret", s(&update.new_secret))
            .expression_attribute_values(
                ":cc",
                AttributeValue::Bool(update.continuous_conversation),
            )
            .expression_attribute_values(":now", s(now.rfc3339()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            // The workspace item exists: settings never create a workspace.
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew);
        if !immediate.is_empty() {
            request = request.expression_attribute_values(":now_ms", n(now.millis()));
        }
        let result = request.send().await;
        updated_record(result)?
            .ok_or_else(|| StoreError::Corrupt(format!("workspace {ws} has no item")))
    }

    /// Turns an existing webhook back on and resets its failure count.
    pub async fn enable_webhook(&self, ws: &WorkspaceId) -> StoreResult<Option<WebhookRecord>> {
        let result = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression(format!(
                "SET enabled = :true, updated_at = :now, {RESET_HEALTH} ADD settings_version :one"
            ))
            .condition_expression(REGISTERED)
            .expression_attribute_values(
                ":true",
                aws_sdk_dynamodb::types::AttributeValue::Bool(true),
            )
            .expression_attribute_values(":now", s(Timestamp::now().rfc3339()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        updated_record(result)
    }

    /// Replaces the secret; the old one keeps signing for `ROTATION_OVERLAP_MS`.
    pub async fn rotate_secret(
        &self,
        ws: &WorkspaceId,
        new_secret: &str,
        now_ms: i64,
    ) -> StoreResult<Option<WebhookRecord>> {
        let result = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression(
                "SET previous_secret = secret, previous_secret_expires_ms = :expires, \
                 secret = :new, updated_at = :now",
            )
            .condition_expression(REGISTERED)
            .expression_attribute_values(":expires", n(now_ms + ROTATION_OVERLAP_MS))
            .expression_attribute_values(":new", s(new_secret))
            .expression_attribute_values(":now", s(Timestamp::now().rfc3339()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        updated_record(result)
    }

    /// Counts one failed request; returns the new consecutive count (atomic under concurrency).
    pub async fn add_failure(&self, ws: &WorkspaceId) -> StoreResult<u32> {
        let out = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression("ADD consecutive_failures :one")
            .condition_expression(REGISTERED)
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        out.attributes
            .and_then(|a| {
                a.get("consecutive_failures")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
            })
            .ok_or_else(|| StoreError::Corrupt("consecutive_failures not returned".into()))
    }

    /// A success: the count starts again from zero (no write when it already is zero).
    pub async fn reset_failures(&self, ws: &WorkspaceId) -> StoreResult<()> {
        let result = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression("SET consecutive_failures = :zero")
            .condition_expression("consecutive_failures > :zero")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        super::applied("UpdateItem", result)?;
        Ok(())
    }

    /// Disables an enabled webhook. True only for the one caller that actually switched
    /// it off, so the owner is emailed exactly once however many failures race here.
    pub async fn disable_webhook(
        &self,
        ws: &WorkspaceId,
        reason: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let result = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression("SET enabled = :false, disabled_at = :at, disabled_reason = :why")
            .condition_expression("enabled = :true")
            .expression_attribute_values(
                ":false",
                aws_sdk_dynamodb::types::AttributeValue::Bool(false),
            )
            .expression_attribute_values(
                ":true",
                aws_sdk_dynamodb::types::AttributeValue::Bool(true),
            )
            .expression_attribute_values(":at", serde_dynamo::to_attribute_value(at)?)
            .expression_attribute_values(":why", s(reason))
            .send()
            .await;
        Ok(super::applied("UpdateItem", result)?.is_some())
    }
}

/// The webhook settings of a workspace item, if one is registered.
pub(crate) fn webhook_of(item: Option<super::Item>) -> StoreResult<Option<WebhookRecord>> {
    match item {
        Some(item) if item.contains_key("secret") => Ok(Some(serde_dynamo::from_item(item)?)),
        _ => Ok(None),
    }
}

/// The webhook as a conditional UpdateItem left it (`ALL_NEW`); `None` when the condition
/// did not hold (no webhook registered).
fn updated_record<E, R>(
    result: Result<UpdateItemOutput, aws_sdk_dynamodb::error::SdkError<E, R>>,
) -> StoreResult<Option<WebhookRecord>>
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    webhook_of(super::applied("UpdateItem", result)?.and_then(|out| out.attributes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(previous: Option<(&str, i64)>) -> WebhookRecord {
        WebhookRecord {
            url: "https://x".into(),
            enabled: true,
            aggregation: Aggregation::None,
            secret: "whsec_new".into(),
            continuous_conversation: false,
            consecutive_failures: 0,
            disabled_at: None,
            disabled_reason: None,
            previous_secret: previous.map(|p| p.0.to_string()),
            previous_secret_expires_ms: previous.map(|p| p.1),
            settings_version: 1,
            immediate_since_ms: None,
        }
    }

    #[test]
    fn the_previous_secret_signs_until_it_expires() {
        assert_eq!(record(None).signing_secrets(0), ["whsec_new"]);
        let rotated = record(Some(("whsec_old", 1_000)));
        assert_eq!(rotated.signing_secrets(999), ["whsec_new", "whsec_old"]);
        assert_eq!(rotated.signing_secrets(1_000), ["whsec_new"]);
    }
}

//! A workspace's outbound webhook: where to deliver, how, with which secrets, and its
//! health, with the rules on them (who signs, when it is over the failure limit, where
//! aggregation windows may start).

use super::event_type::subscribes;
use super::{Aggregation, DeliveryFilter, EventType, Timestamp};
use serde::{Deserialize, Serialize};

/// Consecutive failures tolerated; the next one disables the webhook (seed: "more than 10").
pub const MAX_CONSECUTIVE_FAILURES: u32 = 10;

/// After a rotation, deliveries carry the old signature too for this long.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3_600 * 1_000;

/// The webhook: settings, secrets and health, as the workspace item keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
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
    /// The owner email a disable owes, with its reason, until it is sent (or capped).
    #[serde(default)]
    pub owner_email_due: Option<String>,
    /// The UTC day (`YYYY-MM-DD`) of the owner emails counted in `owner_emails_sent`.
    #[serde(default)]
    pub owner_emails_day: Option<String>,
    /// Owner emails sent that day.
    #[serde(default)]
    pub owner_emails_sent: u32,
    /// The latest release's nonce (set by enable and by a save with the webhook on).
    #[serde(default)]
    pub release_nonce: Option<u64>,
    /// When that release ended (ms); unset while it drains.
    #[serde(default)]
    pub release_ended_ms: Option<i64>,
    /// When that release started or last moved on (ms).
    #[serde(default)]
    pub release_progress_ms: Option<i64>,
    /// When the oldest switch-off whose release has not ended began (ms): set by a save
    /// or disable switching it off, removed when a release ends with the webhook on.
    #[serde(default)]
    pub off_since_ms: Option<i64>,
    /// What the latest release puts back was kept since then: `off_since_ms` when it
    /// started, or its start (ms). A sender's mark of a chat held from the queue counts
    /// for this release when made in a switch-off that began since then.
    #[serde(default)]
    pub release_off_since_ms: Option<i64>,
    /// Until when its receiver counts as slow (ms): the sender then holds the workspace
    /// to its share of invocations.
    #[serde(default)]
    pub slow_until_ms: Option<i64>,
    /// The event types it receives (empty: all; absent: the message types, as before
    /// subscriptions).
    #[serde(default)]
    pub event_types: Option<Vec<EventType>>,
    /// Which chats' events it receives (absent: every chat's).
    #[serde(default)]
    pub filter: Option<DeliveryFilter>,
    /// What the tenant calls it (endpoints listed side by side need telling apart).
    #[serde(default)]
    pub description: Option<String>,
    /// When the endpoint was deleted (ms): its queued deliveries are dropped while what it
    /// kept is deleted.
    #[serde(default)]
    pub deleted_ms: Option<i64>,
    /// Which create registered it (`domain::registrant`): absent when a save did.
    #[serde(default)]
    pub registered_by: Option<String>,
}

impl Webhook {
    /// True when deliveries of `event` go to this webhook.
    pub fn subscribes(&self, event: EventType) -> bool {
        subscribes(self.event_types.as_deref(), event)
    }

    /// Whether it receives an event of type `event` about this chat (its types and its
    /// filter; `direction` for messages).
    pub fn takes(
        &self,
        event: EventType,
        account: &super::Account,
        chat: &super::Chat,
        direction: Option<super::Direction>,
    ) -> bool {
        self.subscribes(event)
            && self
                .filter
                .as_ref()
                .is_none_or(|f| f.refuses(account, chat, direction).is_none())
    }

    /// The subscribable types it receives, listed.
    pub fn subscribed(&self) -> Vec<EventType> {
        EventType::SUBSCRIBABLE
            .into_iter()
            .filter(|t| self.subscribes(*t))
            .collect()
    }

    /// Whether its receiver counts as slow at `now`.
    pub fn is_slow(&self, now: Timestamp) -> bool {
        self.slow_until_ms.is_some_and(|until| until > now.millis())
    }
}

/// Owner emails a workspace gets at most per UTC day: a receiver that fails again right
/// after each enable cannot make Outflow mail its owner in a loop.
pub const OWNER_EMAILS_PER_DAY: u32 = 3;

/// Whether an owed owner email may go out on `day`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerEmail {
    /// None is owed.
    NotDue,
    /// Send it.
    Send,
    /// The day's emails are used up: it is dropped (the activity log says so).
    OverDailyCap,
}

/// What a tenant saves: the settings part of the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// New URL (already checked against the URL policy).
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
    /// The release a save with the webhook on starts (its nonce).
    pub release_nonce: u64,
    /// `Some(registrant)`: the save registers the webhook, and is written only if none is
    /// (a create of a workspace's first endpoint never replaces the one another request
    /// made), marked with who made it (`domain::registrant`).
    pub registers: Option<String>,
}

/// What a webhook receives: its event types (`None`: the message types, as before
/// subscriptions) and its filter (`None`: every chat).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    /// The event types.
    pub event_types: Option<Vec<EventType>>,
    /// The filter.
    pub filter: Option<DeliveryFilter>,
}

/// The webhook's health, as tenants see it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookStatus {
    /// Failed requests since the last success.
    pub consecutive_failures: u32,
    /// When it was disabled automatically, if it was.
    pub disabled_at: Option<Timestamp>,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
}

impl WebhookStatus {
    /// True once the failure count passes the limit.
    pub fn over_limit(failures: u32) -> bool {
        failures > MAX_CONSECUTIVE_FAILURES
    }
}

impl Webhook {
    /// When windows collected under these settings may start at the earliest.
    pub fn windows_start_no_earlier_than(&self) -> Option<Timestamp> {
        self.immediate_since_ms
            .and_then(Timestamp::from_unix_millis)
    }

    /// The secrets that sign a delivery at `now`: the current one, and the previous one
    /// during the 24 hours after a rotation.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(expires)) =
            (&self.previous_secret, self.previous_secret_expires_ms)
        {
            if now.millis() < expires {
                secrets.push(previous);
            }
        }
        secrets
    }

    /// When the previous secret stops signing, while it still does at `now`.
    pub fn previous_secret_expires_at(&self, now: Timestamp) -> Option<Timestamp> {
        self.previous_secret_expires_ms
            .filter(|expires| *expires > now.millis())
            .and_then(Timestamp::from_unix_millis)
    }

    /// Whether the owed owner email may go out on `day` (`YYYY-MM-DD`, UTC).
    pub fn owner_email(&self, day: &str) -> OwnerEmail {
        if self.owner_email_due.is_none() {
            OwnerEmail::NotDue
        } else if self.owner_emails_day.as_deref() == Some(day)
            && self.owner_emails_sent >= OWNER_EMAILS_PER_DAY
        {
            OwnerEmail::OverDailyCap
        } else {
            OwnerEmail::Send
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(previous: Option<(&str, i64)>) -> Webhook {
        Webhook {
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
            owner_email_due: None,
            owner_emails_day: None,
            owner_emails_sent: 0,
            release_nonce: None,
            release_ended_ms: None,
            release_progress_ms: None,
            off_since_ms: None,
            release_off_since_ms: None,
            slow_until_ms: None,
            event_types: None,
            filter: None,
            description: None,
            deleted_ms: None,
            registered_by: None,
        }
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms).unwrap()
    }

    #[test]
    fn the_eleventh_failure_is_over_the_limit() {
        assert!(!WebhookStatus::over_limit(10));
        assert!(WebhookStatus::over_limit(11));
    }

    #[test]
    fn the_previous_secret_signs_until_it_expires() {
        assert_eq!(webhook(None).signing_secrets(at(0)), ["whsec_new"]);
        let rotated = webhook(Some(("whsec_old", 1_000)));
        assert_eq!(rotated.signing_secrets(at(999)), ["whsec_new", "whsec_old"]);
        assert_eq!(rotated.signing_secrets(at(1_000)), ["whsec_new"]);
        assert_eq!(rotated.previous_secret_expires_at(at(999)), Some(at(1_000)));
        assert_eq!(rotated.previous_secret_expires_at(at(1_000)), None);
    }

    #[test]
    fn an_owed_email_goes_out_until_the_days_cap() {
        let mut w = webhook(None);
        assert_eq!(w.owner_email("2026-03-01"), OwnerEmail::NotDue);
        w.owner_email_due = Some("410".into());
        assert_eq!(w.owner_email("2026-03-01"), OwnerEmail::Send);
        w.owner_emails_day = Some("2026-03-01".into());
        w.owner_emails_sent = OWNER_EMAILS_PER_DAY - 1;
        assert_eq!(w.owner_email("2026-03-01"), OwnerEmail::Send);
        w.owner_emails_sent = OWNER_EMAILS_PER_DAY;
        assert_eq!(w.owner_email("2026-03-01"), OwnerEmail::OverDailyCap);
        assert_eq!(w.owner_email("2026-03-02"), OwnerEmail::Send, "a new day");
    }
}

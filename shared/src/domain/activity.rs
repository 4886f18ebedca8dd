//! The activity log: the 10 most recent actions on a webhook, shown with its settings.

use super::Timestamp;
use serde::{Deserialize, Serialize};

/// Entries shown with the settings.
pub const ACTIVITY_LIMIT: usize = 10;

/// What happened to a webhook (docs/architecture.md lists them for tenants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityAction {
    /// A delivery reached the receiver.
    Delivered,
    /// A delivery attempt failed (it is retried, or dead-lettered after its last attempt).
    DeliveryFailed,
    /// The webhook was disabled automatically (too many failures in a row, or 410 Gone).
    Disabled,
    /// The owner was emailed about the disable (or the email failed).
    OwnerNotified,
    /// The tenant saved the settings.
    SettingsUpdated,
    /// The tenant switched the webhook back on.
    Enabled,
    /// The tenant rotated the signing secret.
    SecretRotated,
    /// The tenant replayed dead letters and held deliveries.
    Replayed,
    /// The tenant asked to resend one logged request.
    ResendRequested,
    /// A chat window's bundle kept failing (or can never be sent) and was set aside;
    /// saving the settings or enabling the webhook tries it again.
    BundleSetAside,
}

impl ActivityAction {
    /// Every action.
    pub const ALL: [ActivityAction; 10] = [
        ActivityAction::Delivered,
        ActivityAction::DeliveryFailed,
        ActivityAction::Disabled,
        ActivityAction::OwnerNotified,
        ActivityAction::SettingsUpdated,
        ActivityAction::Enabled,
        ActivityAction::SecretRotated,
        ActivityAction::Replayed,
        ActivityAction::ResendRequested,
        ActivityAction::BundleSetAside,
    ];
}

/// One action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActivityEntry {
    /// When it happened.
    pub time: Timestamp,
    /// What happened.
    pub action: ActivityAction,
    /// A sentence for people.
    pub detail: String,
}

impl ActivityEntry {
    /// An entry for something that happened at `time`.
    pub fn new(time: Timestamp, action: ActivityAction, detail: impl Into<String>) -> Self {
        Self {
            time,
            action,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_serialize_as_the_documented_words() {
        let words: Vec<String> = ActivityAction::ALL
            .iter()
            .map(|a| {
                serde_json::to_value(a)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            words,
            [
                "delivered",
                "delivery_failed",
                "disabled",
                "owner_notified",
                "settings_updated",
                "enabled",
                "secret_rotated",
                "replayed",
                "resend_requested",
                "bundle_set_aside"
            ]
        );
    }
}

//! Deliveries kept in the table instead of the queue: held while the webhook is off
//! (released on enable), and dead letters that used up every attempt (replayable).

use super::{DeliveryEnvelope, Timestamp};

/// Why a delivery is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kept {
    /// The webhook was disabled or unset when it came to be sent.
    Held,
    /// Every attempt of the retry schedule failed.
    DeadLetter,
}

/// A delivery given up after its last attempt, with what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The delivery, exactly as it was queued.
    pub envelope: DeliveryEnvelope,
    /// Attempts made, all failed (0 for a delivery held back over its workspace's share
    /// of the sender for days, never tried).
    pub attempts: u32,
    /// The last failure.
    pub last_error: String,
    /// When it was given up.
    pub dead_at: Timestamp,
}

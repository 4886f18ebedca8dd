//! How a window too big to hold is cut into parts: fixed and saved before its first part
//! is queued, so a flush that a later run continues numbers and fills the rest alike,
//! whatever was edited, reassigned or sized differently in between.

use super::{Account, Chat};
use serde::{Deserialize, Serialize};

/// The parts of one streamed bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundlePlan {
    /// Messages in each part, in order.
    pub lengths: Vec<u32>,
    /// The account every part carries.
    pub account: Account,
    /// The chat every part carries.
    pub chat: Chat,
}

impl BundlePlan {
    /// How many parts.
    pub fn parts(&self) -> usize {
        self.lengths.len()
    }

    /// How many messages in all.
    pub fn messages(&self) -> usize {
        self.lengths.iter().map(|&n| n as usize).sum()
    }

    /// Messages in part `i` (0-based), `None` past the last.
    pub fn length(&self, i: usize) -> Option<usize> {
        self.lengths.get(i).map(|&n| n as usize)
    }
}

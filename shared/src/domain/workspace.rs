//! A tenant.

use super::{Timestamp, WorkspaceId};
use serde::{Deserialize, Serialize};

/// A tenant: its id, name and owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// Its id.
    pub workspace_id: WorkspaceId,
    /// Display name.
    pub name: String,
    /// Who is emailed when the webhook is disabled.
    pub owner_email: String,
    /// When it was created.
    pub created_at: Timestamp,
}

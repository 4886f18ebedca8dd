//! The daily budget of warnings and change notices per workspace, on the workspace item
//! (`notices_day`: the UTC day, `notices_sent`: how many that day): one conditional
//! update takes one, so racing api and sender invocations never exceed it.

use super::{applied, n, s, Store, StoreResult};
use crate::domain::WorkspaceId;

impl Store {
    /// Takes one of the workspace's `per_day` notices of `day` (`YYYY-MM-DD`); false when
    /// that day's are spent.
    pub async fn claim_notice(
        &self,
        ws: &WorkspaceId,
        day: &str,
        per_day: u32,
    ) -> StoreResult<bool> {
        // The same day: count on. Another (or no) day: start the day's count at one.
        let same_day = self
            .workspace_item_update(ws)
            .update_expression("ADD notices_sent :one")
            .condition_expression("notices_day = :day AND notices_sent < :cap")
            .expression_attribute_values(":day", s(day))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cap", n(per_day))
            .send()
            .await;
        if applied("UpdateItem", same_day)?.is_some() {
            return Ok(true);
        }
        let new_day = self
            .workspace_item_update(ws)
            .update_expression("SET notices_day = :day, notices_sent = :one")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(notices_day) OR notices_day <> :day)",
            )
            .expression_attribute_values(":day", s(day))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        Ok(applied("UpdateItem", new_day)?.is_some())
    }
}

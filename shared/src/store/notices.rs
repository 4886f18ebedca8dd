//! Daily budgets of owner emails per workspace, on the workspace item: one per kind
//! (`<kind>_day`: the UTC day, `<kind>_sent`: how many that day), each taken with a
//! conditional update, so racing api and sender invocations never exceed it.

use super::{applied, n, s, Store, StoreResult};
use crate::domain::WorkspaceId;

/// Which daily budget an email draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DailyBudget {
    /// Change notices (URL, secret, keys).
    Notices,
    /// Warnings that a webhook keeps failing.
    Warnings,
}

impl DailyBudget {
    fn attributes(self) -> (&'static str, &'static str) {
        match self {
            DailyBudget::Notices => ("notices_day", "notices_sent"),
            DailyBudget::Warnings => ("warnings_day", "warnings_sent"),
        }
    }
}

impl Store {
    /// Takes one of the workspace's (an endpoint's: its tenant's) `per_day` emails of `budget` on `day` (`YYYY-MM-DD`):
    /// how many of that day's it has taken with this one, or `None` when they are spent.
    pub async fn claim_daily(
        &self,
        ws: &WorkspaceId,
        budget: DailyBudget,
        day: &str,
        per_day: u32,
    ) -> StoreResult<Option<u32>> {
        // Counted per workspace, whichever of its endpoints the email is about.
        let ws = &ws.tenant();
        // The same day: count on. A new day: start its count at one (a clock behind, with
        // an older day, never starts the count again). Two first claims of a day race on
        // the second step; the loser counts on in the first.
        for _ in 0..2 {
            if let Some(sent) = self.count_on(ws, budget, day, per_day).await? {
                return Ok(Some(sent));
            }
            if self.start_day(ws, budget, day).await? {
                return Ok(Some(1));
            }
        }
        Ok(None)
    }

    async fn count_on(
        &self,
        ws: &WorkspaceId,
        budget: DailyBudget,
        day: &str,
        per_day: u32,
    ) -> StoreResult<Option<u32>> {
        let (day_name, sent_name) = budget.attributes();
        let result = self
            .workspace_item_update(ws)
            .update_expression("ADD #sent :one")
            .condition_expression("#day = :day AND #sent < :cap")
            .expression_attribute_names("#day", day_name)
            .expression_attribute_names("#sent", sent_name)
            .expression_attribute_values(":day", s(day))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cap", n(per_day))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        Ok(applied("UpdateItem", result)?.map(|out| {
            out.attributes
                .as_ref()
                .and_then(|a| super::number_attribute(a, sent_name))
                .unwrap_or(per_day)
        }))
    }

    async fn start_day(
        &self,
        ws: &WorkspaceId,
        budget: DailyBudget,
        day: &str,
    ) -> StoreResult<bool> {
        let (day_name, sent_name) = budget.attributes();
        let result = self
            .workspace_item_update(ws)
            .update_expression("SET #day = :day, #sent = :one")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(#day) OR #day < :day)",
            )
            .expression_attribute_names("#day", day_name)
            .expression_attribute_names("#sent", sent_name)
            .expression_attribute_values(":day", s(day))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        Ok(applied("UpdateItem", result)?.is_some())
    }
}

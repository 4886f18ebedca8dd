//! A workspace's delivery counts per hour, for the portal's chart: one item per hour
//! (`H#<hour start ms>`) on the workspace's own counter partition (`WS#<id>#HOURS`), added
//! to once per sender batch, gone by TTL after two days.

use super::{n, number_attribute, s, Store, StoreError, StoreResult};
use crate::domain::{HourCount, Timestamp, WorkspaceId};

/// An hour in milliseconds.
const HOUR_MS: i64 = 3_600_000;

fn counter_pk(ws: &WorkspaceId) -> String {
    format!("{}#HOURS", super::keys::workspace_pk(ws))
}

fn hour_sk(hour_ms: i64) -> String {
    format!("H#{hour_ms:013}")
}

/// The start of the hour `at` falls in (ms).
pub fn hour_of(at: Timestamp) -> i64 {
    at.millis().div_euclid(HOUR_MS) * HOUR_MS
}

impl Store {
    /// Adds a batch's requests to the hour of `at`: one write.
    pub async fn count_hourly(
        &self,
        ws: &WorkspaceId,
        at: Timestamp,
        succeeded: u32,
        failed: u32,
    ) -> StoreResult<()> {
        if succeeded + failed == 0 {
            return Ok(());
        }
        self.update(s(counter_pk(ws)), s(hour_sk(hour_of(at))))
            .update_expression("ADD succeeded :ok, failed :failed SET expires_at = :ttl")
            .expression_attribute_values(":ok", n(succeeded))
            .expression_attribute_values(":failed", n(failed))
            .expression_attribute_values(":ttl", n(self.expires_in_days(2)))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    /// The `hours` hours up to the one `now` falls in, oldest first, each with its counts
    /// (zero where nothing was sent): one Query.
    pub async fn hourly_counts(
        &self,
        ws: &WorkspaceId,
        now: Timestamp,
        hours: u32,
    ) -> StoreResult<Vec<HourCount>> {
        let last = hour_of(now);
        let first = last - i64::from(hours.saturating_sub(1)) * HOUR_MS;
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(counter_pk(ws)))
            .expression_attribute_values(":from", s(hour_sk(first)))
            .expression_attribute_values(":to", s(hour_sk(last)))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        let counted: std::collections::HashMap<String, (u32, u32)> = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| {
                let sk = item.get("sk")?.as_s().ok()?.clone();
                let count = |name| number_attribute(item, name).unwrap_or(0);
                Some((sk, (count("succeeded"), count("failed"))))
            })
            .collect();
        Ok((0..i64::from(hours))
            .filter_map(|i| {
                let hour_ms = first + i * HOUR_MS;
                let (succeeded, failed) =
                    counted.get(&hour_sk(hour_ms)).copied().unwrap_or_default();
                Some(HourCount {
                    hour: Timestamp::from_unix_millis(hour_ms)?,
                    succeeded,
                    failed,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_counts_in_its_hour() {
        let at = Timestamp::parse("2026-12-02T08:59:59.999Z").unwrap();
        assert_eq!(
            Timestamp::from_unix_millis(hour_of(at)).unwrap().rfc3339(),
            Timestamp::parse("2026-12-02T08:00:00Z").unwrap().rfc3339()
        );
        assert_eq!(hour_sk(3_600_000), "H#0000003600000");
    }
}

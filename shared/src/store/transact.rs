//! Many conditional updates in few requests: TransactWriteItems of up to 100. A cancelled
//! transaction writes nothing and names the items that stopped it, so those are set aside
//! and the rest sent again.

use super::conditional::{Applied, ConditionalUpdate};
use super::{s, Store, StoreError, StoreResult};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

/// DynamoDB's limit of items per transaction.
pub const TRANSACT_CHUNK: usize = 100;

impl Store {
    fn transact_item(&self, u: &ConditionalUpdate) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&u.key.0))
            .key("sk", s(&u.key.1))
            .update_expression(&u.update)
            .condition_expression(&u.condition)
            .set_expression_attribute_values(Some(u.values.clone()))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Applies the updates, up to 100 per TransactWriteItems; says for each whether it was
    /// written. Each update must name a different item.
    pub async fn transact_updates(
        &self,
        updates: &[ConditionalUpdate],
    ) -> StoreResult<Vec<Applied>> {
        let mut outcome = vec![Applied::Yes; updates.len()];
        for (chunk, first) in updates
            .chunks(TRANSACT_CHUNK)
            .zip((0..).step_by(TRANSACT_CHUNK))
        {
            let mut pending: Vec<usize> = (first..first + chunk.len()).collect();
            while !pending.is_empty() {
                let items = pending
                    .iter()
                    .map(|&i| self.transact_item(&updates[i]))
                    .collect::<StoreResult<Vec<_>>>()?;
                let result = self
                    .db
                    .transact_write_items()
                    .set_transact_items(Some(items))
                    .send()
                    .await;
                let err = match result {
                    Ok(_) => break,
                    Err(err) => err,
                };
                let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                    err.as_service_error()
                else {
                    return Err(StoreError::dynamo("TransactWriteItems", err));
                };
                let reasons = cancelled.cancellation_reasons();
                if reasons.len() != pending.len() {
                    return Err(StoreError::Dynamo {
                        op: "TransactWriteItems",
                        detail: format!(
                            "cancelled with {} reasons for {} items",
                            reasons.len(),
                            pending.len()
                        ),
                    });
                }
                let mut rest = Vec::with_capacity(pending.len());
                for (&i, reason) in pending.iter().zip(reasons) {
                    match reason.code() {
                        None | Some("None") => rest.push(i),
                        Some("ConditionalCheckFailed") => outcome[i] = Applied::ConditionFailed,
                        Some(code) => outcome[i] = Applied::Other(code.to_string()),
                    }
                }
                if rest.len() == pending.len() {
                    // Cancelled without naming an item: nothing to set aside, so no progress.
                    return Err(StoreError::dynamo("TransactWriteItems", err));
                }
                pending = rest;
            }
        }
        Ok(outcome)
    }
}

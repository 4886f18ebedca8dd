//! BatchWriteItem in chunks of 25, retrying what DynamoDB leaves unprocessed.

use super::{Item, Store, StoreError, StoreResult};
use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};
use std::time::Duration;

const CHUNK: usize = 25;
const MAX_ROUNDS: u32 = 8;

impl Store {
    /// Puts every item, 25 per request.
    pub async fn batch_put(&self, items: Vec<Item>) -> StoreResult<()> {
        let requests = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder().set_item(Some(item)).build();
                put.map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(requests).await
    }

    /// Deletes every key, 25 per request.
    pub async fn batch_delete(&self, keys: Vec<Item>) -> StoreResult<()> {
        let requests = keys
            .into_iter()
            .map(|key| {
                let del = DeleteRequest::builder().set_key(Some(key)).build();
                del.map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.batch_write(requests).await
    }

    async fn batch_write(&self, requests: Vec<WriteRequest>) -> StoreResult<()> {
        for chunk in requests.chunks(CHUNK) {
            let mut pending = chunk.to_vec();
            let mut round = 0;
            while !pending.is_empty() {
                if round == MAX_ROUNDS {
                    return Err(StoreError::Dynamo {
                        op: "BatchWriteItem",
                        detail: format!("{} items still unprocessed after retries", pending.len()),
                    });
                }
                if round > 0 {
                    tokio::time::sleep(Duration::from_millis(50 << round)).await;
                }
                let out = self
                    .db
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| StoreError::dynamo("BatchWriteItem", e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
                round += 1;
            }
        }
        Ok(())
    }
}

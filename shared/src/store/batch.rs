//! BatchWriteItem in chunks of 25 and BatchGetItem in chunks of 100, retrying what
//! DynamoDB leaves unprocessed.

use super::{s, Item, Store, StoreError, StoreResult};
use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const CHUNK: usize = 25;
const GET_CHUNK: usize = 100;
const MAX_ROUNDS: u32 = 8;

/// A table key: partition and sort key.
pub(crate) type Key = (String, String);

/// A batch write that stopped: how many of its items may be left unwritten (those of the
/// call that failed and of every chunk after it), and why.
#[derive(Debug, thiserror::Error)]
#[error("{error} ({left} item(s) may be unwritten)")]
pub struct Unwritten {
    /// Items not known to be written.
    pub left: usize,
    /// Why the write stopped (in the message, so a log line shows it).
    pub error: StoreError,
}

impl From<Unwritten> for StoreError {
    fn from(u: Unwritten) -> Self {
        u.error
    }
}

/// The key attributes of one item.
fn key_item((pk, sk): &Key) -> Item {
    Item::from([("pk".into(), s(pk)), ("sk".into(), s(sk))])
}

fn backoff(round: u32) -> Duration {
    Duration::from_millis(50 << round)
}

/// The table key of an item.
pub(super) fn key_of(item: &Item) -> Option<Key> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    Some((text("pk")?, text("sk")?))
}

impl Store {
    /// Which of `keys` exist, 100 per BatchGetItem (only the keys are read back).
    pub async fn existing(&self, keys: &[Key]) -> StoreResult<HashSet<Key>> {
        let found = self.get_items(keys, Some("pk, sk"), false).await?;
        Ok(found.into_keys().collect())
    }

    /// The items at `keys` that exist, 100 per BatchGetItem; `projection` limits the
    /// attributes read, `consistent` asks for strongly consistent reads.
    pub async fn get_items(
        &self,
        keys: &[Key],
        projection: Option<&str>,
        consistent: bool,
    ) -> StoreResult<HashMap<Key, Item>> {
        let unique = each_once(keys);
        let mut found = HashMap::new();
        for chunk in unique.chunks(GET_CHUNK) {
            let wanted = chunk.iter().map(|k| key_item(k)).collect();
            let mut pending = KeysAndAttributes::builder()
                .set_keys(Some(wanted))
                .set_projection_expression(projection.map(str::to_string))
                .consistent_read(consistent)
                .build()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            for round in 0.. {
                if round == MAX_ROUNDS {
                    return Err(StoreError::Dynamo {
                        op: "BatchGetItem",
                        detail: "keys still unprocessed after retries".into(),
                    });
                }
                if round > 0 {
                    tokio::time::sleep(backoff(round)).await;
                }
                let out = self
                    .db
                    .batch_get_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| StoreError::dynamo("BatchGetItem", e))?;
                let items = out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default();
                for item in items {
                    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                    if let (Some(pk), Some(sk)) = (text("pk"), text("sk")) {
                        found.insert((pk, sk), item);
                    }
                }
                match out.unprocessed_keys.and_then(|mut m| m.remove(&self.table)) {
                    Some(rest) if !rest.keys.is_empty() => pending = rest,
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    /// Puts every item, 25 per request; of items with the same key, the last (DynamoDB
    /// refuses a whole request that names a key twice).
    pub async fn batch_put(&self, items: Vec<Item>) -> StoreResult<()> {
        let requests = last_of_each_key(items)
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder().set_item(Some(item)).build();
                put.map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(self.batch_write(requests).await?)
    }

    /// Deletes every key (once: DynamoDB refuses a whole request that names a key twice),
    /// 25 per request; when DynamoDB stops it, how many may be left.
    pub async fn batch_delete(&self, keys: &[Key]) -> Result<(), Unwritten> {
        let requests = each_once(keys)
            .into_iter()
            .map(|key| {
                let del = DeleteRequest::builder()
                    .set_key(Some(key_item(key)))
                    .build();
                del.map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect::<StoreResult<Vec<_>>>()
            .map_err(|error| Unwritten {
                left: keys.len(),
                error,
            })?;
        self.batch_write(requests).await
    }

    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), Unwritten> {
        let total = requests.len();
        for (i, chunk) in requests.chunks(CHUNK).enumerate() {
            let later = total.saturating_sub((i + 1) * CHUNK);
            let mut pending = chunk.to_vec();
            let mut round = 0;
            while !pending.is_empty() {
                let left = pending.len() + later;
                if round == MAX_ROUNDS {
                    let detail = format!("{} items still unprocessed after retries", pending.len());
                    let error = StoreError::Dynamo {
                        op: "BatchWriteItem",
                        detail,
                    };
                    return Err(Unwritten { left, error });
                }
                if round > 0 {
                    tokio::time::sleep(backoff(round)).await;
                }
                let out = self
                    .db
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| Unwritten {
                        left,
                        error: StoreError::dynamo("BatchWriteItem", e),
                    })?;
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

/// The keys in their order, each once (DynamoDB refuses a batch naming a key twice).
fn each_once(keys: &[Key]) -> Vec<&Key> {
    let mut seen = HashSet::new();
    keys.iter().filter(|k| seen.insert(*k)).collect()
}

/// The items in their order, each key once: the last item written with it.
fn last_of_each_key(items: Vec<Item>) -> Vec<Item> {
    let key = |item: &Item| {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        (text("pk"), text("sk"))
    };
    let last: HashMap<_, usize> = items
        .iter()
        .enumerate()
        .map(|(i, item)| (key(item), i))
        .collect();
    items
        .into_iter()
        .enumerate()
        .filter(|(i, item)| last.get(&key(item)) == Some(i))
        .map(|(_, item)| item)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(sk: &str, v: &str) -> Item {
        Item::from([
            ("pk".to_string(), s("WS#a")),
            ("sk".to_string(), s(sk)),
            ("v".to_string(), s(v)),
        ])
    }

    #[test]
    fn a_key_written_twice_goes_once_as_its_last_item() {
        let items = vec![item("x", "1"), item("y", "1"), item("x", "2")];
        let kept: Vec<(String, String)> = last_of_each_key(items)
            .iter()
            .map(|i| {
                (
                    i["sk"].as_s().unwrap().clone(),
                    i["v"].as_s().unwrap().clone(),
                )
            })
            .collect();
        let expected = [("y", "1"), ("x", "2")].map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(kept, expected);
    }
}

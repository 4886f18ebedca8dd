//! A slow workspace's sender slots: one item (`SENDING`) on its home partition whose
//! `slots` map holds, per taken slot, a token that says until when (ms × 1,000 plus a
//! random part, so a holder gives back only its own). An invocation killed before it gives
//! its slot back holds it until then.

use super::{applied, keys, n, s, Store, StoreError, StoreResult};
use crate::domain::WorkspaceId;
use aws_sdk_dynamodb::types::AttributeValue;
use rand::seq::SliceRandom;
use std::collections::HashMap;
use std::time::Duration;

/// Sort key of a workspace's sender slots.
const SENDING: &str = "SENDING";

/// A slot taken by this invocation, to give back when it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingSlot {
    workspace: WorkspaceId,
    slot: String,
    token: i64,
}

impl Store {
    /// Takes one of `slots` sender slots of `ws` for `lease`, or `None` when every one is
    /// held. Each try is one consistent read and one conditional write on a free slot; a
    /// try that loses a race reads again (at most three tries).
    pub async fn take_sending_slot(
        &self,
        ws: &WorkspaceId,
        slots: u32,
        lease: Duration,
    ) -> StoreResult<Option<SendingSlot>> {
        for _ in 0..3 {
            let now_ms = self.clock.now().millis();
            let held = self.sending_slots(ws).await?;
            let free: Vec<(String, Option<AttributeValue>)> = (0..slots.max(1))
                .map(|i| i.to_string())
                .filter_map(|slot| match held.as_ref().and_then(|h| h.get(&slot)) {
                    None => Some((slot, None)),
                    Some(token) if until_ms(token) <= now_ms => Some((slot, Some(token.clone()))),
                    Some(_) => None,
                })
                .collect();
            // Invocations racing for slots rarely pick the same one.
            let Some((slot, seen)) = free.choose(&mut rand::thread_rng()).cloned() else {
                return Ok(None);
            };
            let token = (now_ms + lease.as_millis() as i64) * 1_000
                + i64::from(rand::random::<u16>() % 1_000);
            let taken = SendingSlot {
                workspace: ws.clone(),
                slot,
                token,
            };
            if self.try_slot(&taken, held.is_some(), seen).await? {
                return Ok(Some(taken));
            }
        }
        Ok(None)
    }

    /// Gives a slot back (unless its lease ran out and another invocation took it).
    pub async fn give_back_slot(&self, taken: &SendingSlot) -> StoreResult<()> {
        let result = self
            .update(s(keys::workspace_pk(&taken.workspace)), s(SENDING))
            .update_expression("REMOVE slots.#slot")
            .condition_expression("slots.#slot = :token")
            .expression_attribute_names("#slot", &taken.slot)
            .expression_attribute_values(":token", n(taken.token))
            .send()
            .await;
        applied("UpdateItem", result)?;
        Ok(())
    }

    /// The slots map, slot → token; `None` when the item has none yet.
    async fn sending_slots(
        &self,
        ws: &WorkspaceId,
    ) -> StoreResult<Option<HashMap<String, AttributeValue>>> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::workspace_pk(ws)))
            .key("sk", s(SENDING))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        match out.item.and_then(|mut item| item.remove("slots")) {
            None => Ok(None),
            Some(AttributeValue::M(slots)) => Ok(Some(slots)),
            Some(_) => Err(StoreError::Corrupt("SENDING slots is not a map".into())),
        }
    }

    /// Takes `taken`'s slot if it is still as read (`seen`: the lapsed token, if any).
    async fn try_slot(
        &self,
        taken: &SendingSlot,
        item_exists: bool,
        seen: Option<AttributeValue>,
    ) -> StoreResult<bool> {
        let ttl = n(self.expires_in_days(1));
        let update = self.update(s(keys::workspace_pk(&taken.workspace)), s(SENDING));
        let update = if !item_exists {
            let slots = HashMap::from([(taken.slot.clone(), n(taken.token))]);
            update
                .update_expression("SET slots = :slots, expires_at = :ttl")
                .condition_expression("attribute_not_exists(slots)")
                .expression_attribute_values(":slots", AttributeValue::M(slots))
        } else {
            let update = update
                .update_expression("SET slots.#slot = :token, expires_at = :ttl")
                .expression_attribute_names("#slot", &taken.slot)
                .expression_attribute_values(":token", n(taken.token));
            match seen {
                None => update.condition_expression(
                    "attribute_exists(slots) AND attribute_not_exists(slots.#slot)",
                ),
                Some(lapsed) => update
                    .condition_expression("slots.#slot = :seen")
                    .expression_attribute_values(":seen", lapsed),
            }
        };
        let result = update.expression_attribute_values(":ttl", ttl).send().await;
        Ok(applied("UpdateItem", result)?.is_some())
    }
}

/// Until when a token holds its slot (ms); an unreadable one has lapsed, so a damaged slot
/// cannot block a workspace for good.
fn until_ms(token: &AttributeValue) -> i64 {
    let token = token.as_n().ok().and_then(|t| t.parse::<i64>().ok());
    token.map_or(0, |t| t / 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_holds_its_slot_until_its_millisecond() {
        let n = |t: &str| AttributeValue::N(t.into());
        assert_eq!(until_ms(&n("1700000000123456")), 1_700_000_000_123);
        assert_eq!(until_ms(&n("x")), 0);
        assert_eq!(until_ms(&AttributeValue::S("1700000000123456".into())), 0);
    }
}

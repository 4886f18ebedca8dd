//! Deliveries of messages edited while they waited: a message not yet delivered takes its
//! new text (the spec), whether or not the webhook takes `message:updated`. Read when
//! kept deliveries go back on the queue and when a delivery comes back for a retry.

use crate::domain::{DeliveryEnvelope, MessageId, WorkspaceId};
use crate::store::{Read, Store, StoreResult};

/// `envelopes` with the stored edits of their messages (one BatchGetItem per 100
/// messages; none when no envelope is a message's). Their messages are stored under the
/// workspace, also for another endpoint's deliveries.
pub async fn with_edits(
    store: &Store,
    ws: &WorkspaceId,
    envelopes: Vec<DeliveryEnvelope>,
    read: Read,
) -> StoreResult<Vec<DeliveryEnvelope>> {
    // Each body read once for its message id; again only for a message edited.
    let ids: Vec<Option<MessageId>> = envelopes.iter().map(DeliveryEnvelope::message_id).collect();
    let wanted: Vec<MessageId> = ids.iter().flatten().cloned().collect();
    if wanted.is_empty() {
        return Ok(envelopes);
    }
    let texts = store.edited_texts(&ws.tenant(), &wanted, read).await?;
    let edited = |e: &DeliveryEnvelope, id: Option<MessageId>| e.with_text(texts.get(&id?)?);
    Ok(envelopes
        .into_iter()
        .zip(ids)
        .map(|(e, id)| edited(&e, id).unwrap_or(e))
        .collect())
}

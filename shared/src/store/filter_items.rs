//! A large webhook filter kept in an item of its own (`FILTER#<hash>`), the workspace item
//! holding only its reference (`filter_ref`). Every ingest request's admission updates the
//! workspace item, and DynamoDB bills an update by the whole item (a write unit per started
//! KB): a filter of 100 chats (about 2.6 KB) made each request cost three units. A read unit
//! costs a fifth of a write unit and covers 4 KB, so ingest reads the filter apart, and only
//! for a webhook that has one this large; a small filter stays on the workspace item.
//!
//! No transaction touches the workspace item (one would make the admission updates that
//! meet it fail). A save writes the filter's item first, then the reference, then drops
//! the items not named and not written within the last 15 minutes: an item a concurrent
//! save has just written (again) and is about to name is never dropped. A request that
//! read a reference just before a save dropped its item reads the workspace item again
//! and takes the filter it names now. A filter goes apart only on a workspace item this
//! version's ingest has marked, so an older ingest (mid-deploy) never meets the reference.

use super::{keys, n, number_attribute, s, Item, Store, StoreError, StoreResult};
use crate::domain::{ChatId, DeliveryFilter, Timestamp, WorkspaceId};
use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};

/// The workspace item's attribute naming the item its filter is kept in.
pub(super) const FILTER_REF: &str = "filter_ref";
/// The workspace item's mark (ms) of when a version reading `filter_ref` first admitted
/// one of its ingest requests (the rate window's opening sets it), 0 when that version made
/// the workspace. Until it is `GRACE_MS` old a large filter stays on the workspace item:
/// an ingest from before reads only that, and may still serve requests meanwhile (during a
/// deploy the api is updated first, and Lambda serves both codes for a while after an
/// update). A later save keeps it apart.
pub(super) const READS_FILTER_REF: &str = "reads_filter_ref";
/// Sort-key prefix of filter items.
const FILTER_PREFIX: &str = "FILTER#";
/// When a filter item was last written (ms).
const WRITTEN_MS: &str = "written_ms";
/// How long a filter item written by a save is kept even when not (yet) named: longer than
/// any save takes between writing it and naming it (an invocation's 15 minutes at most).
/// Also how old the mark must be before filters go apart: longer than an older ingest's
/// invocation that began before the mark.
const GRACE_MS: i64 = 15 * 60 * 1_000;
/// The largest filter (as JSON) kept on the workspace item: about a tenth of the write
/// unit that every ingest request pays for it.
const INLINE_FILTER_BYTES: usize = 256;

/// Which of the three a save writes (its update expression).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FilterKind {
    /// No filter: both attributes removed.
    None,
    /// `filter` on the workspace item.
    Inline,
    /// `filter_ref` naming its own item.
    Apart,
}

/// Where a settings save keeps the webhook's filter.
pub(super) enum FilterPlace {
    /// No filter.
    None,
    /// On the workspace item (`filter`).
    Inline(AttributeValue),
    /// In its own item, named by `reference`.
    Apart {
        /// The hash of its content.
        reference: String,
        /// The filter.
        value: AttributeValue,
        /// What stays in `filter` on the workspace item (`placeholder`).
        placeholder: AttributeValue,
    },
}

impl FilterPlace {
    /// Where `filter` goes for `scope`: apart only when large and `keeps_filters_apart`.
    pub(super) fn of(scope: &WorkspaceId, filter: Option<&DeliveryFilter>) -> StoreResult<Self> {
        let Some(filter) = filter else {
            return Ok(FilterPlace::None);
        };
        let value = serde_dynamo::to_attribute_value(filter)?;
        let json = serde_json::to_vec(filter).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if json.len() <= INLINE_FILTER_BYTES || !keeps_filters_apart(scope) {
            return Ok(FilterPlace::Inline(value));
        }
        let reference = hex::encode(&Sha256::digest(&json)[..12]);
        let placeholder = placeholder(&reference)?;
        Ok(FilterPlace::Apart {
            reference,
            value,
            placeholder,
        })
    }

    /// The same filter on the workspace item.
    fn kept_inline(self) -> Self {
        match self {
            FilterPlace::Apart { value, .. } => FilterPlace::Inline(value),
            other => other,
        }
    }

    /// Which it is.
    pub(super) fn kind(&self) -> FilterKind {
        match self {
            FilterPlace::None => FilterKind::None,
            FilterPlace::Inline(_) => FilterKind::Inline,
            FilterPlace::Apart { .. } => FilterKind::Apart,
        }
    }
}

/// Whether `scope` may keep a filter apart: only a workspace, whose item admission
/// updates (an additional endpoint's item is only read, so its filter stays on it).
pub(super) fn keeps_filters_apart(scope: &WorkspaceId) -> bool {
    !scope.is_endpoint_scope()
}

/// The key of the item keeping `ws`'s filter named `reference`.
fn filter_key(ws: &WorkspaceId, reference: &str) -> (String, String) {
    (
        keys::workspace_pk(ws),
        format!("{FILTER_PREFIX}{reference}"),
    )
}

/// What a save keeping the filter apart leaves in the workspace item's `filter`: a filter
/// that takes no chat. A version before this one reads it as the filter, so it delivers
/// nothing past what the tenant filtered rather than everything (during a deploy, or after
/// a rollback: docs/deploy.md). It also marks the reference as current: a save by such a
/// version replaces or removes `filter` and leaves `filter_ref`, which is then ignored.
fn placeholder(reference: &str) -> StoreResult<AttributeValue> {
    Ok(serde_dynamo::to_attribute_value(placeholder_filter(
        reference,
    ))?)
}

/// The placeholder as a filter (81 bytes of chat id: within an id's 128, so an older
/// version's partial change, which saves it back, passes its checks).
fn placeholder_filter(reference: &str) -> DeliveryFilter {
    let chat = format!("(filter kept apart in FILTER#{reference}: update Outflow to read it)");
    DeliveryFilter {
        chat_ids: vec![ChatId::new_unchecked(chat)],
        ..DeliveryFilter::default()
    }
}

/// The reference a workspace item holds, when its `filter` is the placeholder a save
/// left with it (not a filter an older version saved since). Compared as filters, not as
/// stored maps, so a change in how a filter is stored cannot unmatch it.
pub(super) fn reference_in(item: &Item) -> Option<String> {
    let reference = item.get(FILTER_REF)?.as_s().ok()?;
    let stored = filter_in(item).ok()??;
    (stored == placeholder_filter(reference)).then(|| reference.clone())
}

/// The `filter` an item (the workspace item, or a filter item) holds, if any.
fn filter_in(item: &Item) -> StoreResult<Option<DeliveryFilter>> {
    match item.get("filter") {
        Some(value) => Ok(Some(serde_dynamo::from_attribute_value(value.clone())?)),
        None => Ok(None),
    }
}

impl Store {
    /// Where a save at `now` keeps `filter` for `scope`: as `FilterPlace::of`, but on the
    /// workspace item until an ingest reading `filter_ref` marked it over `GRACE_MS` ago.
    pub(super) async fn filter_place(
        &self,
        scope: &WorkspaceId,
        filter: Option<&DeliveryFilter>,
        now: Timestamp,
    ) -> StoreResult<FilterPlace> {
        let place = FilterPlace::of(scope, filter)?;
        if place.kind() != FilterKind::Apart {
            return Ok(place);
        }
        let out = self
            .workspace_item_read(scope)
            .projection_expression(READS_FILTER_REF)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        let marked = out
            .item
            .as_ref()
            .and_then(|i| number_attribute::<i64>(i, READS_FILTER_REF));
        let settled = marked.is_some_and(|since| since <= now.millis() - GRACE_MS);
        Ok(if settled { place } else { place.kept_inline() })
    }

    /// The workspace item's `filter` and `filter_ref` alone (strongly consistent; empty
    /// when there is no item).
    pub(super) async fn filter_as_named(&self, ws: &WorkspaceId) -> StoreResult<Item> {
        let out = self
            .workspace_item_read(ws)
            .projection_expression("#filter, filter_ref")
            .expression_attribute_names("#filter", "filter")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        Ok(out.item.unwrap_or_default())
    }

    /// The filter kept under `reference`; when a save has replaced it since, the one the
    /// workspace item holds now.
    pub(super) async fn filter_apart(
        &self,
        ws: &WorkspaceId,
        reference: &str,
    ) -> StoreResult<Option<DeliveryFilter>> {
        if let Some(filter) = self.filter_item(ws, reference).await? {
            return Ok(Some(filter));
        }
        let now = self.filter_as_named(ws).await?;
        match reference_in(&now) {
            Some(current) => match self.filter_item(ws, &current).await? {
                Some(filter) => Ok(Some(filter)),
                None => Err(StoreError::Corrupt(format!(
                    "workspace {ws}'s filter {current} has no item"
                ))),
            },
            None => filter_in(&now),
        }
    }

    /// The filter item named `reference` (strongly consistent), if it exists.
    pub(super) async fn filter_item(
        &self,
        ws: &WorkspaceId,
        reference: &str,
    ) -> StoreResult<Option<DeliveryFilter>> {
        let out = self
            .consistent_get(filter_key(ws, reference))
            .projection_expression("#filter")
            .expression_attribute_names("#filter", "filter")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item.as_ref().map_or(Ok(None), filter_in)
    }

    /// Writes a filter kept apart, before the workspace item names it (a save that stops in
    /// between leaves an item no one reads, dropped by a later save).
    pub(super) async fn put_filter(
        &self,
        ws: &WorkspaceId,
        (reference, value): (&str, AttributeValue),
        now: Timestamp,
    ) -> StoreResult<()> {
        let (pk, sk) = filter_key(ws, reference);
        self.db
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("sk", s(sk))
            .item("filter", value)
            .item(WRITTEN_MS, n(now.millis()))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(())
    }

    /// Drops `ws`'s filter items other than `keep` last written over the grace before
    /// `now` (the save's time). Best effort: an item left behind is only stored, never
    /// read, and a later save drops it.
    pub(super) async fn drop_filters_but(
        &self,
        ws: &WorkspaceId,
        keep: Option<&str>,
        now: Timestamp,
    ) {
        // An additional endpoint's scope has none to drop: no Query on each of its saves.
        if !keeps_filters_apart(ws) {
            return;
        }
        if let Err(e) = self.try_drop_filters_but(ws, keep, now).await {
            tracing::warn!(workspace_id = %ws, error = %e, "old filter items left for a later save");
        }
    }

    async fn try_drop_filters_but(
        &self,
        ws: &WorkspaceId,
        keep: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let out = self
            .prefix_query(ws, FILTER_PREFIX)
            .projection_expression("sk")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        let references = out.items().iter().filter_map(|item| {
            let sk = item.get("sk")?.as_s().ok()?;
            sk.strip_prefix(FILTER_PREFIX).map(str::to_string)
        });
        let before = now.millis() - GRACE_MS;
        for reference in references.filter(|r| Some(r.as_str()) != keep) {
            let key = filter_key(ws, &reference);
            let condition = format!("{WRITTEN_MS} < :value");
            // A condition that failed: written within the grace, by a save that may be
            // about to name it.
            self.delete_if(key, &condition, n(before)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::n;

    #[test]
    fn a_reference_counts_only_beside_its_own_placeholder() {
        let item = |filter: AttributeValue| {
            Item::from([
                (FILTER_REF.to_string(), s("abc")),
                ("filter".to_string(), filter),
            ])
        };
        let current = item(placeholder("abc").unwrap());
        assert_eq!(reference_in(&current).as_deref(), Some("abc"));
        // An older version's save wrote its own filter, or another reference's placeholder.
        let older = serde_dynamo::to_attribute_value(DeliveryFilter::default()).unwrap();
        assert_eq!(reference_in(&item(older)), None);
        assert_eq!(reference_in(&item(placeholder("def").unwrap())), None);
        assert_eq!(reference_in(&item(n(1))), None);
        let mut removed = current.clone();
        removed.remove("filter");
        assert_eq!(reference_in(&removed), None);
        let id = &placeholder_filter("0123456789abcdef01234567").chat_ids[0];
        assert!(
            id.as_str().len() <= crate::formats::limits::MAX_ID_BYTES,
            "{id:?}"
        );
    }
}

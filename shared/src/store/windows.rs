//! Pending aggregation windows as items: one per chat window, found through the sparse
//! `due` index by due time (never a scan), claimed by exactly one aggregator run. The
//! default endpoint's windows find their messages through the `window` index, many
//! windows per Query; another endpoint's through the `arrival` index, also many windows
//! per Query (a message is stored once, and may join one window per endpoint).

use super::batch::{key_of, Key, Unwritten};
use super::conditional::{Applied, ConditionalUpdate};
use super::schema::{Index, ARRIVAL_INDEX, DUE_INDEX, WINDOW_INDEX};
use super::window_items::{
    self, arrival_ranges, bucket, due_pk, due_sk, joined_entry, member_of, member_prefix,
    of_other_endpoint, window_key,
};
use super::{keys, n, s, Item, Store, StoreError, StoreResult};
use crate::domain::{BundlePlan, PendingWindow, Timestamp, WindowMessage, WorkspaceId};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use futures::future;
use std::collections::{BTreeMap, HashMap};

/// Windows read per due-index page.
const DUE_PAGE: i32 = 100;

fn claim(w: &PendingWindow, run: &str, now_ms: i64, stale_ms: i64) -> ConditionalUpdate {
    ConditionalUpdate {
        key: window_key(w),
        // `first_claimed_by` stays when the claim goes: a run may have sent the window whole
        // (page_position.rs).
        update: "SET claimed_at = :now, claimed_by = :run, \
                 first_claimed_by = if_not_exists(first_claimed_by, :run)"
            .into(),
        // Its own claim too: an update the SDK retried after its answer was lost.
        condition: "attribute_exists(pk) AND attribute_exists(due_pk) AND \
                    (attribute_not_exists(claimed_at) OR claimed_at < :stale \
                     OR claimed_by = :run)"
            .into(),
        values: HashMap::from([
            (":now".into(), n(now_ms)),
            (":run".into(), s(run)),
            (":stale".into(), n(now_ms - stale_ms)),
        ]),
    }
}

/// Where a walk of the due index goes on: the next page of each shard that has one.
#[derive(Debug, Clone)]
pub struct DueCursor {
    shards: Vec<(u32, Option<Item>)>,
}

impl DueCursor {
    /// The first page of every shard.
    pub fn start() -> Self {
        Self {
            shards: (0..keys::DUE_SHARDS).map(|shard| (shard, None)).collect(),
        }
    }
}

/// A due-index item that is not a window this code can read (damaged, or written by
/// hand): it is set aside rather than read again by every run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableWindow {
    key: Key,
    /// Why it could not be read.
    pub why: String,
}

impl std::fmt::Display for UnreadableWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.key.0, self.key.1, self.why)
    }
}

/// One round of the due index: the windows of every shard's next page.
#[derive(Debug, Default)]
pub struct DuePage {
    /// Due windows, oldest first within each shard.
    pub windows: Vec<PendingWindow>,
    /// Items of the index that are not readable windows.
    pub unreadable: Vec<UnreadableWindow>,
    /// Shards whose page could not be read (their rest waits for the next run).
    pub failed_shards: Vec<(u32, StoreError)>,
    /// Windows among `windows` whose flush part by part has begun (a plan is saved on
    /// them): they go on part by part whatever their size now, so a part already queued
    /// is never sent again under the same `webhook-id` with other messages.
    pub streams_begun: Vec<PendingWindow>,
}

/// Most bytes of stored messages a flush holds for one window: a bigger window (a busy
/// group chat's day can be 50,000 messages) is left to be flushed part by part from its
/// pages (`window_page`), so a run of 100 windows holds at most about 13 MB of them.
pub const LOADED_WINDOW_BYTES: usize = 128 * 1024;

/// What a flush read of one window found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowRead {
    /// Its messages, in timestamp order, with edits applied.
    Loaded(Vec<WindowMessage>),
    /// More than [`LOADED_WINDOW_BYTES`]: read it page by page instead.
    TooBig,
}

/// What became of one window's claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This run holds the window now.
    Won,
    /// Another run holds a fresh claim, or the window is gone.
    Held,
    /// DynamoDB failed the claim: the window stays due for a later run.
    Failed,
}

/// Each window's messages, or why they could not be read (only that window's).
pub type WindowMessages = Vec<StoreResult<WindowRead>>;

/// Where a page-by-page read of one window's messages goes on.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowPageCursor(Item);

/// One page of a window's messages, each with the cursor that reads on after it.
#[derive(Debug, Clone)]
pub struct WindowPage {
    /// The messages, in timestamp order (another endpoint's window: in arrival order).
    pub messages: Vec<(WindowMessage, WindowPageCursor)>,
    /// Where the next page starts (`None`: this was the last).
    pub next: Option<WindowPageCursor>,
}

/// How far a flush of a window part by part got: its saved plan, the parts queued, and
/// where the messages of the rest begin.
#[derive(Debug, Clone, Default)]
pub struct StreamProgress {
    /// How it is cut into parts, once saved.
    pub plan: Option<BundlePlan>,
    /// Parts queued.
    pub parts_sent: u32,
    /// After the last message of the last part queued.
    pub after: Option<WindowPageCursor>,
}

impl Store {
    /// One page of every shard's windows due at or before `due_ms`, oldest first within a
    /// shard (a chat lives in one shard, so its windows stay in due order), and where the
    /// walk goes on (`None`: no shard has more). A shard that fails is left for the next
    /// run; the others go on.
    pub async fn due_windows(
        &self,
        due_ms: i64,
        cursor: DueCursor,
    ) -> (DuePage, Option<DueCursor>) {
        let pages = future::join_all(cursor.shards.into_iter().map(|(shard, start)| async move {
            (shard, self.due_page(shard, due_ms, start).await)
        }))
        .await;
        let mut page = DuePage::default();
        let mut next = Vec::new();
        for (shard, result) in pages {
            match result {
                Ok((shard_page, more)) => {
                    page.windows.extend(shard_page.windows);
                    page.unreadable.extend(shard_page.unreadable);
                    page.streams_begun.extend(shard_page.streams_begun);
                    next.extend(more.map(|key| (shard, Some(key))));
                }
                Err(e) => page.failed_shards.push((shard, e)),
            }
        }
        (
            page,
            (!next.is_empty()).then_some(DueCursor { shards: next }),
        )
    }

    async fn due_page(
        &self,
        shard: u32,
        due_ms: i64,
        start: Option<Item>,
    ) -> StoreResult<(DuePage, Option<Item>)> {
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .index_name(DUE_INDEX.name)
            .key_condition_expression("due_pk = :pk AND due_sk <= :upto")
            .expression_attribute_values(":pk", s(format!("DUE#{shard}")))
            .expression_attribute_values(":upto", s(format!("{due_ms:013}~")))
            .set_exclusive_start_key(start)
            .limit(DUE_PAGE)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        let mut page = DuePage::default();
        for item in out.items.unwrap_or_default() {
            let key = key_of(&item);
            let begun = item.contains_key("stream_plan");
            match serde_dynamo::from_item::<_, PendingWindow>(item) {
                Ok(w) => {
                    if begun {
                        page.streams_begun.push(w.clone());
                    }
                    page.windows.push(w);
                }
                Err(e) => page.unreadable.extend(key.map(|key| UnreadableWindow {
                    key,
                    why: e.to_string(),
                })),
            }
        }
        Ok((page, out.last_evaluated_key))
    }

    /// Claims windows for one run, up to 100 per TransactWriteItems (a transaction DynamoDB
    /// fails is tried again window by window), one [`Claim`] per window. A claim written
    /// whose answer never came, not even to the SDK's retries nor to the one-by-one retry,
    /// is `Failed` yet holds its window until stale, like a run that died.
    pub async fn claim_windows(
        &self,
        windows: &[PendingWindow],
        run: &str,
        now_ms: i64,
        stale_ms: i64,
    ) -> Vec<Claim> {
        let claims: Vec<ConditionalUpdate> = windows
            .iter()
            .map(|w| claim(w, run, now_ms, stale_ms))
            .collect();
        let applied = match self.transact_updates(&claims).await {
            Ok(applied) => applied,
            Err(e) => {
                tracing::warn!(error = %e, windows = claims.len(), "claiming in a transaction failed; one by one");
                self.update_each(&claims).await
            }
        };
        let outcome = |a: Applied| match a {
            Applied::Yes => Claim::Won,
            Applied::ConditionFailed => Claim::Held,
            Applied::Other(why) => {
                tracing::warn!(error = %why, "claiming a window failed");
                Claim::Failed
            }
        };
        applied.into_iter().map(outcome).collect()
    }

    /// The windows were flushed: they leave the due index for good (25 per BatchWriteItem).
    /// When DynamoDB stops it, says how many may be left.
    pub async fn finish_windows(&self, windows: &[PendingWindow]) -> Result<(), Unwritten> {
        let keys: Vec<Key> = windows.iter().map(window_key).collect();
        self.batch_delete(&keys).await
    }

    /// Takes a window out of the due index while its webhook is off (kept, not delivered).
    pub async fn park_window(&self, w: &PendingWindow) -> StoreResult<()> {
        let (pk, sk) = window_key(w);
        let result = self
            .update(s(pk), s(sk))
            .update_expression("REMOVE due_pk, due_sk, claimed_at, claimed_by")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        super::applied("UpdateItem", result)?;
        Ok(())
    }

    /// Every pending window of a workspace (a partition Query, paged; never a scan).
    /// Items that are not readable windows (damaged, or set aside as such) are skipped and
    /// logged: one of them must not keep the workspace's other windows from their turn.
    pub async fn pending_windows(&self, ws: &WorkspaceId) -> StoreResult<Vec<PendingWindow>> {
        let mut start = None;
        let mut windows = Vec::new();
        loop {
            let out = self
                .prefix_query(ws, keys::WINDOW_PREFIX)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            for item in out.items.unwrap_or_default() {
                let key = key_of(&item);
                match serde_dynamo::from_item(item) {
                    Ok(w) => windows.push(w),
                    Err(e) => {
                        tracing::error!(key = ?key, error = %e, "unreadable window item skipped")
                    }
                }
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(windows),
            }
        }
    }

    /// Puts every pending window of a workspace back in the due index: at its own end, or
    /// by `switched_ms` (the instant of a switch to immediate delivery) when that comes
    /// first. Never earlier: a request admitted before the switch may still be writing a
    /// message into a window it found open, and the aggregator's grace after a window's
    /// due time is what lets it land first. Returns how many.
    pub async fn reschedule_windows(
        &self,
        ws: &WorkspaceId,
        switched_ms: Option<i64>,
    ) -> StoreResult<usize> {
        // After a switch, only ever earlier: saves a minute apart must not keep pushing
        // back a window an earlier one made due.
        let earlier_only = switched_ms.is_some();
        let mut count = 0;
        for w in self.pending_windows(ws).await? {
            let due_ms = switched_ms.map_or(w.end_ms, |at| at.min(w.end_ms));
            count += usize::from(self.reschedule_window(&w, due_ms, earlier_only).await?);
        }
        Ok(count)
    }

    /// Puts one window back in the due index, unless it is gone: a run may have flushed it
    /// since it was read, and an update must never write back a stub of it (every later
    /// run would trip over an item without its fields). True when it was rescheduled.
    pub async fn reschedule_window(
        &self,
        w: &PendingWindow,
        due_ms: i64,
        earlier_only: bool,
    ) -> StoreResult<bool> {
        let (pk, sk) = window_key(w);
        let condition = match earlier_only {
            true => "attribute_exists(pk) AND (attribute_not_exists(due_sk) OR due_sk > :sk)",
            false => "attribute_exists(pk)",
        };
        let result = self
            .update(s(pk), s(sk))
            .update_expression(
                "SET due_pk = :pk, due_sk = :sk \
                 REMOVE claimed_at, claimed_by, flush_failures, last_failure, set_aside_reason, set_aside_at",
            )
            .condition_expression(condition)
            .expression_attribute_values(":pk", s(due_pk(w)))
            .expression_attribute_values(":sk", s(due_sk(w, due_ms)))
            .send()
            .await;
        Ok(super::applied("UpdateItem", result)?.is_some())
    }

    /// Every message of each window, in timestamp order, with edits applied, or
    /// [`WindowRead::TooBig`] for a window past [`LOADED_WINDOW_BYTES`] (its messages are
    /// dropped and the read skips past them). One Query (paged) per bucket reads the range
    /// between the first and the last window's prefix. A bucket that cannot be read, or a
    /// message item that is not one, fails only the windows concerned.
    pub async fn windows_messages(&self, windows: &[PendingWindow]) -> WindowMessages {
        let slot: HashMap<Key, usize> = windows
            .iter()
            .enumerate()
            .filter(|(_, w)| !of_other_endpoint(w))
            .map(|(i, w)| ((keys::workspace_pk(&w.workspace_id), member_of(w)), i))
            .collect();
        let mut read = Reads {
            messages: vec![Ok(WindowRead::Loaded(Vec::new())); windows.len()],
            bytes: vec![0; windows.len()],
        };
        for (bucket, (from, to)) in bucket_ranges(windows) {
            if let Err(e) = self
                .read_bucket(&bucket, (from, &to), (windows, &slot), &mut read)
                .await
            {
                // Only the windows of this bucket wait for another run.
                for (i, w) in windows.iter().enumerate() {
                    if !of_other_endpoint(w) && window_items::bucket(w) == bucket {
                        read.messages[i] = Err(e.clone());
                    }
                }
            }
        }
        self.read_arrivals(windows, &mut read).await;
        read.messages
    }

    /// Reads the messages of the windows of other endpoints: one Query (paged) per
    /// arrival-index partition their hours and chats fall in, over the range from the first
    /// window's chat to the last's; each item goes to every asked-for window its `joined`
    /// names. Then each window's messages are put in timestamp order (the index orders
    /// them by arrival).
    async fn read_arrivals(&self, windows: &[PendingWindow], read: &mut Reads) {
        let (ranges, slot) = arrival_plan(windows);
        for (pk, (from, to, concerned)) in ranges {
            let mut start = None;
            loop {
                let page = self
                    .index_page(&ARRIVAL_INDEX, &pk, (&from, &to), start)
                    .await;
                let (items, next) = match page {
                    Ok(page) => page,
                    Err(e) => {
                        // Only the windows read here wait for another run.
                        for &i in &concerned {
                            read.messages[i] = Err(e.clone());
                        }
                        break;
                    }
                };
                for item in &items {
                    for i in arrival_slots(item, &slot) {
                        read.add(i, item);
                    }
                }
                // No need to page on once every window read here is known too big.
                let settled = |i: &usize| !matches!(read.messages[*i], Ok(WindowRead::Loaded(_)));
                start = next.filter(|_| !concerned.iter().all(settled));
                if start.is_none() {
                    break;
                }
            }
        }
        for (i, _) in windows
            .iter()
            .enumerate()
            .filter(|(_, w)| of_other_endpoint(w))
        {
            if let Ok(WindowRead::Loaded(list)) = &mut read.messages[i] {
                list.sort_by_cached_key(|m| {
                    let m = &m.event.message;
                    (m.timestamp.millis(), m.message_id.clone())
                });
            }
        }
    }

    /// Reads one bucket's range into the windows' slots. When a window turns out too big,
    /// the Query starts again right after its messages instead of paging through them.
    async fn read_bucket(
        &self,
        bucket: &str,
        (mut from, to): (String, &str),
        (windows, slot): (&[PendingWindow], &HashMap<Key, usize>),
        read: &mut Reads,
    ) -> StoreResult<()> {
        let mut start = None;
        loop {
            let (items, next) = self
                .index_page(&WINDOW_INDEX, bucket, (&from, to), start)
                .await?;
            start = next;
            if let Some(i) = read.add_page(items, slot) {
                // A fresh Query from right after the too-big window's messages.
                from = format!("{}~", member_prefix(&windows[i]));
                start = None;
            } else if start.is_none() {
                return Ok(());
            }
        }
    }

    /// One page of one window's messages, in timestamp order, with edits applied, each
    /// with the cursor that reads on after it, and where the next page starts (`None`:
    /// that was the last).
    pub async fn window_page(
        &self,
        w: &PendingWindow,
        at: Option<WindowPageCursor>,
    ) -> StoreResult<WindowPage> {
        let start = at.map(|c| c.0);
        let (index, items, next) = if of_other_endpoint(w) {
            let (items, next) = self.arrival_page(w, start).await?;
            (&ARRIVAL_INDEX, items, next)
        } else {
            let from = member_prefix(w);
            let to = format!("{from}~");
            let (items, next) = self
                .index_page(&WINDOW_INDEX, &bucket(w), (&from, &to), start)
                .await?;
            let slot = HashMap::from([((keys::workspace_pk(&w.workspace_id), member_of(w)), 0)]);
            let items = items
                .into_iter()
                .filter(|item| slot_of(item, &slot).is_some())
                .collect();
            (&WINDOW_INDEX, items, next)
        };
        let messages = items
            .iter()
            .map(|item| Ok((window_message(item)?, cursor_after(item, index))))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(WindowPage {
            messages,
            next: next.map(WindowPageCursor),
        })
    }

    /// The next page of another endpoint's window from the arrival index, hour by hour:
    /// its items, and where the read goes on — a key in the same hour's partition, or a
    /// cursor naming only the next hour's partition (`arr_pk`, no table key) to start it.
    async fn arrival_page(
        &self,
        w: &PendingWindow,
        at: Option<Item>,
    ) -> StoreResult<(Vec<Item>, Option<Item>)> {
        let ranges = arrival_ranges(w);
        let named = |item: &Item| item.get("arr_pk").and_then(|v| v.as_s().ok()).cloned();
        let mut hour = at
            .as_ref()
            .and_then(named)
            .and_then(|pk| ranges.iter().position(|r| r.0 == pk))
            .unwrap_or(0);
        let mut start = at.filter(|key| key.contains_key("pk"));
        loop {
            let Some((pk, from, to)) = ranges.get(hour) else {
                return Ok((Vec::new(), None));
            };
            let (items, next) = self
                .index_page(&ARRIVAL_INDEX, pk, (from, to), start)
                .await?;
            let items: Vec<Item> = items.into_iter().filter(|i| joined(i, w)).collect();
            let next = match (next, ranges.get(hour + 1)) {
                (Some(key), _) => Some(key),
                (None, Some(following)) => Some(Item::from([("arr_pk".into(), s(&following.0))])),
                (None, None) => None,
            };
            match next {
                // Nothing of this window on this page: read on in this call.
                Some(key) if items.is_empty() => {
                    let same_hour = key.contains_key("pk");
                    hour += usize::from(!same_hour);
                    start = same_hour.then_some(key);
                }
                next => return Ok((items, next)),
            }
        }
    }

    /// How far an earlier flush of a window part by part got.
    pub async fn stream_progress(&self, w: &PendingWindow) -> StoreResult<StreamProgress> {
        let out = self
            .consistent_get(window_key(w))
            .projection_expression("stream_plan, parts_sent, sent_through")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        let item = out.item.unwrap_or_default();
        let plan = match item.get("stream_plan").and_then(|v| v.as_s().ok()) {
            Some(json) => Some(
                serde_json::from_str(json)
                    .map_err(|e| StoreError::Corrupt(format!("a window's stream plan: {e}")))?,
            ),
            None => None,
        };
        Ok(StreamProgress {
            plan,
            parts_sent: item
                .get("parts_sent")
                .and_then(|v| v.as_n().ok()?.parse().ok())
                .unwrap_or(0),
            after: item
                .get("sent_through")
                .and_then(|v| v.as_m().ok())
                .map(|key| WindowPageCursor(key.clone())),
        })
    }

    /// An update of `w`'s item that applies only while `run` holds its claim.
    fn while_claimed(&self, w: &PendingWindow, run: &str) -> UpdateItemFluentBuilder {
        let (pk, sk) = window_key(w);
        self.update(s(pk), s(sk))
            .condition_expression("claimed_by = :run")
            .expression_attribute_values(":run", s(run))
    }

    /// Saves how a window is cut into parts (before its first part is queued, and again
    /// when the rest no longer fits), while `run` holds its claim; false when it no
    /// longer does.
    pub async fn save_stream_plan(
        &self,
        w: &PendingWindow,
        run: &str,
        plan: &BundlePlan,
    ) -> StoreResult<bool> {
        let json = serde_json::to_string(plan).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let result = self
            .while_claimed(w, run)
            // The first planner stays: its marks are trusted only when it is the run that
            // first claimed the window (page_position.rs).
            .update_expression(
                "SET stream_plan = :plan, planned_by = if_not_exists(planned_by, :run)",
            )
            .expression_attribute_values(":plan", s(json))
            .send()
            .await;
        Ok(super::applied("UpdateItem", result)?.is_some())
    }

    /// Records that a part ending at `after` is about to be queued, while `run` holds the
    /// claim (false when it no longer does): from then on an edit of a message in it is
    /// told as `message:updated`, even when the part's progress is never recorded and a
    /// later run queues it again under the same `webhook-id` (which a receiver drops).
    pub async fn mark_stream_sending(
        &self,
        w: &PendingWindow,
        run: &str,
        after: &WindowPageCursor,
    ) -> StoreResult<bool> {
        let result = self
            .while_claimed(w, run)
            .update_expression("SET sending_through = :after")
            .expression_attribute_values(":after", AttributeValue::M(after.0.clone()))
            .send()
            .await;
        Ok(super::applied("UpdateItem", result)?.is_some())
    }

    /// Records that the first `parts` parts are queued, the last of them ending at
    /// `after`, while `run` holds the claim; false when it no longer does (another run,
    /// or a settings save, took the window back).
    pub async fn save_stream_progress(
        &self,
        w: &PendingWindow,
        run: &str,
        parts: u32,
        after: &WindowPageCursor,
    ) -> StoreResult<bool> {
        let result = self
            .while_claimed(w, run)
            .update_expression("SET parts_sent = :parts, sent_through = :after")
            .expression_attribute_values(":parts", n(parts))
            .expression_attribute_values(":after", AttributeValue::M(after.0.clone()))
            .send()
            .await;
        Ok(super::applied("UpdateItem", result)?.is_some())
    }

    /// Lets go of a window `run` holds, so the next run goes on with it at once instead
    /// of waiting for the claim to go stale.
    pub async fn unclaim_window(&self, w: &PendingWindow, run: &str) -> StoreResult<()> {
        let result = self
            .while_claimed(w, run)
            .update_expression("REMOVE claimed_at, claimed_by")
            .send()
            .await;
        super::applied("UpdateItem", result)?;
        Ok(())
    }

    /// Counts one failed flush of a window; returns how many it has had.
    pub async fn window_failed(&self, w: &PendingWindow, why: &str) -> StoreResult<u32> {
        let (pk, sk) = window_key(w);
        let out = self
            .update(s(pk), s(sk))
            .update_expression("ADD flush_failures :one SET last_failure = :why")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":why", s(why))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let item = super::applied("UpdateItem", out)?.and_then(|o| o.attributes);
        Ok(item
            .and_then(|a| a.get("flush_failures")?.as_n().ok()?.parse().ok())
            .unwrap_or(0))
    }

    /// Takes a window that keeps failing out of the due index, saying why; saving the
    /// settings or enabling the webhook puts it back for another try.
    pub async fn set_aside(&self, w: &PendingWindow, why: &str) -> StoreResult<()> {
        self.set_aside_key(window_key(w), why).await
    }

    /// Takes an item of the due index that is not a readable window out of it.
    pub async fn set_aside_unreadable(&self, u: &UnreadableWindow) -> StoreResult<()> {
        self.set_aside_key(u.key.clone(), &u.why).await
    }

    async fn set_aside_key(&self, (pk, sk): Key, why: &str) -> StoreResult<()> {
        let result = self
            .update(s(pk), s(sk))
            .update_expression(
                "REMOVE due_pk, due_sk, claimed_at, claimed_by \
                 SET set_aside_reason = :why, set_aside_at = :at",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":why", s(why))
            .expression_attribute_values(":at", s(self.clock.now().rfc3339()))
            .send()
            .await;
        super::applied("UpdateItem", result)?;
        Ok(())
    }

    /// One page of an index partition's sort-key range (inclusive).
    async fn index_page(
        &self,
        index: &Index,
        pk: &str,
        (from, to): (&str, &str),
        start: Option<Item>,
    ) -> StoreResult<(Vec<Item>, Option<Item>)> {
        let condition = format!(
            "{} = :pk AND {} BETWEEN :from AND :to",
            index.partition_key, index.sort_key
        );
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .index_name(index.name)
            .key_condition_expression(condition)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s(to))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }
}

/// Messages read so far by `windows_messages`, and their stored bytes per window.
struct Reads {
    messages: WindowMessages,
    bytes: Vec<usize>,
}

/// What adding an item to its window's read did.
#[derive(Debug, PartialEq, Eq)]
enum Added {
    Kept,
    TooBig,
}

impl Reads {
    /// Adds a page of items; stops at the first window that turns out too big (its index).
    fn add_page(&mut self, items: Vec<Item>, slot: &HashMap<Key, usize>) -> Option<usize> {
        for item in items {
            let Some(i) = slot_of(&item, slot) else {
                continue;
            };
            if self.add(i, &item) == Added::TooBig {
                return Some(i);
            }
        }
        None
    }

    /// Adds a message item to window `i`; past [`LOADED_WINDOW_BYTES`] its messages are
    /// dropped and it is marked too big.
    fn add(&mut self, i: usize, item: &Item) -> Added {
        let text = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .map_or(0, String::len)
        };
        self.bytes[i] += text("event") + text("edited_text");
        if self.bytes[i] > LOADED_WINDOW_BYTES {
            if self.messages[i].is_ok() {
                self.messages[i] = Ok(WindowRead::TooBig);
            }
            return Added::TooBig;
        }
        match (window_message(item), &mut self.messages[i]) {
            (Ok(m), Ok(WindowRead::Loaded(list))) => list.push(m),
            (Err(e), slot) => *slot = Err(e),
            _ => {}
        }
        Added::Kept
    }
}

/// The sort-key range of each bucket that holds the messages of all `windows` in it.
fn bucket_ranges(windows: &[PendingWindow]) -> BTreeMap<String, (String, String)> {
    let mut by_bucket: BTreeMap<String, (String, String)> = BTreeMap::new();
    for w in windows.iter().filter(|w| !of_other_endpoint(w)) {
        let prefix = member_prefix(w);
        let range = by_bucket
            .entry(bucket(w))
            .or_insert_with(|| (prefix.clone(), prefix.clone()));
        range.0 = range.0.clone().min(prefix.clone());
        range.1 = range.1.clone().max(prefix);
    }
    // Prefixes are fixed-width and message suffixes start with a digit, so `~` closes
    // the range right after the last window's messages.
    for range in by_bucket.values_mut() {
        range.1.push('~');
    }
    by_bucket
}

/// The cursor that reads on right after `item` in `index`: its table and index keys.
fn cursor_after(item: &Item, index: &Index) -> WindowPageCursor {
    let key = ["pk", "sk", index.partition_key, index.sort_key]
        .iter()
        .filter_map(|name| Some((name.to_string(), item.get(*name)?.clone())))
        .collect();
    WindowPageCursor(key)
}

/// Which asked-for window a message item belongs to; windows in the range but not asked
/// for (parked, claimed elsewhere) are read and left.
fn slot_of(item: &Item, slot: &HashMap<Key, usize>) -> Option<usize> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    // Messages live on their workspace's spread partitions; windows on its home one.
    let home = keys::home_pk(&text("pk")?).to_string();
    slot.get(&(home, text("member_of")?)).copied()
}

/// True when an arrival-index item is a message of the tenant of `w` that joined `w` (the
/// range may hold messages of the chat's other windows, or that joined none of this
/// endpoint's).
fn joined(item: &Item, w: &PendingWindow) -> bool {
    let tenant_pk = keys::workspace_pk(&w.workspace_id.tenant());
    let home = item.get("pk").and_then(|v| v.as_s().ok());
    let entries = item.get("joined").and_then(|v| v.as_ss().ok());
    home.is_some_and(|pk| keys::home_pk(pk) == tenant_pk)
        && entries.is_some_and(|e| e.contains(&joined_entry(w)))
}

/// The asked-for windows of other endpoints by tenant partition, chat tag and `joined`
/// entry (endpoint, end, start).
type ArrivalSlots = HashMap<(String, String, String), usize>;

/// Per arrival-index partition: the sort-key range to read (inclusive) and the windows it
/// concerns.
type ArrivalRanges = BTreeMap<String, (String, String, Vec<usize>)>;

/// The arrival-index reads for the windows of other endpoints among `windows`: per
/// partition, the sort-key range covering all of them and which windows it concerns; and
/// where each item goes.
fn arrival_plan(windows: &[PendingWindow]) -> (ArrivalRanges, ArrivalSlots) {
    let mut ranges = ArrivalRanges::new();
    let mut slot: ArrivalSlots = HashMap::new();
    for (i, w) in windows
        .iter()
        .enumerate()
        .filter(|(_, w)| of_other_endpoint(w))
    {
        let tenant = w.workspace_id.tenant();
        let tag = keys::chat_tag(&tenant, &w.chat_id);
        slot.insert((keys::workspace_pk(&tenant), tag, joined_entry(w)), i);
        for (pk, from, to) in arrival_ranges(w) {
            let range = ranges
                .entry(pk)
                .or_insert_with(|| (from.clone(), to.clone(), Vec::new()));
            range.0 = range.0.clone().min(from);
            range.1 = range.1.clone().max(to);
            range.2.push(i);
        }
    }
    (ranges, slot)
}

/// The asked-for windows an arrival-index item joined: its tenant's, its chat's, named in
/// its `joined`.
fn arrival_slots(item: &Item, slot: &ArrivalSlots) -> Vec<usize> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    let (Some(pk), Some(sk)) = (text("pk"), text("arr_sk")) else {
        return Vec::new();
    };
    let home = keys::home_pk(pk).to_string();
    let tag = sk.split('#').next().unwrap_or_default().to_string();
    let entries = item.get("joined").and_then(|v| v.as_ss().ok());
    entries
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            slot.get(&(home.clone(), tag.clone(), entry.clone()))
                .copied()
        })
        .collect()
}

fn window_message(item: &Item) -> StoreResult<WindowMessage> {
    let received = item
        .get("received_at")
        .and_then(|v| v.as_s().ok())
        .and_then(|t| Timestamp::parse(t));
    let received_ms = match received {
        Some(at) => at.millis(),
        None => {
            // Written with every message; without it the message still belongs in its
            // bundle, only not as the one whose chat fields describe the chat.
            tracing::warn!(sk = ?item.get("sk"), "window message without received_at");
            i64::MIN
        }
    };
    Ok(WindowMessage {
        event: super::messages::event_of(item)?,
        received_ms,
    })
}

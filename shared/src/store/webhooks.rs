//! The webhook settings and health, with the atomic failure counter. They live on the
//! workspace item (`META`); a workspace without a registered webhook has no `secret`.

use super::filter_items::{keeps_filters_apart, reference_in, FilterKind, FilterPlace, FILTER_REF};
use super::{applied, keys, n, number_attribute, s, Item, Store, StoreError, StoreResult};
use crate::domain::webhook::ROTATION_OVERLAP_MS;
use crate::domain::{
    DeliveryFilter, EventType, Subscription, Timestamp, Webhook, WebhookSettings, WorkspaceId,
};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

/// A filter kept apart as read: its reference and the filter its item holds.
type FilterRead = (String, DeliveryFilter);

/// The condition "a webhook is registered" (the workspace item holds its secret).
const REGISTERED: &str = "attribute_exists(secret)";

const RESET_HEALTH: &str =
    "consecutive_failures = :zero REMOVE disabled_at, disabled_reason, failing_since_ms, warned_ms";

/// The consecutive-failure count after a batch's update, and since when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCount {
    /// Consecutive failed deliveries.
    pub count: u32,
    /// The failure incident's first failure (ms).
    pub since_ms: i64,
    /// The incident's warning was sent (or is being sent).
    pub warned: bool,
}

impl Store {
    pub(super) fn workspace_item_update(&self, ws: &WorkspaceId) -> UpdateItemFluentBuilder {
        self.update(s(keys::workspace_pk(ws)), s(keys::META))
    }

    /// A strongly consistent read of the workspace item (the caller picks attributes).
    pub(super) fn workspace_item_read(&self, ws: &WorkspaceId) -> GetItemFluentBuilder {
        self.consistent_get((keys::workspace_pk(ws), keys::META.to_string()))
    }

    /// The webhook settings (strongly consistent), with a filter kept apart read from its
    /// item: for ingest and for the api's answers, which apply or show it.
    pub async fn webhook(&self, ws: &WorkspaceId) -> StoreResult<Option<Webhook>> {
        let item = self.workspace_item(ws).await?;
        self.webhook_in(ws, item).await
    }

    /// The webhook as its item stores it (strongly consistent), a filter kept apart not
    /// read: for the readers that neither apply nor show the filter (deliveries, replay, the
    /// test event, a save's previous URL, whether a webhook exists). Its `filter` is then the
    /// placeholder, which takes no chat, so a reader that applied it would skip rather than
    /// deliver past it.
    pub async fn webhook_as_stored(&self, ws: &WorkspaceId) -> StoreResult<Option<Webhook>> {
        webhook_of(self.workspace_item(ws).await?)
    }

    /// The workspace item of `ws`, whole (strongly consistent).
    async fn workspace_item(&self, ws: &WorkspaceId) -> StoreResult<Option<Item>> {
        let out = self
            .workspace_item_read(ws)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        Ok(out.item)
    }

    /// Writes the settings with no subscription chosen (the message types).
    pub async fn put_webhook(
        &self,
        ws: &WorkspaceId,
        settings: &WebhookSettings,
    ) -> StoreResult<Option<Webhook>> {
        (self.put_described(ws, settings, &Subscription::default(), None)).await
    }

    /// Writes the settings and what it receives (`Subscription`), keeping an existing
    /// secret, with a new description when `description` is given (else the saved one
    /// stays). Turning the webhook on resets its health; a save with immediate delivery
    /// records when (windows start no earlier). `None`: the save `registers`, and a
    /// webhook is registered (nothing written but, for a large filter, its own item,
    /// dropped by a later save).
    pub async fn put_described(
        &self,
        ws: &WorkspaceId,
        settings: &WebhookSettings,
        subscription: &Subscription,
        description: Option<&str>,
    ) -> StoreResult<Option<Webhook>> {
        let now = settings.saved_at;
        let filter = self
            .filter_place(ws, subscription.filter.as_ref(), now)
            .await?;
        let chosen = (subscription.event_types.as_deref(), filter.kind());
        let request = self.settings_update(ws, settings, chosen, description);
        let (result, keep) = match filter {
            FilterPlace::None => (request.send().await, None),
            FilterPlace::Inline(value) => {
                let request = request.expression_attribute_values(":filter", value);
                (request.send().await, None)
            }
            FilterPlace::Apart {
                reference,
                value,
                placeholder,
            } => {
                self.put_filter(ws, (&reference, value), now).await?;
                let request = request
                    .expression_attribute_values(":filter", placeholder)
                    .expression_attribute_values(":filter_ref", s(&reference));
                (request.send().await, Some(reference))
            }
        };
        // The settings as saved, with the filter in hand: no read that could fail a save
        // already made.
        let item = match applied("UpdateItem", result)? {
            Some(out) => out.attributes,
            None if settings.registers.is_none() => return Err(no_item(ws)),
            // Registered: by another request, or by this one (the SDK's retry of a write
            // whose answer was lost finds it), which the secret it wrote tells.
            // A large filter's item it wrote stays, unnamed, for a later save to drop: the
            // winner may name the same item (named by its content).
            None => match self.registered_with(ws, &settings.new_secret).await? {
                Some(item) => Some(item),
                None => return Ok(None),
            },
        };
        let mut saved = webhook_of(item)?.ok_or_else(|| no_item(ws))?;
        saved.filter = subscription.filter.clone();
        self.drop_filters_but(ws, keep.as_deref(), now).await;
        Ok(Some(saved))
    }

    /// The workspace item of `ws` if its webhook's secret is `secret`, or was until a
    /// rotation since (consistent).
    async fn registered_with(&self, ws: &WorkspaceId, secret: &str) -> StoreResult<Option<Item>> {
        let item = self.workspace_item(ws).await?;
        let holds =
            |item: &Item, name| matches!(item.get(name), Some(AttributeValue::S(s)) if s == secret);
        Ok(item.filter(|item| holds(item, "secret") || holds(item, "previous_secret")))
    }

    /// The settings save's update, all but the filter's values (`:filter`, `:filter_ref`).
    fn settings_update(
        &self,
        ws: &WorkspaceId,
        settings: &WebhookSettings,
        (event_types, filter): (Option<&[EventType]>, FilterKind),
        description: Option<&str>,
    ) -> UpdateItemFluentBuilder {
        let immediate = settings.aggregation.is_immediate();
        let chosen = (event_types.is_some(), filter);
        let mut expr = settings_expression(settings.enabled, immediate, chosen);
        if description.is_some() {
            expr = expr.replacen("SET ", "SET description = :description, ", 1);
        }
        if settings.registers.is_some() {
            expr = expr.replacen("SET ", "SET registered_by = :by, ", 1);
        }
        let now = settings.saved_at;
        let mut request = self
            .workspace_item_update(ws)
            .update_expression(expr)
            .expression_attribute_names("#url", "url")
            .expression_attribute_names("#filter", "filter")
            .expression_attribute_values(":url", s(&settings.url))
            .expression_attribute_values(":enabled", AttributeValue::Bool(settings.enabled))
            .expression_attribute_values(":agg", s(settings.aggregation.as_str()))
            .expression_attribute_values(":secret", s(&settings.new_secret))
            .expression_attribute_values(
                ":cc",
                AttributeValue::Bool(settings.continuous_conversation),
            )
            .expression_attribute_values(":now", s(now.rfc3339()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            // The workspace item exists: settings never create a workspace; a registering
            // save is written only while none is registered (no `secret`).
            .condition_expression(match settings.registers {
                Some(_) => "attribute_exists(pk) AND attribute_not_exists(secret)",
                None => "attribute_exists(pk)",
            })
            .return_values(ReturnValue::AllNew);
        if immediate {
            request = request.expression_attribute_values(":now_ms", n(now.millis()));
        }
        if let Some(description) = description {
            request = request.expression_attribute_values(":description", s(description));
        }
        if let Some(by) = &settings.registers {
            request = request.expression_attribute_values(":by", s(by));
        }
        if let Some(types) = event_types {
            let names = types.iter().map(|t| s(t.as_str())).collect();
            request = request.expression_attribute_values(":types", AttributeValue::L(names));
        }
        request = request.expression_attribute_values(":saved_ms", n(now.millis()));
        if settings.enabled {
            request = request.expression_attribute_values(":release", n(settings.release_nonce));
        }
        request
    }

    /// The webhook a workspace item of `ws` holds, with its filter read from its own item
    /// when kept apart (one more read, only for such a webhook: ingest's admission, and the
    /// api's reads, which show the filter; the other readers take `webhook_as_stored`).
    pub(super) async fn webhook_in(
        &self,
        ws: &WorkspaceId,
        item: Option<Item>,
    ) -> StoreResult<Option<Webhook>> {
        let reference = item.as_ref().and_then(reference_in);
        let Some(mut webhook) = webhook_of(item)? else {
            return Ok(None);
        };
        if let Some(reference) = reference {
            webhook.filter = self.filter_apart(ws, &reference).await?;
        }
        Ok(Some(webhook))
    }

    /// The filter kept apart that `ws`'s webhook names, with its reference, read before a
    /// change that leaves it alone (enable, rotation, renaming) whose answer shows it: a
    /// failed read then fails the request with nothing changed, not after the change (a
    /// 5xx for a change made). `None` when no filter is kept apart.
    async fn filter_before_change(&self, ws: &WorkspaceId) -> StoreResult<Option<FilterRead>> {
        // An additional endpoint's filter is never kept apart.
        if !keeps_filters_apart(ws) {
            return Ok(None);
        }
        let Some(reference) = reference_in(&self.filter_as_named(ws).await?) else {
            return Ok(None);
        };
        // Its item gone (a save replaced it meanwhile, rare): read after the change.
        let filter = self.filter_item(ws, &reference).await?;
        Ok(filter.map(|filter| (reference, filter)))
    }

    /// The webhook as a conditional UpdateItem left it (`ALL_NEW`), its filter the one read
    /// before the change (`before`) while it names the same; `None` when the condition did
    /// not hold (no webhook registered).
    async fn updated_webhook<E, R>(
        &self,
        ws: &WorkspaceId,
        result: Result<UpdateItemOutput, SdkError<E, R>>,
        before: Option<FilterRead>,
    ) -> StoreResult<Option<Webhook>>
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        let item = applied("UpdateItem", result)?.and_then(|out| out.attributes);
        match (item.as_ref().and_then(reference_in), before) {
            (Some(now), Some((then, filter))) if now == then => {
                let filter = Some(filter);
                Ok(webhook_of(item)?.map(|webhook| Webhook { filter, ..webhook }))
            }
            // A save named another filter meanwhile: read it (rare).
            _ => self.webhook_in(ws, item).await,
        }
    }

    /// Gives a registered webhook (an endpoint) a new description; `None` when there is
    /// none.
    pub async fn describe(
        &self,
        ws: &WorkspaceId,
        description: &str,
    ) -> StoreResult<Option<Webhook>> {
        let before = self.filter_before_change(ws).await?;
        let request = self
            .workspace_item_update(ws)
            .update_expression("SET description = :description")
            .condition_expression("attribute_exists(secret)")
            .expression_attribute_values(":description", s(description))
            .return_values(ReturnValue::AllNew);
        self.updated_webhook(ws, request.send().await, before).await
    }

    /// Turns an existing webhook back on, resets its failure count and starts release
    /// `release` (new deliveries wait behind it until it ends).
    pub async fn enable_webhook(
        &self,
        ws: &WorkspaceId,
        release: u64,
        at: Timestamp,
    ) -> StoreResult<Option<Webhook>> {
        let before = self.filter_before_change(ws).await?;
        let result = self
            .workspace_item_update(ws)
            .update_expression(format!(
                "SET enabled = :true, release_nonce = :release, release_progress_ms = :at, \
                 release_off_since_ms = if_not_exists(off_since_ms, :at), \
                 updated_at = :now, {RESET_HEALTH}, release_ended_ms ADD settings_version :one"
            ))
            .expression_attribute_values(":release", n(release))
            .expression_attribute_values(":at", n(at.millis()))
            .condition_expression(REGISTERED)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":now", s(self.clock.now().rfc3339()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        self.updated_webhook(ws, result, before).await
    }

    /// Ends release `release` at `now`, unless it ended already or a newer one replaced
    /// it; true when it did.
    pub async fn end_release(
        &self,
        ws: &WorkspaceId,
        release: u64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        // Everything kept since the switch-off is back on the queue: the switch-off is
        // over, unless the webhook went off again meanwhile (its marks still count then).
        let over = "SET release_ended_ms = :now REMOVE off_since_ms";
        if self
            .update_draining_release(ws, release, over, now, true)
            .await?
        {
            return Ok(true);
        }
        let update = "SET release_ended_ms = :now";
        self.update_draining_release(ws, release, update, now, false)
            .await
    }

    /// Notes that release `release` moved on at `now` (it is not stalled), unless it ended
    /// or a newer one replaced it.
    pub async fn release_moved_on(
        &self,
        ws: &WorkspaceId,
        release: u64,
        now: Timestamp,
    ) -> StoreResult<()> {
        let update = "SET release_progress_ms = :now";
        self.update_draining_release(ws, release, update, now, false)
            .await
            .map(|_| ())
    }

    /// Applies `update` (with `:now`) while release `release` is the webhook's and still
    /// draining (and, `while_on`, the webhook on); true when it did.
    async fn update_draining_release(
        &self,
        ws: &WorkspaceId,
        release: u64,
        update: &str,
        now: Timestamp,
        while_on: bool,
    ) -> StoreResult<bool> {
        let draining = "release_nonce = :release AND attribute_not_exists(release_ended_ms)";
        let mut request = self
            .workspace_item_update(ws)
            .update_expression(update)
            .expression_attribute_values(":release", n(release))
            .expression_attribute_values(":now", n(now.millis()));
        request = match while_on {
            true => request
                .condition_expression(format!("{draining} AND enabled = :true"))
                .expression_attribute_values(":true", AttributeValue::Bool(true)),
            false => request.condition_expression(draining),
        };
        let result = request.send().await;
        Ok(applied("UpdateItem", result)?.is_some())
    }

    /// Replaces the secret at `now`; the old one keeps signing for `ROTATION_OVERLAP_MS`.
    pub async fn rotate_secret(
        &self,
        ws: &WorkspaceId,
        new_secret: &str,
        now: Timestamp,
    ) -> StoreResult<Option<Webhook>> {
        let before = self.filter_before_change(ws).await?;
        let result = self
            .workspace_item_update(ws)
            .update_expression(
                "SET previous_secret = secret, previous_secret_expires_ms = :expires, \
                 secret = :new, updated_at = :now",
            )
            .condition_expression(REGISTERED)
            .expression_attribute_values(":expires", n(now.millis() + ROTATION_OVERLAP_MS))
            .expression_attribute_values(":new", s(new_secret))
            .expression_attribute_values(":now", s(now.rfc3339()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        self.updated_webhook(ws, result, before).await
    }

    /// Counts `failures` more failed requests, after a success when `after_success` (the
    /// count then starts from zero); returns the new consecutive count. One atomic update.
    pub async fn count_failures(
        &self,
        ws: &WorkspaceId,
        failures: u32,
        after_success: bool,
        now: Timestamp,
    ) -> StoreResult<FailureCount> {
        // After a success the failures begin a new incident: its start is now, and its
        // warning is not sent yet.
        let expr = if after_success {
            "SET consecutive_failures = :k, failing_since_ms = :now REMOVE warned_ms"
        } else {
            "ADD consecutive_failures :k SET failing_since_ms = if_not_exists(failing_since_ms, :now)"
        };
        let out = self
            .workspace_item_update(ws)
            .update_expression(expr)
            .condition_expression(REGISTERED)
            .expression_attribute_values(":k", n(failures))
            .expression_attribute_values(":now", n(now.millis()))
            // ALL_NEW, not UPDATED_NEW: a SET to the value already there is not
            // "updated" everywhere (moto leaves it out), and the count must come back.
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        let item = out.attributes.unwrap_or_default();
        let count = number_attribute(&item, "consecutive_failures")
            .ok_or_else(|| StoreError::Corrupt("consecutive_failures not returned".into()))?;
        let since_ms = number_attribute(&item, "failing_since_ms").unwrap_or(now.millis());
        let warned = item.contains_key("warned_ms");
        Ok(FailureCount {
            count,
            since_ms,
            warned,
        })
    }

    /// A success: the count starts again from zero and the failure incident ends (no
    /// write when the count already is zero).
    pub async fn reset_failures(&self, ws: &WorkspaceId) -> StoreResult<()> {
        let result = self
            .workspace_item_update(ws)
            .update_expression(
                "SET consecutive_failures = :zero REMOVE failing_since_ms, warned_ms",
            )
            .condition_expression("consecutive_failures > :zero")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        applied("UpdateItem", result)?;
        Ok(())
    }

    /// Marks the current failure incident warned, if it was not yet, the webhook is on and
    /// the incident began at or before `began_by_ms`; true for the one caller that marked
    /// it (and so sends the warning).
    pub async fn claim_warning(
        &self,
        ws: &WorkspaceId,
        began_by_ms: i64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let result = self
            .workspace_item_update(ws)
            .update_expression("SET warned_ms = :now")
            .condition_expression(
                "attribute_not_exists(warned_ms) AND enabled = :on AND failing_since_ms <= :by",
            )
            .expression_attribute_values(":now", n(now.millis()))
            .expression_attribute_values(":on", AttributeValue::Bool(true))
            .expression_attribute_values(":by", n(began_by_ms))
            .send()
            .await;
        Ok(applied("UpdateItem", result)?.is_some())
    }

    /// Takes the workspace's turn for a test event at `now_ms`, unless one was sent less
    /// than `every_ms` before (one conditional write): a tenant cannot keep the api
    /// function waiting on its receiver. False when it is too soon or no webhook exists.
    pub async fn claim_test_event(
        &self,
        ws: &WorkspaceId,
        now_ms: i64,
        every_ms: i64,
    ) -> StoreResult<bool> {
        let result = self
            .workspace_item_update(ws)
            .update_expression("SET test_event_ms = :now")
            .condition_expression(
                "attribute_exists(secret) AND \
                 (attribute_not_exists(test_event_ms) OR test_event_ms <= :before)",
            )
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":before", n(now_ms - every_ms))
            .send()
            .await;
        Ok(applied("UpdateItem", result)?.is_some())
    }

    /// Marks the receiver slow until `until` (ms): no write when a mark already lasts
    /// past `refresh_after` (ms), so a slow receiver costs a write per few minutes.
    pub async fn mark_slow(
        &self,
        ws: &WorkspaceId,
        until: i64,
        refresh_after: i64,
    ) -> StoreResult<()> {
        let result = self
            .workspace_item_update(ws)
            .update_expression("SET slow_until_ms = :until")
            .condition_expression(
                "attribute_exists(secret) AND \
                 (attribute_not_exists(slow_until_ms) OR slow_until_ms < :refresh)",
            )
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":refresh", n(refresh_after))
            .send()
            .await;
        applied("UpdateItem", result)?;
        Ok(())
    }

    /// Disables an enabled webhook. True only for the one caller that actually switched
    /// it off, so the owner is emailed exactly once however many failures race here.
    pub async fn disable_webhook(
        &self,
        ws: &WorkspaceId,
        reason: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let result = self
            .workspace_item_update(ws)
            // The owner email is owed in the same write: it cannot be lost between the two.
            .update_expression(
                "SET enabled = :false, disabled_at = :at, disabled_reason = :why, \
                 owner_email_due = :why, off_since_ms = if_not_exists(off_since_ms, :at_ms)",
            )
            .condition_expression("enabled = :true")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":at", s(at.to_string()))
            .expression_attribute_values(":at_ms", n(at.millis()))
            .expression_attribute_values(":why", s(reason))
            .send()
            .await;
        Ok(applied("UpdateItem", result)?.is_some())
    }
}

/// The update expression of a settings save: saved on (a new release, the health and the
/// failure incident reset) or off; immediate (recording when); with chosen event types
/// (`:types`) and a filter (`:filter` on the item, or `:filter_ref` naming its own item and
/// `:filter` its placeholder), or without (the attributes removed).
fn settings_expression(
    enabled: bool,
    immediate: bool,
    (typed, filtered): (bool, FilterKind),
) -> String {
    let mut set = String::from(
        "SET #url = :url, enabled = :enabled, aggregation = :agg, continuous_conversation = :cc, \
         secret = if_not_exists(secret, :secret), updated_at = :now",
    );
    let mut remove: Vec<&str> = Vec::new();
    if immediate {
        set.push_str(", immediate_since_ms = :now_ms");
    }
    if typed {
        set.push_str(", event_types = :types");
    } else {
        remove.push("event_types");
    }
    // `filter` is a DynamoDB reserved word.
    match filtered {
        FilterKind::None => remove.extend(["#filter", FILTER_REF]),
        FilterKind::Inline => {
            set.push_str(", #filter = :filter");
            remove.push(FILTER_REF);
        }
        FilterKind::Apart => {
            set.push_str(&format!(", #filter = :filter, {FILTER_REF} = :filter_ref"))
        }
    }
    if enabled {
        // On: a new release starts (new deliveries wait behind it until it ends).
        set.push_str(
            ", release_nonce = :release, release_progress_ms = :saved_ms, consecutive_failures = :zero, \
             release_off_since_ms = if_not_exists(off_since_ms, :saved_ms)",
        );
        remove.extend([
            "disabled_at",
            "disabled_reason",
            "release_ended_ms",
            "failing_since_ms",
            "warned_ms",
        ]);
    } else {
        // Off since the oldest switch-off whose release has not ended with the webhook on
        // (docs/delivery.md, Order): not moved by a later save, nor by a switch-off
        // during that release.
        set.push_str(
            ", consecutive_failures = if_not_exists(consecutive_failures, :zero), \
             off_since_ms = if_not_exists(off_since_ms, :saved_ms)",
        );
    }
    if !remove.is_empty() {
        set.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    format!("{set} ADD settings_version :one")
}

/// The webhook of a workspace item, if one is registered.
pub(super) fn webhook_of(item: Option<Item>) -> StoreResult<Option<Webhook>> {
    match item {
        Some(item) if item.contains_key("secret") => Ok(Some(serde_dynamo::from_item(item)?)),
        _ => Ok(None),
    }
}

/// The error of a save to a workspace that has no item.
fn no_item(ws: &WorkspaceId) -> StoreError {
    StoreError::Corrupt(format!("workspace {ws} has no item"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_save_on_ends_the_incident_and_a_cleared_subscription_is_removed() {
        use super::FilterKind;
        let on = super::settings_expression(true, false, (false, FilterKind::None));
        assert!(
            on.contains("REMOVE event_types, #filter, filter_ref, disabled_at"),
            "{on}"
        );
        assert!(on.contains("failing_since_ms, warned_ms ADD"), "{on}");
        assert!(on.contains("release_off_since_ms = if_not_exists(off_since_ms, :saved_ms)"));
        let off = super::settings_expression(false, true, (true, FilterKind::Inline));
        assert!(
            off.contains("event_types = :types, #filter = :filter"),
            "{off}"
        );
        assert!(off.contains("REMOVE filter_ref"), "{off}");
        let apart = super::settings_expression(false, false, (false, FilterKind::Apart));
        assert!(
            apart.contains(", #filter = :filter, filter_ref = :filter_ref"),
            "{apart}"
        );
        assert!(apart.contains("REMOVE event_types ADD"), "{apart}");
        assert!(off.contains("immediate_since_ms = :now_ms"), "{off}");
        // Off since the first switch-off: not moved by a later save.
        assert!(off.contains("off_since_ms = if_not_exists(off_since_ms, :saved_ms)"));
    }
}

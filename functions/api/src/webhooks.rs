//! `/v1/webhooks/outbound`: settings, status and activity, the request log, enable and
//! secret rotation. Every answer that carries the signing secret is `no-store`.

use crate::release::{resume, Resumed};
use crate::views::{
    DeliveriesByHour, EnabledView, RequestLog, WebhookSettingsRequest, WebhookView,
};
use crate::ApiState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use outflow::domain::{
    ActivityAction, ActivityEntry, Aggregation, DeliveryFilter, EventType, Grant, Notice, Scope,
    Subscription, Webhook, WebhookSettings, WorkspaceId, MAX_FILTER_ACCOUNTS, MAX_FILTER_CHATS,
};
use outflow::formats::limits::{MAX_ID_BYTES, MAX_SHORT_FIELD_BYTES, MAX_URL_BYTES};
use outflow::http::{ApiError, ErrorBody, JsonBody, ManageEndpoints, NoStore, WebhookOwner};
use outflow::signing::generate_secret;

/// The refusal when no webhook is registered yet.
const NO_WEBHOOK: ApiError = ApiError::NotFound("no webhook is registered");

impl ApiState {
    /// The view of `webhook` with its recent activity (its secret for who may manage it).
    pub(crate) async fn view(
        &self,
        ws: &WorkspaceId,
        webhook: &Webhook,
        grant: &Grant,
    ) -> Result<WebhookView, ApiError> {
        let activity = self.store.recent_activity(ws).await?;
        let with_secret = grant.allows(Scope::EndpointsManage);
        Ok(WebhookView::new(
            webhook,
            activity,
            self.clock.now(),
            with_secret,
        ))
    }

    pub(crate) async fn record(
        &self,
        ws: &WorkspaceId,
        action: ActivityAction,
        detail: String,
    ) -> Result<(), ApiError> {
        let entry = ActivityEntry::new(self.clock.now(), action, detail);
        Ok(self.store.record_activity(ws, &entry).await?)
    }
}

/// The filter asked for, within its limits (an empty one is no filter).
fn checked_filter(asked: Option<DeliveryFilter>) -> Result<Option<DeliveryFilter>, ApiError> {
    let Some(filter) = asked.filter(|f| !f.is_empty()) else {
        return Ok(None);
    };
    let too_many = |field: &str, max: usize| {
        ApiError::invalid(format!("filter.{field}"), format!("lists more than {max}"))
    };
    if filter.chat_ids.len() > MAX_FILTER_CHATS {
        return Err(too_many("chat_ids", MAX_FILTER_CHATS));
    }
    if filter.accounts.len() > MAX_FILTER_ACCOUNTS {
        return Err(too_many("accounts", MAX_FILTER_ACCOUNTS));
    }
    let ids = filter.chat_ids.iter().map(|c| c.as_str());
    for (i, id) in ids.enumerate() {
        if id.is_empty() || id.len() > MAX_ID_BYTES {
            let why = format!("must be 1 to {MAX_ID_BYTES} bytes");
            return Err(ApiError::invalid(format!("filter.chat_ids[{i}]"), why));
        }
    }
    for (i, account) in filter.accounts.iter().enumerate() {
        if account.is_empty() || account.len() > MAX_SHORT_FIELD_BYTES {
            let why = format!("must be 1 to {MAX_SHORT_FIELD_BYTES} bytes");
            return Err(ApiError::invalid(format!("filter.accounts[{i}]"), why));
        }
    }
    Ok(Some(filter))
}

/// The event types asked for, each one a webhook can subscribe to (sorted, once each).
fn event_types(asked: Option<Vec<EventType>>) -> Result<Option<Vec<EventType>>, ApiError> {
    let Some(mut types) = asked else {
        return Ok(None);
    };
    if let Some(i) = types
        .iter()
        .position(|t| !EventType::SUBSCRIBABLE.contains(t))
    {
        return Err(ApiError::invalid(
            format!("event_types[{i}]"),
            format!("{} is not an event type to subscribe to", types[i]),
        ));
    }
    types.sort();
    types.dedup();
    Ok(Some(types))
}

/// The sentence the activity log keeps for a save.
fn saved_detail(webhook: &Webhook, resumed: &Resumed) -> String {
    let state = if webhook.enabled {
        "enabled"
    } else {
        "disabled"
    };
    let mut detail = format!(
        "Settings saved: {} ({state}, aggregation {})",
        webhook.url, webhook.aggregation
    );
    if resumed.deliveries > 0 {
        detail.push_str(&format!(
            "; {} held deliveries re-queued",
            released(resumed)
        ));
    }
    if resumed.windows > 0 {
        let scheduled = resumed.windows;
        detail.push_str(&format!("; {scheduled} pending windows scheduled"));
    }
    detail
}

/// The count of released deliveries, in words ("at least" when not all were counted).
fn released(resumed: &Resumed) -> String {
    match resumed.counted_all {
        true => resumed.deliveries.to_string(),
        false => format!("at least {}", resumed.deliveries),
    }
}

/// Registers or changes the webhook; the URL is checked against the SSRF policy (at
/// registration and again at every send). Saving it enabled re-sends what it held.
#[utoipa::path(
    put, path = "/v1/webhooks/outbound", tag = "webhook",
    security(("tenant_key" = []), ("portal_link" = [])),
    request_body = WebhookSettingsRequest,
    responses(
        (status = 200, description = "Saved", body = WebhookView),
        (status = 400, description = "A field is invalid", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `endpoints:manage`", body = ErrorBody),
        (status = 422, description = "The URL points inside our network or does not resolve", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<ApiState>,
    tenant: WebhookOwner<ManageEndpoints>,
    JsonBody(request): JsonBody<WebhookSettingsRequest>,
) -> Result<NoStore<Json<WebhookView>>, ApiError> {
    let ws = tenant.workspace;
    let save = Save {
        url: request.url,
        enabled: request.enabled,
        aggregation: request.aggregation.unwrap_or_default(),
        continuous_conversation: request.continuous_conversation,
        event_types: request.event_types,
        filter: request.filter,
        description: None,
    };
    let webhook = save_settings(&state, &ws, save).await?;
    Ok(NoStore(Json(
        state.view(&ws, &webhook, &tenant.grant).await?,
    )))
}

/// Longest endpoint description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 256;

/// Settings to save, as asked (checked by `save_settings`).
pub(crate) struct Save {
    /// Where deliveries go.
    pub url: String,
    /// On or off.
    pub enabled: bool,
    /// Granularity.
    pub aggregation: Aggregation,
    /// One conversation per contact.
    pub continuous_conversation: bool,
    /// The event types (`None`: the message types).
    pub event_types: Option<Vec<EventType>>,
    /// The filter (`None` or empty: every chat).
    pub filter: Option<DeliveryFilter>,
    /// A new description (`None`: the saved one stays).
    pub description: Option<String>,
}

/// The lengths checked, and what the settings subscribe to (taken out of `save`).
fn checked(save: &mut Save) -> Result<Subscription, ApiError> {
    if save.url.len() > MAX_URL_BYTES {
        return Err(ApiError::invalid(
            "url",
            format!("is longer than {MAX_URL_BYTES} bytes"),
        ));
    }
    if save
        .description
        .as_ref()
        .is_some_and(|d| d.len() > MAX_DESCRIPTION_BYTES)
    {
        let why = format!("is longer than {MAX_DESCRIPTION_BYTES} bytes");
        return Err(ApiError::invalid("description", why));
    }
    Ok(Subscription {
        event_types: event_types(save.event_types.take())?,
        filter: checked_filter(save.filter.take())?,
    })
}

/// Checks and saves the settings of a delivery scope (the workspace's webhook, or one of
/// its endpoints): the owner is told of a URL change, saving it on re-sends what it
/// held, and the activity says what happened.
pub(crate) async fn save_settings(
    state: &ApiState,
    ws: &WorkspaceId,
    save: Save,
) -> Result<Webhook, ApiError> {
    let saved = write_settings(state, ws, save, None).await?;
    // Only a save that registers is ever not written.
    saved.ok_or_else(|| ApiError::Unavailable("settings not saved; retry".into()))
}

/// The same for the webhook of a workspace that has none (its first endpoint), marked as
/// made by `registrant` (`domain::registrant`), unless one is registered meanwhile:
/// `None` then, and nothing changed. Of two first creates at once, one never replaces the
/// other's.
pub(crate) async fn register_settings(
    state: &ApiState,
    ws: &WorkspaceId,
    save: Save,
    registrant: String,
) -> Result<Option<Webhook>, ApiError> {
    write_settings(state, ws, save, Some(registrant)).await
}

/// `save_settings`, or with a registrant `register_settings`.
async fn write_settings(
    state: &ApiState,
    ws: &WorkspaceId,
    mut save: Save,
    registers: Option<String>,
) -> Result<Option<Webhook>, ApiError> {
    let subscription = checked(&mut save)?;
    let before = state.store.webhook_as_stored(ws).await?.map(|w| w.url);
    if registers.is_some() && before.is_some() {
        return Ok(None);
    }
    let url = (state.url_policy)
        .check_changed(&save.url, before.as_deref())
        .await?;
    let settings = WebhookSettings {
        url: url.to_string(),
        enabled: save.enabled,
        aggregation: save.aggregation,
        continuous_conversation: save.continuous_conversation,
        new_secret: generate_secret(),
        saved_at: state.arrival.now(),
        release_nonce: rand::random(),
        registers,
    };
    let description = save.description.as_deref();
    let saved = (state.store)
        .put_described(ws, &settings, &subscription, description)
        .await?;
    // Registered meanwhile by another request (its write between the read and this).
    let Some(webhook) = saved else {
        return Ok(None);
    };
    // Told at once: a later step's error must not leave the change unreported.
    // Registering the webhook is no change; an endpoint made is told once it is listed.
    if let Some(from) = before.filter(|from| *from != webhook.url) {
        let to = webhook.url.clone();
        let notice = Notice::UrlChanged { from, to };
        state.notices.send(ws, &notice, state.clock.now()).await;
    }
    let resumed = if webhook.enabled {
        let release = (ws, settings.release_nonce);
        resume(
            &state.store,
            &state.queue,
            release,
            webhook.aggregation,
            settings.saved_at,
        )
        .await?
    } else {
        Default::default()
    };
    let detail = saved_detail(&webhook, &resumed);
    state
        .record(ws, ActivityAction::SettingsUpdated, detail)
        .await?;
    tracing::info!(workspace_id = %ws, "webhook settings updated");
    Ok(Some(webhook))
}

/// The settings, status and the 10 most recent actions.
#[utoipa::path(
    get, path = "/v1/webhooks/outbound", tag = "webhook",
    security(("tenant_key" = []), ("portal_link" = [])),
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope this needs", body = ErrorBody),
        (status = 404, description = "No webhook registered", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<ApiState>,
    tenant: WebhookOwner,
) -> Result<NoStore<Json<WebhookView>>, ApiError> {
    let ws = tenant.workspace;
    let webhook = state.store.webhook(&ws).await?.ok_or(NO_WEBHOOK)?;
    Ok(NoStore(Json(
        state.view(&ws, &webhook, &tenant.grant).await?,
    )))
}

/// Requests per hour over the last 24 hours (the portal's chart): one Query.
#[utoipa::path(
    get, path = "/v1/webhooks/outbound/deliveries", tag = "webhook",
    security(("tenant_key" = []), ("portal_link" = [])),
    responses(
        (status = 200, description = "Succeeded and failed requests per hour", body = DeliveriesByHour),
        (status = 401, description = "Missing or invalid credential", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `logs:read`", body = ErrorBody),
    )
)]
pub async fn deliveries(
    State(state): State<ApiState>,
    owner: WebhookOwner,
) -> Result<Json<DeliveriesByHour>, ApiError> {
    let hours = state
        .store
        .hourly_counts(&owner.workspace, state.clock.now(), 24)
        .await?;
    Ok(Json(DeliveriesByHour {
        succeeded: hours.iter().map(|h| h.succeeded).sum(),
        failed: hours.iter().map(|h| h.failed).sum(),
        hours,
    }))
}

/// The 100 most recent requests with everything sent and received, as a JSON download
/// (never cached: it holds the customers' messages).
#[utoipa::path(
    get, path = "/v1/webhooks/outbound/log", tag = "webhook",
    security(("tenant_key" = []), ("portal_link" = [])),
    responses(
        (status = 200, description = "The log (an attachment)", body = RequestLog),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `logs:read`", body = ErrorBody),
    )
)]
pub async fn log(
    State(state): State<ApiState>,
    tenant: WebhookOwner,
) -> Result<Response, ApiError> {
    let ws = tenant.workspace;
    let requests = state.store.recent_requests(&ws).await?;
    let disposition = format!("attachment; filename=\"outflow-webhook-log-{ws}.json\"");
    Ok(NoStore((
        [(header::CONTENT_DISPOSITION, disposition)],
        Json(RequestLog { requests }),
    ))
    .into_response())
}

/// Switches the webhook back on, resets its failure count and re-sends what it held.
#[utoipa::path(
    post, path = "/v1/webhooks/outbound/enable", tag = "webhook",
    security(("tenant_key" = []), ("portal_link" = [])),
    responses(
        (status = 200, description = "Enabled", body = EnabledView),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope this needs", body = ErrorBody),
        (status = 404, description = "No webhook registered", body = ErrorBody),
    )
)]
pub async fn enable(
    State(state): State<ApiState>,
    tenant: WebhookOwner<ManageEndpoints>,
) -> Result<NoStore<Json<EnabledView>>, ApiError> {
    let ws = tenant.workspace;
    let release = rand::random();
    // On the arrival clock, as ingest reads the release's phase (the same clock in AWS).
    let now = state.arrival.now();
    let webhook = state
        .store
        .enable_webhook(&ws, release, now)
        .await?
        .ok_or(NO_WEBHOOK)?;
    let resumed = resume(
        &state.store,
        &state.queue,
        (&ws, release),
        webhook.aggregation,
        now,
    )
    .await?;
    let detail = format!(
        "Webhook enabled; failure count reset; {} held deliveries re-queued; {} pending windows scheduled",
        released(&resumed),
        resumed.windows
    );
    state.record(&ws, ActivityAction::Enabled, detail).await?;
    tracing::info!(workspace_id = %ws, released = resumed.deliveries, "webhook enabled");
    Ok(NoStore(Json(EnabledView {
        webhook: state.view(&ws, &webhook, &tenant.grant).await?,
        released: resumed.deliveries,
        windows_scheduled: resumed.windows,
    })))
}

/// A new signing secret; for 24 hours deliveries carry signatures of both the new and the
/// previous secret, so receivers can switch without losing any.
#[utoipa::path(
    post, path = "/v1/webhooks/outbound/rotate-secret", tag = "webhook",
    security(("tenant_key" = []), ("portal_link" = [])),
    responses(
        (status = 200, description = "Rotated", body = WebhookView),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope this needs", body = ErrorBody),
        (status = 404, description = "No webhook registered", body = ErrorBody),
    )
)]
pub async fn rotate_secret(
    State(state): State<ApiState>,
    tenant: WebhookOwner<ManageEndpoints>,
) -> Result<NoStore<Json<WebhookView>>, ApiError> {
    let ws = tenant.workspace;
    let now = state.clock.now();
    let webhook = state
        .store
        .rotate_secret(&ws, &generate_secret(), now)
        .await?
        .ok_or(NO_WEBHOOK)?;
    state.notices.send(&ws, &Notice::SecretRotated, now).await;
    let detail = "Signing secret rotated; the previous secret also signs for 24 hours";
    state
        .record(&ws, ActivityAction::SecretRotated, detail.into())
        .await?;
    tracing::info!(workspace_id = %ws, "signing secret rotated");
    Ok(NoStore(Json(
        state.view(&ws, &webhook, &tenant.grant).await?,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_is_described_with_what_it_put_back_in_motion() {
        let mut webhook = Webhook {
            url: "https://r.example/h".into(),
            enabled: true,
            aggregation: Aggregation::Hours6,
            secret: "whsec_x".into(),
            continuous_conversation: false,
            consecutive_failures: 0,
            disabled_at: None,
            disabled_reason: None,
            previous_secret: None,
            previous_secret_expires_ms: None,
            settings_version: 1,
            immediate_since_ms: None,
            owner_email_due: None,
            owner_emails_day: None,
            owner_emails_sent: 0,
            release_nonce: None,
            release_ended_ms: None,
            release_progress_ms: None,
            off_since_ms: None,
            release_off_since_ms: None,
            slow_until_ms: None,
            event_types: None,
            filter: None,
            description: None,
            deleted_ms: None,
            registered_by: None,
        };
        assert_eq!(
            saved_detail(&webhook, &Resumed::default()),
            "Settings saved: https://r.example/h (enabled, aggregation 6h)"
        );
        webhook.enabled = false;
        assert_eq!(
            saved_detail(&webhook, &resumed(3, true, 2)),
            "Settings saved: https://r.example/h (disabled, aggregation 6h); 3 held deliveries re-queued; 2 pending windows scheduled"
        );
        assert_eq!(
            saved_detail(&webhook, &resumed(2000, false, 0)),
            "Settings saved: https://r.example/h (disabled, aggregation 6h); at least 2000 held deliveries re-queued"
        );
    }

    fn resumed(deliveries: usize, counted_all: bool, windows: usize) -> Resumed {
        Resumed {
            deliveries,
            counted_all,
            windows,
        }
    }
}

//! Re-sending on the tenant's request: everything that ran out of attempts (or is still
//! held) since an instant, or one request from the log. The same `webhook-id` goes out
//! again, so receivers that already processed a delivery can drop it.

use crate::release;
use crate::views::{ReplayRequest, Replayed, ResendQueued};
use crate::ApiState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use outflow::domain::{
    ActivityAction, ActivityEntry, DeliveryEnvelope, EventType, ReleasePhase, RequestId, Timestamp,
    Webhook, WorkspaceId,
};
use outflow::http::{ApiError, ErrorBody, JsonBody, ManageEndpoints, WebhookOwner};

/// Replay and resend only make sense towards a webhook that is on; a disabled one keeps
/// everything anyway and re-sends it when enabled.
async fn require_enabled(state: &ApiState, ws: &WorkspaceId) -> Result<Webhook, ApiError> {
    let webhook = state
        .store
        .webhook_as_stored(ws)
        .await?
        .ok_or(ApiError::NotFound("no webhook is registered"))?;
    if !webhook.enabled {
        return Err(ApiError::Conflict(
            "the webhook is disabled: POST /v1/webhooks/outbound/enable re-sends what it held",
        ));
    }
    Ok(webhook)
}

/// Re-queues every dead letter and held delivery created at or after `since`, oldest
/// first: counted now, put back by the sender in steps (each page forgotten only after
/// SQS took it), so the answer does not wait for thousands.
#[utoipa::path(
    post, path = "/v1/webhooks/outbound/replay", tag = "webhook",
    security(("tenant_key" = []), ("portal_link" = [])),
    request_body = ReplayRequest,
    responses(
        (status = 202, description = "Re-queued", body = Replayed),
        (status = 400, description = "`since` is not an RFC 3339 instant", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `endpoints:manage`", body = ErrorBody),
        (status = 404, description = "No webhook registered", body = ErrorBody),
        (status = 409, description = "The webhook is disabled (enable re-sends what it held)", body = ErrorBody),
    )
)]
pub async fn replay(
    State(state): State<ApiState>,
    tenant: WebhookOwner<ManageEndpoints>,
    JsonBody(request): JsonBody<ReplayRequest>,
) -> Result<(StatusCode, Json<Replayed>), ApiError> {
    let ws = tenant.workspace;
    let since = Timestamp::parse(&request.since).ok_or_else(|| {
        ApiError::invalid(
            "since",
            "must be an RFC 3339 date-time, e.g. 2026-01-21T05:00:00Z",
        )
    })?;
    let webhook = require_enabled(&state, &ws).await?;
    // While an enable's release drains, what is held is its to put back (in order).
    let draining = matches!(
        webhook.release_phase(state.arrival.now()),
        ReleasePhase::Draining(_)
    );
    let (store, queue) = (&state.store, &state.queue);
    let (dead_letters, held) = release::replay(store, queue, &ws, since, draining).await?;
    let detail = format!(
        "Replay since {}: {dead_letters} failed and {held} held deliveries being re-queued",
        since.rfc3339()
    );
    let entry = ActivityEntry::new(state.clock.now(), ActivityAction::Replayed, detail);
    state.store.record_activity(&ws, &entry).await?;
    tracing::info!(workspace_id = %ws, dead_letters, held, "replay");
    Ok((
        StatusCode::ACCEPTED,
        Json(Replayed {
            since: since.rfc3339(),
            replayed: dead_letters + held,
            dead_letters,
            held,
        }),
    ))
}

/// Sends that request's delivery again (same body, same `webhook-id`, freshly signed).
#[utoipa::path(
    post, path = "/v1/webhooks/outbound/log/{request_id}/resend", tag = "webhook",
    security(("tenant_key" = []), ("portal_link" = [])),
    params(("request_id" = String, Path, description = "A request id from the log")),
    responses(
        (status = 202, description = "Queued", body = ResendQueued),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `endpoints:manage`", body = ErrorBody),
        (status = 404, description = "No such request in the log (or no webhook)", body = ErrorBody),
        (status = 409, description = "The webhook is disabled", body = ErrorBody),
    )
)]
pub async fn resend(
    State(state): State<ApiState>,
    tenant: WebhookOwner<ManageEndpoints>,
    Path(request_id): Path<String>,
) -> Result<(StatusCode, Json<ResendQueued>), ApiError> {
    resend_request(&state, &tenant.workspace, &request_id).await
}

/// Queues the delivery of request `request_id` of a delivery scope's log again.
pub(crate) async fn resend_request(
    state: &ApiState,
    ws: &WorkspaceId,
    request_id: &str,
) -> Result<(StatusCode, Json<ResendQueued>), ApiError> {
    let (id, millis) = RequestId::parse_timed(request_id)
        .ok_or(ApiError::NotFound("no such request in the log"))?;
    let entry = state
        .store
        .logged_request(ws, &id, millis)
        .await?
        .ok_or(ApiError::NotFound("no such request in the log"))?;
    if entry.request_body_cut.is_some() {
        return Err(ApiError::Conflict(
            "the log keeps only the start of this request's body (it was too large to keep \
             whole), so it cannot be resent from the log; replay re-sends dead letters",
        ));
    }
    require_enabled(state, ws).await?;
    let now = state.clock.now();
    let envelope = DeliveryEnvelope {
        workspace_id: ws.clone(),
        delivery_id: entry.delivery_id.clone(),
        created_at: now,
        sequence: 0,
        chat_id: entry.chat_id.clone(),
        body: entry.request_body,
        summary: Some(format!("resend of request {id}")),
        event_type: entry
            .request_headers
            .get(outflow::delivery::attempt::EVENT_TYPE_HEADER)
            .and_then(|name| EventType::parse(name)),
        released_by: None,
    };
    let resent = std::slice::from_ref(&envelope);
    state.store.forget_attempts(resent).await?;
    state.queue.send(resent).await?;
    let detail = format!("Resend of request {id} ({}) queued", entry.delivery_id);
    let activity = ActivityEntry::new(now, ActivityAction::ResendRequested, detail);
    state.store.record_activity(ws, &activity).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ResendQueued {
            request_id: id,
            delivery_id: entry.delivery_id,
            queued: true,
        }),
    ))
}

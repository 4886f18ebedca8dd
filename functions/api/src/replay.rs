//! Re-sending on the tenant's request: everything that ran out of attempts (or is still
//! held) since an instant, or one request from the log. The same `webhook-id` goes out
//! again, so receivers that already processed a delivery can drop it.

use crate::release::requeue_kept;
use crate::ApiState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use outflow::domain::{RequestId, Timestamp, WorkspaceId};
use outflow::http::{require_workspace, ApiError, LimitedBody};
use outflow::queue::DeliveryEnvelope;
use outflow::store::{ActivityEntry, Kept};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    since: String,
}

/// Replay and resend only make sense towards a webhook that is on; a disabled one keeps
/// everything anyway and re-sends it when enabled.
async fn require_enabled(state: &ApiState, ws: &WorkspaceId) -> Result<(), ApiError> {
    let webhook = state
        .store
        .webhook(ws)
        .await?
        .ok_or(ApiError::NotFound("no webhook is registered"))?;
    if !webhook.enabled {
        return Err(ApiError::Conflict(
            "the webhook is disabled: POST /v1/webhooks/outbound/enable re-sends what it held",
        ));
    }
    Ok(())
}

/// `POST /replay {"since"}`: re-queues every dead letter and held delivery created at or
/// after `since`, oldest first. Each page is forgotten only after SQS took it.
pub async fn replay(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: LimitedBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let ws = require_workspace(&state.store, &headers).await?;
    let request: ReplayRequest = body.json()?;
    let since = Timestamp::parse(&request.since).ok_or_else(|| {
        ApiError::invalid(
            "since",
            "must be an RFC 3339 date-time, e.g. 2026-01-21T05:00:00Z",
        )
    })?;
    require_enabled(&state, &ws).await?;
    let (store, queue) = (&state.store, &state.queue);
    let dead_letters = requeue_kept(store, queue, &ws, Kept::DeadLetter, since.millis()).await?;
    let held = requeue_kept(store, queue, &ws, Kept::Held, since.millis()).await?;
    let detail = format!(
        "Replay since {}: {dead_letters} failed and {held} held deliveries re-queued",
        since.rfc3339()
    );
    state
        .store
        .record_activity(&ws, &ActivityEntry::now("replayed", detail))
        .await?;
    tracing::info!(workspace_id = %ws, dead_letters, held, "replay");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "since": since.rfc3339(),
            "replayed": dead_letters + held,
            "dead_letters": dead_letters,
            "held": held,
        })),
    ))
}

/// `POST /log/{request_id}/resend`: sends that request's delivery again (same body, same
/// `webhook-id`, freshly signed).
pub async fn resend(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(request_id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let ws = require_workspace(&state.store, &headers).await?;
    let (id, millis) = RequestId::parse_timed(&request_id)
        .ok_or(ApiError::NotFound("no such request in the log"))?;
    let entry = state
        .store
        .logged_request(&ws, &id, millis)
        .await?
        .ok_or(ApiError::NotFound("no such request in the log"))?;
    require_enabled(&state, &ws).await?;
    let envelope = DeliveryEnvelope {
        workspace_id: ws.clone(),
        delivery_id: entry.delivery_id.clone(),
        created_at: Timestamp::now(),
        sequence: 0,
        chat_id: entry.chat_id.clone(),
        body: entry.request_body,
        summary: Some(format!("resend of request {id}")),
    };
    state.queue.send(std::slice::from_ref(&envelope)).await?;
    let detail = format!("Resend of request {id} ({}) queued", entry.delivery_id);
    state
        .store
        .record_activity(&ws, &ActivityEntry::now("resend_requested", detail))
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "request_id": id, "delivery_id": entry.delivery_id, "queued": true })),
    ))
}

//! `/v1/webhooks/outbound`: settings, status and activity, the request log, and enable.

use crate::release::resume;
use crate::ApiState;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use outflow::domain::{Aggregation, Timestamp, WorkspaceId};
use outflow::formats::limits::MAX_URL_BYTES;
use outflow::http::{require_workspace, ApiError, LimitedBody};
use outflow::signing::generate_secret;
use outflow::store::webhooks::WebhookUpdate;
use outflow::store::{ActivityEntry, WebhookRecord};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct SettingsRequest {
    url: String,
    #[serde(default = "default_true")]
    enabled: bool,
    #[serde(default)]
    aggregation: Option<String>,
    #[serde(default)]
    continuous_conversation: bool,
}

fn default_true() -> bool {
    true
}

fn view(record: &WebhookRecord, activity: Option<Vec<ActivityEntry>>) -> Value {
    let mut body = json!({
        "url": record.url,
        "enabled": record.enabled,
        "aggregation": record.aggregation,
        "continuous_conversation": record.continuous_conversation,
        "secret": record.secret,
        "status": record.status(),
    });
    let now = chrono::Utc::now().timestamp_millis();
    if let Some(expires) = record.previous_secret_expires_ms.filter(|e| *e > now) {
        body["previous_secret_expires_at"] = json!(Timestamp::from_unix(expires / 1000));
    }
    if let Some(activity) = activity {
        body["activity"] = json!(activity);
    }
    body
}

async fn view_with_activity(
    state: &ApiState,
    ws: &WorkspaceId,
    record: &WebhookRecord,
) -> Result<Value, ApiError> {
    let activity = state.store.recent_activity(ws).await?;
    Ok(view(record, Some(activity)))
}

/// `PUT`: registers or changes the webhook; the URL is checked against the SSRF policy.
pub async fn update(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: LimitedBody,
) -> Result<Json<Value>, ApiError> {
    let ws = require_workspace(&state.store, &headers).await?;
    let request: SettingsRequest = body.json()?;
    if request.url.len() > MAX_URL_BYTES {
        return Err(ApiError::invalid(
            "url",
            format!("is longer than {MAX_URL_BYTES} bytes"),
        ));
    }
    let aggregation = match request.aggregation.as_deref() {
        None => Aggregation::None,
        Some(text) => Aggregation::parse(text).ok_or_else(|| {
            ApiError::invalid(
                "aggregation",
                format!("must be one of {}", Aggregation::ACCEPTED),
            )
        })?,
    };
    let url = state.url_policy.check(&request.url).await?;
    let update = WebhookUpdate {
        url: url.to_string(),
        enabled: request.enabled,
        aggregation,
        continuous_conversation: request.continuous_conversation,
        new_secret: generate_secret(),
        saved_at: state.clock.now(),
    };
    let record = state.store.put_webhook(&ws, &update).await?;
    let mut detail = format!(
        "Settings saved: {} ({}, aggregation {})",
        record.url,
        if record.enabled {
            "enabled"
        } else {
            "disabled"
        },
        serde_json::to_value(record.aggregation)
            .unwrap_or_default()
            .as_str()
            .unwrap_or_default()
    );
    if record.enabled {
        let resumed = resume(&state.store, &state.queue, &ws, record.aggregation).await?;
        if resumed.deliveries > 0 {
            detail.push_str(&format!(
                "; {} held deliveries re-queued",
                resumed.deliveries
            ));
        }
        if resumed.windows > 0 {
            detail.push_str(&format!("; {} pending windows scheduled", resumed.windows));
        }
    }
    state
        .store
        .record_activity(&ws, &ActivityEntry::now("settings_updated", detail))
        .await?;
    tracing::info!(workspace_id = %ws, "webhook settings updated");
    Ok(Json(view_with_activity(&state, &ws, &record).await?))
}

/// `GET`: the settings, status and the 10 most recent actions.
pub async fn show(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let ws = require_workspace(&state.store, &headers).await?;
    let record = state
        .store
        .webhook(&ws)
        .await?
        .ok_or(ApiError::NotFound("no webhook is registered"))?;
    Ok(Json(view_with_activity(&state, &ws, &record).await?))
}

/// `GET /log`: the 100 most recent requests, as a JSON download.
pub async fn log(State(state): State<ApiState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let ws = require_workspace(&state.store, &headers).await?;
    let requests = state.store.recent_requests(&ws).await?;
    let disposition = format!("attachment; filename=\"outflow-webhook-log-{ws}.json\"");
    Ok((
        [(header::CONTENT_DISPOSITION, disposition)],
        Json(json!({ "requests": requests })),
    )
        .into_response())
}

/// `POST /enable`: switches the webhook back on, resets the count, re-sends held deliveries.
pub async fn enable(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let ws = require_workspace(&state.store, &headers).await?;
    let record = state
        .store
        .enable_webhook(&ws)
        .await?
        .ok_or(ApiError::NotFound("no webhook is registered"))?;
    let resumed = resume(&state.store, &state.queue, &ws, record.aggregation).await?;
    let released = resumed.deliveries;
    let detail = format!(
        "Webhook enabled; failure count reset; {released} held deliveries re-queued; {} pending windows scheduled",
        resumed.windows
    );
    state
        .store
        .record_activity(&ws, &ActivityEntry::now("enabled", detail))
        .await?;
    tracing::info!(workspace_id = %ws, released, "webhook enabled");
    let mut body = view_with_activity(&state, &ws, &record).await?;
    body["released"] = json!(released);
    body["windows_scheduled"] = json!(resumed.windows);
    Ok(Json(body))
}

/// `POST /rotate-secret`: a new signing secret; for 24 hours deliveries carry signatures
/// of both the new and the previous secret, so receivers can switch without losing any.
pub async fn rotate_secret(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let ws = require_workspace(&state.store, &headers).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let record = state
        .store
        .rotate_secret(&ws, &generate_secret(), now)
        .await?
        .ok_or(ApiError::NotFound("no webhook is registered"))?;
    let detail = "Signing secret rotated; the previous secret also signs for 24 hours";
    state
        .store
        .record_activity(&ws, &ActivityEntry::now("secret_rotated", detail))
        .await?;
    tracing::info!(workspace_id = %ws, "signing secret rotated");
    Ok(Json(view_with_activity(&state, &ws, &record).await?))
}

//! `POST /v1/webhooks/outbound/test`: the seed's example message, signed like any
//! delivery, sent now to the saved URL (through the same URL policy) and answered with
//! what the receiver said. It is logged and in the activity, but never counts toward the
//! failure limit and never disables the webhook. One per workspace every 5 s, so no tenant
//! can keep the api function's few invocations waiting on a slow receiver.

use crate::views::TestEventSent;
use crate::ApiState;
use axum::extract::State;
use axum::Json;
use outflow::delivery::{attempt, Destination};
use outflow::domain::{
    ActivityAction, ActivityEntry, DeliveryEnvelope, DeliveryId, EventType, MessageId, Timestamp,
    WorkspaceId,
};
use outflow::http::{ApiError, ErrorBody, ManageEndpoints, WebhookOwner};
use std::time::Duration;

/// The test event's body: the seed's example message, marked as a test.
const BODY: &str = include_str!("test_event.json");
/// The longest a test waits for the receiver: the api function answers within 10 s.
pub const TEST_EVENT_TIMEOUT: Duration = Duration::from_secs(5);
/// One test event per workspace per this many seconds.
pub const TEST_EVENT_EVERY_SECS: u32 = 5;
/// How much of the receiver's answer is shown.
const SHOWN_BODY_BYTES: usize = 1_024;

/// Sends a signed test event to the saved URL and shows the answer.
#[utoipa::path(
    post, path = "/v1/webhooks/outbound/test", tag = "webhook",
    security(("tenant_key" = []), ("portal_link" = [])),
    responses(
        (status = 200, description = "Sent; what the receiver answered (or why it failed)", body = TestEventSent),
        (status = 401, description = "Missing or invalid credential", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `endpoints:manage`", body = ErrorBody),
        (status = 404, description = "No webhook registered", body = ErrorBody),
        (status = 429, description = "One test event per workspace every 5 s", body = ErrorBody),
    )
)]
pub async fn send(
    State(state): State<ApiState>,
    owner: WebhookOwner<ManageEndpoints>,
) -> Result<Json<TestEventSent>, ApiError> {
    let ws = owner.workspace;
    let webhook = state
        .store
        .webhook_as_stored(&ws)
        .await?
        .ok_or(ApiError::NotFound("no webhook is registered"))?;
    let now = state.clock.now();
    let every_ms = i64::from(TEST_EVENT_EVERY_SECS) * 1_000;
    if !state
        .store
        .claim_test_event(&ws, now.millis(), every_ms)
        .await?
    {
        return Err(ApiError::Throttled {
            limit: 1,
            window_secs: TEST_EVENT_EVERY_SECS,
            retry_after_secs: TEST_EVENT_EVERY_SECS,
        });
    }
    let envelope = test_envelope(&ws, now);
    let destination = Destination::check(&state.url_policy, &webhook.url);
    let secrets = webhook.signing_secrets(now);
    let mut sent = attempt(&state.test_client, &destination, &secrets, &envelope, now).await;
    let detail = match sent.succeeded() {
        true => format!("Test event delivered in {} ms", sent.latency_ms),
        false => format!("Test event failed: {}", sent.failure_text()),
    };
    let action = match sent.succeeded() {
        true => ActivityAction::Delivered,
        false => ActivityAction::DeliveryFailed,
    };
    let entry = ActivityEntry::new(now, action, detail);
    state
        .store
        .record_attempts(&ws, std::slice::from_mut(&mut sent), &[entry])
        .await?;
    let body = sent
        .response
        .as_ref()
        .map(|r| r.body[..r.body.floor_char_boundary(SHOWN_BODY_BYTES)].to_string());
    Ok(Json(TestEventSent {
        delivered: sent.succeeded(),
        status: sent.response.as_ref().map(|r| r.status),
        latency_ms: sent.latency_ms,
        body,
        error: sent.error.clone(),
        request_id: sent.request_id,
        webhook_id: envelope.delivery_id,
    }))
}

/// The test delivery: its own `webhook-id` each time, in no chat's order.
fn test_envelope(ws: &WorkspaceId, now: Timestamp) -> DeliveryEnvelope {
    let message = MessageId::new_unchecked(format!("outflow-test-event-{}", now.millis()));
    DeliveryEnvelope {
        workspace_id: ws.clone(),
        delivery_id: DeliveryId::for_message(ws, &message),
        created_at: now,
        sequence: 0,
        chat_id: None,
        body: BODY.to_string(),
        summary: Some("test event".into()),
        event_type: Some(EventType::MessageReceivedNew),
        released_by: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_event_is_the_seed_example_marked_as_a_test() {
        let body: serde_json::Value = serde_json::from_str(BODY).unwrap();
        assert_eq!(body["message"]["message_id"], "outflow-test-event");
        assert!(body["whatsapp_account"]["phone"].is_string());
        let ws = WorkspaceId::generate();
        assert_ne!(
            test_envelope(&ws, Timestamp::from_unix_millis(1).unwrap()).delivery_id,
            test_envelope(&ws, Timestamp::from_unix_millis(2).unwrap()).delivery_id,
            "a webhook-id of its own each time"
        );
    }
}

//! The routes the one webhook has, per endpoint: `/v1/endpoints/{endpoint_id}/...` runs
//! the `/v1/webhooks/outbound/...` handler on that endpoint's delivery scope, so every
//! endpoint has its own log, counts, enable, secret rotation, replay, resend and test.

use crate::endpoints::EndpointOwner;
use crate::views::{
    DeliveriesByHour, EnabledView, ReplayRequest, Replayed, RequestLog, ResendQueued,
    TestEventSent, WebhookView,
};
use crate::{replay, test_event, webhooks, ApiState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use outflow::http::{ApiError, ErrorBody, JsonBody, ManageEndpoints, NoStore};
use std::collections::HashMap;

/// The endpoint's 100 most recent requests (an attachment, never cached).
#[utoipa::path(
    get, path = "/v1/endpoints/{endpoint_id}/log", tag = "endpoints",
    security(("tenant_key" = []), ("portal_link" = [])),
    params(("endpoint_id" = String, Path, description = "`default` or `ep_...`")),
    responses(
        (status = 200, description = "The log (an attachment)", body = RequestLog),
        (status = 401, description = "Missing or invalid credential", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `logs:read`", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
    )
)]
pub async fn log(state: State<ApiState>, owner: EndpointOwner) -> Result<Response, ApiError> {
    webhooks::log(state, owner.owner).await
}

/// The endpoint's requests per hour over the last 24 hours.
#[utoipa::path(
    get, path = "/v1/endpoints/{endpoint_id}/deliveries", tag = "endpoints",
    security(("tenant_key" = []), ("portal_link" = [])),
    params(("endpoint_id" = String, Path, description = "`default` or `ep_...`")),
    responses(
        (status = 200, description = "Succeeded and failed requests per hour", body = DeliveriesByHour),
        (status = 401, description = "Missing or invalid credential", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `logs:read`", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
    )
)]
pub async fn deliveries(
    state: State<ApiState>,
    owner: EndpointOwner,
) -> Result<Json<DeliveriesByHour>, ApiError> {
    webhooks::deliveries(state, owner.owner).await
}

/// Switches the endpoint back on, resets its failure count and re-sends what it held.
#[utoipa::path(
    post, path = "/v1/endpoints/{endpoint_id}/enable", tag = "endpoints",
    security(("tenant_key" = []), ("portal_link" = [])),
    params(("endpoint_id" = String, Path, description = "`default` or `ep_...`")),
    responses(
        (status = 200, description = "Enabled", body = EnabledView),
        (status = 401, description = "Missing or invalid credential", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `endpoints:manage`", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
    )
)]
pub async fn enable(
    state: State<ApiState>,
    owner: EndpointOwner<ManageEndpoints>,
) -> Result<NoStore<Json<EnabledView>>, ApiError> {
    webhooks::enable(state, owner.owner).await
}

/// A new signing secret for the endpoint; the previous one also signs for 24 hours.
#[utoipa::path(
    post, path = "/v1/endpoints/{endpoint_id}/rotate-secret", tag = "endpoints",
    security(("tenant_key" = []), ("portal_link" = [])),
    params(("endpoint_id" = String, Path, description = "`default` or `ep_...`")),
    responses(
        (status = 200, description = "Rotated", body = WebhookView),
        (status = 401, description = "Missing or invalid credential", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `endpoints:manage`", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
    )
)]
pub async fn rotate_secret(
    state: State<ApiState>,
    owner: EndpointOwner<ManageEndpoints>,
) -> Result<NoStore<Json<WebhookView>>, ApiError> {
    webhooks::rotate_secret(state, owner.owner).await
}

/// Re-queues the endpoint's dead letters and held deliveries created since an instant.
#[utoipa::path(
    post, path = "/v1/endpoints/{endpoint_id}/replay", tag = "endpoints",
    security(("tenant_key" = []), ("portal_link" = [])),
    params(("endpoint_id" = String, Path, description = "`default` or `ep_...`")),
    request_body = ReplayRequest,
    responses(
        (status = 202, description = "Re-queued", body = Replayed),
        (status = 400, description = "`since` is not an RFC 3339 instant", body = ErrorBody),
        (status = 401, description = "Missing or invalid credential", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `endpoints:manage`", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 409, description = "The endpoint is disabled (enable re-sends what it held)", body = ErrorBody),
    )
)]
pub async fn replay(
    state: State<ApiState>,
    owner: EndpointOwner<ManageEndpoints>,
    request: JsonBody<ReplayRequest>,
) -> Result<(StatusCode, Json<Replayed>), ApiError> {
    replay::replay(state, owner.owner, request).await
}

/// Sends the delivery of one request of the endpoint's log again.
#[utoipa::path(
    post, path = "/v1/endpoints/{endpoint_id}/log/{request_id}/resend", tag = "endpoints",
    security(("tenant_key" = []), ("portal_link" = [])),
    params(
        ("endpoint_id" = String, Path, description = "`default` or `ep_...`"),
        ("request_id" = String, Path, description = "A request id from the endpoint's log"),
    ),
    responses(
        (status = 202, description = "Queued", body = ResendQueued),
        (status = 401, description = "Missing or invalid credential", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `endpoints:manage`", body = ErrorBody),
        (status = 404, description = "No such endpoint, or no such request in its log", body = ErrorBody),
        (status = 409, description = "The endpoint is disabled", body = ErrorBody),
    )
)]
pub async fn resend(
    State(state): State<ApiState>,
    owner: EndpointOwner<ManageEndpoints>,
    Path(params): Path<HashMap<String, String>>,
) -> Result<(StatusCode, Json<ResendQueued>), ApiError> {
    let request_id = params.get("request_id").map_or("", String::as_str);
    replay::resend_request(&state, &owner.owner.workspace, request_id).await
}

/// Sends a signed test event to the endpoint now and shows the answer.
#[utoipa::path(
    post, path = "/v1/endpoints/{endpoint_id}/test", tag = "endpoints",
    security(("tenant_key" = []), ("portal_link" = [])),
    params(("endpoint_id" = String, Path, description = "`default` or `ep_...`")),
    responses(
        (status = 200, description = "Sent; what the receiver answered (or why it failed)", body = TestEventSent),
        (status = 401, description = "Missing or invalid credential", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `endpoints:manage`", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 429, description = "One test event per endpoint every 5 s", body = ErrorBody),
    )
)]
pub async fn test(
    state: State<ApiState>,
    owner: EndpointOwner<ManageEndpoints>,
) -> Result<Json<TestEventSent>, ApiError> {
    test_event::send(state, owner.owner).await
}

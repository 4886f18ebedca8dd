//! The api function: workspaces (admin) and each workspace's outbound webhook settings,
//! activity and request log (tenant API key).

pub mod release;
pub mod replay;
pub mod webhooks;
pub mod workspaces;

use axum::routing::{get, post};
use axum::Router;
use outflow::clock::Clock;
use outflow::queue::DeliveryQueue;
use outflow::store::Store;
use outflow::url_policy::UrlPolicy;
use std::sync::Arc;

/// What the api handlers need, built once per container.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The table.
    pub store: Store,
    /// The delivery queue (held deliveries go back on it at enable).
    pub queue: DeliveryQueue,
    /// Token for admin routes.
    pub admin_token: Arc<str>,
    /// Allowed webhook destinations.
    pub url_policy: UrlPolicy,
    /// When settings are saved (a switch to immediate delivery starts later windows).
    pub clock: Clock,
}

/// The api HTTP routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/workspaces", post(workspaces::create))
        .route(
            "/v1/workspaces/{workspace_id}/api-keys/reset",
            post(workspaces::reset_keys),
        )
        .route("/v1/api-keys/rotate", post(workspaces::rotate_key))
        .route("/v1/api-keys/revoke", post(workspaces::revoke_key))
        .route(
            "/v1/webhooks/outbound",
            get(webhooks::show).put(webhooks::update),
        )
        .route("/v1/webhooks/outbound/log", get(webhooks::log))
        .route("/v1/webhooks/outbound/enable", post(webhooks::enable))
        .route(
            "/v1/webhooks/outbound/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route("/v1/webhooks/outbound/replay", post(replay::replay))
        .route(
            "/v1/webhooks/outbound/log/{request_id}/resend",
            post(replay::resend),
        )
        .with_state(state)
}

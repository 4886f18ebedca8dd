//! The ingest function: `POST /v1/events` stores channel events and, in immediate mode,
//! enqueues one delivery per new message; in aggregated mode it files each message into
//! its chat window for the aggregator.

pub mod events;
pub mod open_windows;
pub mod pipeline;

use axum::routing::post;
use axum::Router;
use open_windows::OpenWindows;
use outflow::clock::Clock;
use outflow::formats::inbound::ParseContext;
use outflow::queue::DeliveryQueue;
use outflow::store::{RateLimit, RateWindows, Store};

/// What the ingest handlers need, built once per container.
#[derive(Clone, Debug)]
pub struct IngestState {
    /// The table.
    pub store: Store,
    /// The delivery queue.
    pub queue: DeliveryQueue,
    /// Mapping settings for third-party events.
    pub parse: ParseContext,
    /// Arrival time (decides a message's aggregation window).
    pub clock: Clock,
    /// Requests a workspace may make per window.
    pub rate: RateLimit,
    /// The rate windows this container last saw (which admission update to try first).
    pub rate_windows: RateWindows,
    /// The aggregation windows this container saw open (no existence read for them).
    pub open_windows: OpenWindows,
}

/// The ingest HTTP routes.
pub fn router(state: IngestState) -> Router {
    Router::new()
        .route("/v1/events", post(events::post_events))
        .with_state(state)
}

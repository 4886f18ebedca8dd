//! The ingest function: `POST /v1/events` stores channel events and, in immediate mode,
//! enqueues one delivery per new message; in aggregated mode it files each message into
//! its chat window for the aggregator. `plan` decides; `apply` carries the plan out.

pub mod apply;
pub mod events;
pub mod open_windows;
pub mod plan;
pub mod report;

use axum::extract::FromRef;
use axum::Router;
use open_windows::OpenWindows;
use outflow::clients::AwsClients;
use outflow::clock::Clock;
use outflow::config::Config;
use outflow::delivery::HealthKeeper;
use outflow::domain::RateLimit;
use outflow::formats::ParseContext;
use outflow::notify::OwnerNotifier;
use outflow::queue::DeliveryQueue;
use outflow::store::{RateWindows, Store};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    /// Sends an owner email a disable still owes (SES refused it then).
    pub health: HealthKeeper,
}

impl IngestState {
    /// The state of a stack's ingest function, as its Lambda, the local runner and the
    /// tests build it; `clock` gives arrival times.
    pub fn from_config(aws: &AwsClients, config: &Config, clock: Clock) -> Self {
        let store = Store::new(aws.dynamo.clone(), &config.table_name, clock.clone());
        let notifier = OwnerNotifier::new(aws.ses.clone(), &config.sender_email)
            .with_api_base(config.public_base_url.as_deref());
        Self {
            health: HealthKeeper::new(store.clone(), notifier),
            store,
            queue: DeliveryQueue::new(aws.sqs.clone(), &config.queue_url),
            parse: ParseContext {
                chat_url_base: config.chat_url_base.clone(),
            },
            clock,
            rate: config.ingest_rate,
            rate_windows: RateWindows::default(),
            open_windows: OpenWindows::default(),
        }
    }
}

impl FromRef<IngestState> for Store {
    fn from_ref(state: &IngestState) -> Store {
        state.store.clone()
    }
}

/// The ingest routes with their OpenAPI description (one `routes!` per path).
pub fn routes() -> OpenApiRouter<IngestState> {
    OpenApiRouter::new().routes(routes!(events::post_events))
}

/// Puts the Lambda invocation's deadline, less the answer's margin, on the request, so
/// the handler answers 503 before Lambda kills it (and API Gateway answers a bare 5xx).
pub async fn lambda_deadline(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use lambda_http::RequestExt;
    if let Some(context) = request.lambda_context_ref() {
        let by = Clock::deadline_before(context.deadline(), outflow::http::ANSWER_MARGIN);
        request.extensions_mut().insert(outflow::http::Deadline(by));
    }
    next.run(request).await
}

/// The ingest HTTP routes.
pub fn router(state: IngestState) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(state)
}

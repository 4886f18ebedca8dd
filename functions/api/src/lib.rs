//! The api function: workspaces (admin) and each workspace's outbound webhook settings,
//! activity and request log (tenant API key), and the OpenAPI document. Handlers name the
//! credential they need (`Tenant`, `Admin`) and take and give typed bodies (`views`).

pub mod api_keys;
pub mod endpoint_create;
pub mod endpoint_routes;
pub mod endpoints;
pub mod openapi;
pub mod portal;
pub mod release;
pub mod replay;
pub mod test_event;
pub mod views;
pub mod webhooks;
pub mod workspaces;

use axum::extract::FromRef;
use axum::Router;
use outflow::clients::AwsClients;
use outflow::clock::Clock;
use outflow::config::{Config, MissingVar};
use outflow::delivery::Notices;
use outflow::http::AdminToken;
use outflow::notify::OwnerNotifier;
use outflow::queue::DeliveryQueue;
use outflow::store::Store;
use outflow::url_policy::UrlPolicy;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What the api handlers need, built once per container.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The table.
    pub store: Store,
    /// The delivery queue (held deliveries go back on it at enable).
    pub queue: DeliveryQueue,
    /// Token for admin routes.
    pub admin_token: AdminToken,
    /// Allowed webhook destinations.
    pub url_policy: UrlPolicy,
    /// The time of activity, keys and rotations.
    pub clock: Clock,
    /// The time messages arrive by (ingest's clock): a save is recorded on it, so windows
    /// after a switch to immediate delivery start after the save. The same clock as
    /// `clock` in AWS; tests move it to chosen instants.
    pub arrival: Clock,
    /// Where tenants reach the API (portal links point there).
    pub public_base_url: Option<String>,
    /// The portal page's Content-Security-Policy (its frame ancestors from the config),
    /// built once per container.
    pub portal_csp: axum::http::HeaderValue,
    /// Sends test events (the delivery client's URL policy, a shorter timeout).
    pub test_client: reqwest::Client,
    /// Tells the owner of changes to the webhook and the keys.
    pub notices: Notices,
    /// Endpoints a workspace may have, its default included.
    pub max_endpoints: usize,
}

impl ApiState {
    /// The state of a stack's api function, as its Lambda, the local runner and the tests
    /// build it.
    pub fn from_config(
        aws: &AwsClients,
        config: &Config,
        clock: Clock,
        arrival: Clock,
    ) -> Result<Self, MissingVar> {
        let store = Store::new(aws.dynamo.clone(), &config.table_name, clock.clone());
        let notifier = OwnerNotifier::new(aws.ses.clone(), &config.sender_email)
            .with_api_base(config.public_base_url.as_deref());
        Ok(Self {
            notices: Notices::new(store.clone(), notifier),
            store,
            queue: DeliveryQueue::new(aws.sqs.clone(), &config.queue_url),
            admin_token: AdminToken(config.admin_token()?.into()),
            url_policy: config.url_policy,
            clock,
            arrival,
            public_base_url: config.public_base_url.clone(),
            portal_csp: portal::page::policy_header(&config.portal_frame_ancestors),
            max_endpoints: config.max_endpoints,
            test_client: outflow::delivery::build_client(
                config.url_policy,
                test_event::TEST_EVENT_TIMEOUT.min(config.delivery_timeout),
            ),
        })
    }
}

impl FromRef<ApiState> for Store {
    fn from_ref(state: &ApiState) -> Store {
        state.store.clone()
    }
}

impl FromRef<ApiState> for Clock {
    fn from_ref(state: &ApiState) -> Clock {
        state.clock.clone()
    }
}

impl FromRef<ApiState> for AdminToken {
    fn from_ref(state: &ApiState) -> AdminToken {
        state.admin_token.clone()
    }
}

/// The api routes with their OpenAPI description (one `routes!` per path: a route cannot
/// be added without its description).
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(openapi::Base::openapi())
        .routes(routes!(workspaces::create))
        .routes(routes!(workspaces::reset_keys))
        .routes(routes!(workspaces::rotate_key))
        .routes(routes!(workspaces::revoke_key))
        .routes(routes!(api_keys::create, api_keys::list))
        .routes(routes!(webhooks::show, webhooks::update))
        .routes(routes!(webhooks::log))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::enable))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(replay::replay))
        .routes(routes!(replay::resend))
        .routes(routes!(test_event::send))
        .routes(routes!(endpoints::list, endpoint_create::create))
        .routes(routes!(
            endpoints::show,
            endpoints::change,
            endpoints::delete
        ))
        .routes(routes!(endpoint_routes::log))
        .routes(routes!(endpoint_routes::deliveries))
        .routes(routes!(endpoint_routes::enable))
        .routes(routes!(endpoint_routes::rotate_secret))
        .routes(routes!(endpoint_routes::replay))
        .routes(routes!(endpoint_routes::resend))
        .routes(routes!(endpoint_routes::test))
        .routes(routes!(portal::mint))
        .routes(routes!(portal::revoke))
        .routes(routes!(portal::page::html))
        .routes(routes!(portal::page::script))
        .routes(routes!(portal::page::style))
        .routes(routes!(openapi::document))
}

/// The api HTTP routes.
pub fn router(state: ApiState) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(state)
}

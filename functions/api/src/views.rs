//! The typed bodies of the api routes: what each request carries and each answer says.
//! Their OpenAPI schemas are derived from these types.

use outflow::domain::{
    ActivityEntry, Aggregation, Attempt, DeliveryFilter, DeliveryId, EndpointId, EventType,
    HourCount, KeyRecord, RequestId, Scope, Timestamp, Webhook, WebhookStatus, WorkspaceId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/workspaces`: a new tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    /// Display name (1 to 512 bytes).
    pub name: String,
    /// Who is emailed when the webhook is disabled.
    pub owner_email: String,
}

/// The new workspace, with its first API key (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceCreated {
    /// Its id.
    pub workspace_id: WorkspaceId,
    /// Display name.
    pub name: String,
    /// Owner's email.
    pub owner_email: String,
    /// The API key (`ofk.<workspace>.<secret>`); only its hash is stored.
    pub api_key: String,
}

/// A new API key (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyIssued {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The new key.
    pub api_key: String,
    /// How many keys stopped working with it (admin reset only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<usize>,
}

/// A key revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyRevoked {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// Always true.
    pub revoked: bool,
}

/// `PUT /v1/webhooks/outbound`: the settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettingsRequest {
    /// Where deliveries go: http(s), at most 2 KiB, never an internal address.
    pub url: String,
    /// On or off (default on).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Granularity (default `none`: one POST per message).
    #[serde(default)]
    pub aggregation: Option<Aggregation>,
    /// Keep one conversation per contact: a resolved conversation does not make the next
    /// message `is_new_chat` (default off).
    #[serde(default)]
    pub continuous_conversation: bool,
    /// The event types it receives: `message:received:new`, `message:sent:new`,
    /// `message:updated`, `chat:created`, `chat:closed`, `chat:assigned` (empty: all;
    /// absent: the two message types — a save without it goes back to them).
    #[serde(default)]
    pub event_types: Option<Vec<EventType>>,
    /// Which chats' events it receives (absent: every chat's — a save without it removes
    /// the filter).
    #[serde(default, deserialize_with = "stated_filter")]
    pub filter: Option<DeliveryFilter>,
}

fn default_true() -> bool {
    true
}

/// A filter as a request states it. An unknown criterion (a typo such as `chat_id`) is
/// refused, naming it: dropped, it would leave a filter that takes every chat. Stored
/// filters stay lenient, so a criterion a later version adds cannot make an item unreadable.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatedFilter {
    #[serde(default)]
    chat_ids: Vec<outflow::domain::ChatId>,
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(default)]
    directions: Vec<outflow::domain::Direction>,
    #[serde(default)]
    chats: Option<outflow::domain::ChatKind>,
}

fn stated_filter<'de, D>(de: D) -> Result<Option<DeliveryFilter>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let stated = Option::<StatedFilter>::deserialize(de)?;
    Ok(stated.map(|f| DeliveryFilter {
        chat_ids: f.chat_ids,
        accounts: f.accounts,
        directions: f.directions,
        chats: f.chats,
    }))
}

/// The webhook: settings, signing secret, health and the 10 most recent actions.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// Where deliveries go.
    pub url: String,
    /// On or off.
    pub enabled: bool,
    /// Granularity.
    pub aggregation: Aggregation,
    /// One continuous conversation per contact.
    pub continuous_conversation: bool,
    /// The event types it receives.
    pub event_types: Vec<EventType>,
    /// Which chats' events it receives (absent: every chat's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<DeliveryFilter>,
    /// The signing secret (`whsec_...`); left out for an API key without
    /// `endpoints:manage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Health.
    pub status: WebhookStatus,
    /// While the previous secret still signs (24 h after a rotation): until when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<Timestamp>,
    /// The 10 most recent actions, newest first.
    pub activity: Vec<ActivityEntry>,
}

impl WebhookView {
    /// The view of `webhook` at `now`, with its recent activity; its secret only when
    /// `with_secret`.
    pub fn new(
        webhook: &Webhook,
        activity: Vec<ActivityEntry>,
        now: Timestamp,
        with_secret: bool,
    ) -> Self {
        Self {
            url: webhook.url.clone(),
            enabled: webhook.enabled,
            aggregation: webhook.aggregation,
            continuous_conversation: webhook.continuous_conversation,
            event_types: webhook.subscribed(),
            filter: webhook.filter.clone(),
            secret: with_secret.then(|| webhook.secret.clone()),
            status: webhook.status(),
            previous_secret_expires_at: webhook.previous_secret_expires_at(now),
            activity,
        }
    }
}

/// The webhook switched back on, and what that put back in motion.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnabledView {
    /// The webhook as it is now.
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// Held deliveries being re-queued (counted when the call began; the sender puts them
    /// back in steps, new deliveries waiting behind them).
    pub released: usize,
    /// Pending aggregation windows scheduled again.
    pub windows_scheduled: usize,
}

/// The detailed log download.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestLog {
    /// The 100 most recent requests, newest first.
    pub requests: Vec<Attempt>,
}

/// `POST /replay`: re-send what failed or is held since an instant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// RFC 3339, e.g. `2026-01-21T05:00:00Z`.
    pub since: String,
}

/// What a replay re-queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// The instant, as understood.
    pub since: String,
    /// Deliveries re-queued in all.
    pub replayed: usize,
    /// Of which dead letters.
    pub dead_letters: usize,
    /// Of which held deliveries.
    pub held: usize,
}

/// A logged request queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResendQueued {
    /// The logged request.
    pub request_id: RequestId,
    /// Its delivery (`webhook-id`), which goes out again.
    pub delivery_id: DeliveryId,
    /// Always true.
    pub queued: bool,
}

/// `POST /v1/workspaces/{workspace_id}/portal-links`: how long the link lives (the body
/// may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPortalLink {
    /// Seconds, 1 to 604,800 (7 days); 3,600 when left out.
    pub expires_in: Option<u64>,
}

/// A portal link, for the tenant's browser (shown once; only its hash is kept).
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalLinkIssued {
    /// Opens the workspace's portal; its credential is in the fragment, which browsers
    /// never send to a server.
    pub url: String,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// Every portal link of a workspace ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalLinksRevoked {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// Links minted up to this instant no longer work.
    pub revoked_at: Timestamp,
}

/// What a test event met.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestEventSent {
    /// True for a 2xx within the timeout.
    pub delivered: bool,
    /// The receiver's status code, if it answered.
    pub status: Option<u16>,
    /// Milliseconds until the answer (or the failure).
    pub latency_ms: u64,
    /// The first 1 KiB of the receiver's answer.
    pub body: Option<String>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// The request, in the log.
    pub request_id: RequestId,
    /// Its `webhook-id`.
    pub webhook_id: DeliveryId,
}

/// Requests per hour over the last 24 hours, for the portal's chart.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveriesByHour {
    /// The 24 hours up to the current one, oldest first.
    pub hours: Vec<HourCount>,
    /// Requests answered 2xx in those hours.
    pub succeeded: u32,
    /// Requests that failed in those hours.
    pub failed: u32,
}

/// `POST /v1/api-keys`: a new key with chosen scopes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What it is for (1 to 100 bytes), e.g. "Chatwoot events".
    pub name: String,
    /// What it may do (at least one); the key making it must hold them all.
    pub scopes: Vec<Scope>,
}

/// A key made with `POST /v1/api-keys` (the key itself shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The key (`ofk.<workspace>.<secret>`); only its hash is stored.
    pub api_key: String,
    /// How it is listed.
    #[serde(flatten)]
    pub listed: ApiKeyListed,
}

/// One of the workspace's keys, as listed (never the key itself: only its hash is kept).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyListed {
    /// Its first characters (`ofk.<workspace>.` and four of its secret); absent for keys
    /// made before prefixes were kept.
    pub prefix: Option<String>,
    /// Its name; absent for keys made before names were kept.
    pub name: Option<String>,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

impl From<KeyRecord> for ApiKeyListed {
    fn from(record: KeyRecord) -> Self {
        Self {
            prefix: record.prefix,
            name: record.name,
            scopes: record.grant.scopes(),
            created_at: record.created_at,
        }
    }
}

/// `GET /v1/api-keys`: the workspace's keys, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// The keys.
    pub keys: Vec<ApiKeyListed>,
}

/// `POST /v1/endpoints`: a new endpoint (serialized only for its idempotency digest).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// Where deliveries go: http(s), at most 2 KiB, never an internal address.
    pub url: String,
    /// What the tenant calls it (at most 256 bytes).
    #[serde(default)]
    pub description: Option<String>,
    /// On or off (default on).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Granularity (default `none`): each endpoint bundles its own windows.
    #[serde(default)]
    pub aggregation: Option<Aggregation>,
    /// Keep one conversation per contact (default off).
    #[serde(default)]
    pub continuous_conversation: bool,
    /// The event types it receives (empty: all; absent: the two message types).
    #[serde(default)]
    pub event_types: Option<Vec<EventType>>,
    /// Which chats' events it receives (absent: every chat's).
    #[serde(default, deserialize_with = "stated_filter")]
    pub filter: Option<DeliveryFilter>,
}

/// `PATCH /v1/endpoints/{endpoint_id}`: what changes (an absent field stays as it is).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    /// A new URL.
    pub url: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// On or off.
    pub enabled: Option<bool>,
    /// A new granularity (its windows from then on; pending ones flush as collected).
    pub aggregation: Option<Aggregation>,
    /// One conversation per contact.
    pub continuous_conversation: Option<bool>,
    /// New event types (empty: all).
    pub event_types: Option<Vec<EventType>>,
    /// A new filter (`{}`: none).
    #[serde(default, deserialize_with = "stated_filter")]
    pub filter: Option<DeliveryFilter>,
}

impl EndpointChange {
    /// The new description, when that is all the change names.
    pub fn description_only(&self) -> Option<&str> {
        let others = self.url.is_some()
            || self.enabled.is_some()
            || self.aggregation.is_some()
            || self.continuous_conversation.is_some()
            || self.event_types.is_some()
            || self.filter.is_some();
        self.description.as_deref().filter(|_| !others)
    }
}

/// One endpoint: its id and description, and the webhook view of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    /// `default`, or `ep_...`.
    pub endpoint_id: EndpointId,
    /// What the tenant calls it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Settings, secret (with `endpoints:manage`), health and recent activity.
    #[serde(flatten)]
    pub webhook: WebhookView,
}

/// One endpoint as the list shows it (no secret, no activity).
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointSummary {
    /// `default`, or `ep_...`.
    pub endpoint_id: EndpointId,
    /// What the tenant calls it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where deliveries go.
    pub url: String,
    /// On or off.
    pub enabled: bool,
    /// Granularity.
    pub aggregation: Aggregation,
    /// The event types it receives.
    pub event_types: Vec<EventType>,
    /// Which chats' events it receives (absent: every chat's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<DeliveryFilter>,
    /// Health.
    pub status: WebhookStatus,
}

impl EndpointSummary {
    /// The summary of endpoint `id`.
    pub fn new(id: EndpointId, webhook: &Webhook) -> Self {
        Self {
            endpoint_id: id,
            description: webhook.description.clone(),
            url: webhook.url.clone(),
            enabled: webhook.enabled,
            aggregation: webhook.aggregation,
            event_types: webhook.subscribed(),
            filter: webhook.filter.clone(),
            status: webhook.status(),
        }
    }
}

/// `GET /v1/endpoints`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    /// The default endpoint first, then the others by id.
    pub endpoints: Vec<EndpointSummary>,
    /// How many the workspace may have.
    pub limit: usize,
}

/// An endpoint deleted, and what it held.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointDeleted {
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// Always true.
    pub deleted: bool,
    /// Held deliveries, dead letters and pending windows dropped by this call.
    pub dropped: usize,
    /// False when time ran out before all were dropped (`202`): DELETE again goes on.
    pub complete: bool,
}

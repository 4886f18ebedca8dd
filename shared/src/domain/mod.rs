//! The business: identifiers, payloads, the webhook and its rules, deliveries, attempts,
//! activity, kept deliveries, aggregation windows and rate windows. Free of AWS types:
//! `store/` maps these to DynamoDB items and `queue.rs` to SQS messages.

mod wire_enum;

pub mod activity;
pub mod aggregation;
pub mod attempt;
pub mod bundle;
pub mod bundle_plan;
pub mod chat_state;
pub mod endpoint;
pub mod envelope;
pub mod event_type;
pub mod filter;
pub mod idempotency;
pub mod ids;
pub mod kept;
pub mod notice;
pub mod payload;
pub mod pending_window;
pub mod portal;
pub mod rate;
pub mod release;
pub mod scope;
pub mod timestamp;
pub mod webhook;
pub mod window;
pub mod workspace;

pub use activity::{ActivityAction, ActivityEntry, ACTIVITY_LIMIT};
pub use aggregation::Aggregation;
pub use attempt::{
    Attempt, CutBody, FailureKind, HourCount, Outcome, RecordedResponse, MAX_LOG_ENTRY_BYTES,
    RESPONSE_BODY_LIMIT, RESPONSE_HEADERS_LIMIT, RESPONSE_HEADER_BYTES_LIMIT,
};
pub use bundle::Bundle;
pub use bundle_plan::BundlePlan;
pub use chat_state::{ChatState, Responsible};
pub use endpoint::{Endpoint, DEFAULT_ENDPOINT};
pub use envelope::DeliveryEnvelope;
pub use event_type::EventType;
pub use filter::{ChatKind, DeliveryFilter, MAX_FILTER_ACCOUNTS, MAX_FILTER_CHATS};
pub use idempotency::{
    abandoned, registrant, request_digest, IdempotencyKey, ABANDONED_AFTER_MS, IDEMPOTENCY_SECS,
};
pub use ids::{
    ApiKey, BundleId, ChatId, DeliveryId, EndpointId, MessageId, RequestId, WorkspaceId,
};
pub use kept::{DeadLetter, Kept};
pub use notice::{warning_due, Notice, NOTICES_PER_DAY, WARN_AFTER_MS};
pub use payload::{Account, Attachment, Chat, ChatEvent, Direction, Message, MessageEvent, Party};
pub use pending_window::{PendingWindow, WindowMessage};
pub use portal::{PortalLink, PortalRefusal, PortalToken};
pub use rate::{OverLimit, RateLimit, RateWindow};
pub use release::{ReleaseOrder, ReleasePhase, RELEASE_SETTLE_MS, RELEASE_STALL_MS};
pub use scope::{Grant, KeyRecord, Scope, SHOWN_SECRET_CHARS};
pub use timestamp::{Timestamp, MAX_KEY_MILLIS};
pub use webhook::{Subscription, Webhook, WebhookSettings, WebhookStatus};
pub use window::Window;
pub use workspace::Workspace;

//! Domain concepts: identifiers, the outbound payload, webhook settings.

pub mod aggregation;
pub mod ids;
pub mod payload;
pub mod timestamp;
pub mod webhook;

pub use aggregation::Aggregation;
pub use ids::{ApiKey, ChatId, DeliveryId, MessageId, RequestId, WorkspaceId};
pub use payload::{Account, Attachment, Chat, Direction, Message, MessageEvent, Party};
pub use timestamp::Timestamp;
pub use webhook::{WebhookSettings, WebhookStatus};

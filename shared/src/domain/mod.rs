//! Domain concepts: identifiers, the outbound payload, webhook settings.

pub mod aggregation;
pub mod bundle;
pub mod ids;
pub mod payload;
pub mod timestamp;
pub mod webhook;
pub mod window;

pub use aggregation::Aggregation;
pub use bundle::Bundle;
pub use ids::{ApiKey, BundleId, ChatId, DeliveryId, MessageId, RequestId, WorkspaceId};
pub use payload::{Account, Attachment, Chat, Direction, Message, MessageEvent, Party};
pub use timestamp::Timestamp;
pub use webhook::WebhookStatus;
pub use window::Window;

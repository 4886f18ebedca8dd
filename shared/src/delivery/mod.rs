//! Delivering one envelope to a tenant URL, keeping the webhook's health, releasing kept
//! deliveries, and the edits a waiting delivery takes.

pub mod attempt;
pub mod edits;
pub mod health;
pub mod http_client;
pub mod notices;
pub mod release;
pub mod retry;
pub mod share;

pub use attempt::{attempt, Destination};
pub use health::{FailureVerdict, HealthChange, HealthKeeper};
pub use http_client::{build_client, DeliveryClient};
pub use notices::Notices;
pub use release::{Budget, ReleaseError};
pub use retry::RetryPolicy;
pub use share::SenderShare;

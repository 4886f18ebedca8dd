//! Delivering one envelope to a tenant URL, and keeping the webhook's health.

pub mod attempt;
pub mod health;
pub mod http_client;
pub mod retry;

pub use attempt::{attempt, Attempt, Destination, RESPONSE_BODY_LIMIT};
pub use health::{FailureVerdict, HealthKeeper};
pub use http_client::{build_client, DeliveryClient};
pub use retry::RetryPolicy;

//! Delivering one envelope to a tenant URL, and keeping the webhook's health.

pub mod attempt;
pub mod health;
pub mod http_client;
pub mod retry;

pub use attempt::{attempt, Destination};
pub use health::{FailureVerdict, HealthChange, HealthKeeper};
pub use http_client::{build_client, DeliveryClient};
pub use retry::RetryPolicy;

//! Outflow's common crate: the domain, the wire formats, the DynamoDB store, the
//! delivery queue and the delivery engine shared by every Lambda function.

pub mod clients;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod formats;
pub mod http;
pub mod notify;
pub mod queue;
pub mod signing;
pub mod store;
pub mod telemetry;
pub mod url_policy;

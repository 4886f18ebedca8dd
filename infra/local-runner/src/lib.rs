//! Runs the Outflow functions in one process against a local AWS emulator: the HTTP
//! functions' routers merged and served with axum, and an SQS poller that invokes the
//! sender handler with genuine SQS event payloads.

pub mod app;
pub mod bench;
pub mod billed_units;
pub mod billing;
pub mod cost;
pub mod openapi;
pub mod pump;
pub mod request_count;
pub mod runtime_api;
pub mod stack;
pub mod table;

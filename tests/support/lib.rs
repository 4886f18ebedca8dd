//! End-to-end test support: a private stack (table, queues) in the moto server that
//! `make test` starts, the real handlers wired as in AWS, and real HTTP receivers.

// Support for tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

pub mod chaos;
pub mod faults;
pub mod receiver;
pub mod stack;
pub mod webhooks;

pub use faults::{Fault, FaultProxy, Gate, Rule};
pub use receiver::refusing_url;
pub use receiver::{Received, Receiver};
pub use stack::{FunctionRequests, Options, Response, TestStack, ADMIN_TOKEN};
pub use webhooks::verify_signature;

//! The end-to-end suite, one test binary with a module per area (one link of the AWS SDKs
//! instead of one per area). The real handlers run against moto server on 127.0.0.1 and
//! real HTTP receivers; `make test` starts moto and runs the chaos tests separately.

// Tests and their helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod aggregation;
mod architecture;
mod aws_faults;
mod big_window;
mod chaos_second_edition;
mod chat_events;
mod cost_cuts;
mod endpoints;
mod event_types;
mod failures_and_disable;
mod filters;
mod function_telemetry;
mod hot_workspace;
mod iam_policies;
mod idempotent_create;
mod immediate_delivery;
mod ingest_memory;
mod ingest_validation;
mod keys_and_throttling;
mod lambda_deadlines;
mod openapi;
mod ordering;
mod owner_notices;
mod portal;
mod release;
mod replay_and_resend;
mod scoped_keys;
mod sender_share;
mod template_matches_local_stack;
mod tenancy_and_urls;

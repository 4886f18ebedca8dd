//! The sender function: an SQS batch of deliveries in, signed POSTs out, with partial
//! batch responses so only failed deliveries are retried (then moved to the DLQ).

pub mod batch;

pub use batch::Sender;

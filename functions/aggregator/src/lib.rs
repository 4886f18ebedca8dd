//! The aggregator function: on a schedule, flushes every chat window that has ended into
//! one bundle (or numbered parts) on the delivery queue.

pub mod bundle;
pub mod run;
pub mod tick;

pub use run::{Aggregator, RunReport};
pub use tick::ScheduledTick;

//! The aggregator function: on a schedule, flushes every chat window that has ended into
//! one bundle (or numbered parts) on the delivery queue. `plan` and `bundle` decide;
//! `run` reads and writes.

pub mod bundle;
pub mod plan;
pub mod run;
pub mod stream;
pub mod tick;

pub use run::{AggregatorError, RunReport};
pub use tick::ScheduledTick;

use outflow::clients::AwsClients;
use outflow::clock::Clock;
use outflow::config::Config;
use outflow::queue::DeliveryQueue;
use outflow::store::Store;

/// The aggregator, built once per container.
#[derive(Clone, Debug)]
pub struct Aggregator {
    store: Store,
    queue: DeliveryQueue,
    permalink_base: String,
    clock: Clock,
}

impl Aggregator {
    /// The aggregator of a stack, as its Lambda, the local runner and the tests build it.
    pub fn from_config(aws: &AwsClients, config: &Config, clock: Clock) -> Self {
        Self {
            store: Store::new(aws.dynamo.clone(), &config.table_name, clock.clone()),
            queue: DeliveryQueue::new(aws.sqs.clone(), &config.queue_url),
            permalink_base: config.permalink_base.clone(),
            clock,
        }
    }

    /// The clock a run takes "now" from when its event has no time.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}

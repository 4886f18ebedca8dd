//! The sender function: an SQS batch of deliveries in, signed POSTs out, with partial
//! batch responses so only failed deliveries are retried. `records` and `settle` decide;
//! `workspace` and `batch` carry the decisions out.

pub mod batch;
pub mod records;
pub mod settle;
mod share;
mod workspace;

use outflow::clients::AwsClients;
use outflow::clock::Clock;
use outflow::config::{Config, MissingVar};
use outflow::delivery::{build_client, DeliveryClient, HealthKeeper, RetryPolicy, SenderShare};
use outflow::notify::OwnerNotifier;
use outflow::queue::DeliveryQueue;
use outflow::store::Store;
use outflow::url_policy::UrlPolicy;

/// The sender, built once per container.
#[derive(Clone, Debug)]
pub struct Sender {
    store: Store,
    queue: DeliveryQueue,
    health: HealthKeeper,
    client: DeliveryClient,
    policy: UrlPolicy,
    retry: RetryPolicy,
    clock: Clock,
    /// The longest one request can take (a request is started only with this much time
    /// left before the deadline).
    timeout: std::time::Duration,
    /// Pages of 100 one release step re-queues at most.
    release_pages: u32,
    /// A slow workspace's share of invocations.
    share: SenderShare,
    /// A delivery queued this long before its first receive reads its message's edits.
    edits_after_wait: std::time::Duration,
}

impl Sender {
    /// The sender of a stack, as its Lambda, the local runner and the tests build it.
    pub fn from_config(
        aws: &AwsClients,
        config: &Config,
        clock: Clock,
    ) -> Result<Self, MissingVar> {
        let store = Store::new(aws.dynamo.clone(), &config.table_name, clock.clone());
        let queue = DeliveryQueue::new(aws.sqs.clone(), &config.queue_url)
            .with_dead_letters(config.dead_letter_queue_url()?);
        let notifier = OwnerNotifier::new(aws.ses.clone(), &config.sender_email)
            .with_api_base(config.public_base_url.as_deref());
        Ok(Self {
            health: HealthKeeper::new(store.clone(), notifier),
            store,
            queue,
            client: build_client(config.url_policy, config.delivery_timeout),
            policy: config.url_policy,
            retry: config.retry.clone(),
            clock,
            timeout: config.delivery_timeout,
            release_pages: config.release_pages_per_step,
            share: config.sender_share,
            edits_after_wait: config.edits_after_wait,
        })
    }
}

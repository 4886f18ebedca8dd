//! Counts every AWS request (each attempt, as AWS bills it) by service and operation,
//! and the DynamoDB items those requests read, through an SDK interceptor: the figures
//! behind the cost-per-message and the scale numbers.

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use outflow::clients::AwsClients;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Requests sent so far, keyed `Service.Operation`, and DynamoDB items read.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<Mutex<BTreeMap<String, u64>>>, Arc<AtomicU64>);

impl RequestCounter {
    /// The counts, and starts again from zero.
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().expect("counter lock"))
    }

    /// The DynamoDB items read (a Query's scanned items, BatchGetItem's and GetItem's
    /// items: what DynamoDB bills reads for), and starts again from zero.
    pub fn take_items_read(&self) -> u64 {
        self.1.swap(0, Ordering::Relaxed)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = match cfg.load::<Metadata>() {
            Some(m) => format!("{}.{}", m.service(), m.name()),
            None => "unknown".to_string(),
        };
        *self.0.lock().expect("counter lock").entry(key).or_default() += 1;
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let items = if let Some(query) = output.downcast_ref::<QueryOutput>() {
            query.scanned_count.max(0) as u64
        } else if let Some(batch) = output.downcast_ref::<BatchGetItemOutput>() {
            batch
                .responses
                .as_ref()
                .map_or(0, |r| r.values().map(|items| items.len() as u64).sum())
        } else if let Some(get) = output.downcast_ref::<GetItemOutput>() {
            u64::from(get.item.is_some())
        } else {
            0
        };
        self.1.fetch_add(items, Ordering::Relaxed);
        Ok(())
    }
}

/// AWS clients whose every request is counted.
pub fn counting_clients(shared: &aws_config::SdkConfig, counter: &RequestCounter) -> AwsClients {
    AwsClients {
        dynamo: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(shared)
                .interceptor(counter.clone())
                .build(),
        ),
        sqs: aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(shared)
                .interceptor(counter.clone())
                .build(),
        ),
        ses: aws_sdk_sesv2::Client::from_conf(
            aws_sdk_sesv2::config::Builder::from(shared)
                .interceptor(counter.clone())
                .build(),
        ),
    }
}

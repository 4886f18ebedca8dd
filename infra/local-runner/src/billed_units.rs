//! Meters what AWS would bill for the requests the functions send, through an SDK
//! interceptor: DynamoDB write units per started KB of each item written (the larger of its
//! before and after images, twice in a transaction) and of each index copy, read units per
//! 4 KB read, SQS requests per 64 KiB chunk, SES messages.
//!
//! DynamoDB's answers do not say an item's size (moto's consumed capacity is a constant),
//! so the meter keeps every item's last image: a write's before image is the one kept, its
//! after image the item it put or, for an update, the item read back after it with an
//! unmetered client. Every write of a measured stack goes through the meter from its
//! creation, so the images are complete.

use crate::billing::{self, Item};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::get_item::GetItemInput;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_sesv2::operation::send_email::SendEmailInput;
use aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput;
use aws_sdk_sqs::operation::send_message::SendMessageInput;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchInput;
use aws_sdk_sqs::types::MessageAttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Billed units, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Units {
    /// DynamoDB write request units of the table's items.
    pub dynamo_table_writes: f64,
    /// DynamoDB write request units of the index copies.
    pub dynamo_index_writes: f64,
    /// DynamoDB read request units.
    pub dynamo_reads: f64,
    /// SQS requests, counted per 64 KiB chunk.
    pub sqs_requests: u64,
    /// SES messages (one per recipient).
    pub ses_messages: u64,
}

impl Units {
    /// `self + other`.
    pub fn plus(self, other: Units) -> Units {
        Units {
            dynamo_table_writes: self.dynamo_table_writes + other.dynamo_table_writes,
            dynamo_index_writes: self.dynamo_index_writes + other.dynamo_index_writes,
            dynamo_reads: self.dynamo_reads + other.dynamo_reads,
            sqs_requests: self.sqs_requests + other.sqs_requests,
            ses_messages: self.ses_messages + other.ses_messages,
        }
    }
}

type Key = (String, String, String);

/// One write of a request, as sent.
#[derive(Debug, Clone)]
struct Write {
    key: Key,
    change: Change,
}

#[derive(Debug, Clone)]
enum Change {
    Put(Item),
    Update,
    Delete,
    Check,
}

/// What a request will be billed by, noted before it is sent.
#[derive(Debug, Clone)]
enum Plan {
    Writes {
        writes: Vec<Write>,
        transaction: bool,
    },
    Get {
        key: Key,
        consistent: bool,
    },
    BatchGet {
        keys: Vec<Key>,
        consistent: HashMap<String, bool>,
    },
    Query {
        table: String,
        consistent: bool,
    },
    Sqs {
        payload: usize,
    },
    SqsOther,
    Ses {
        recipients: u64,
    },
}

impl Storable for Plan {
    type Storer = StoreReplace<Self>;
}

/// The meter: an interceptor for the DynamoDB, SQS and SES clients.
#[derive(Debug, Clone)]
pub struct UnitMeter {
    units: Arc<Mutex<Units>>,
    images: Arc<Mutex<HashMap<Key, Item>>>,
    /// Write units (with index copies) by item kind: the sort key's first part.
    kinds: Arc<Mutex<BTreeMap<String, f64>>>,
    /// Reads an item back after an update, unmetered.
    reader: aws_sdk_dynamodb::Client,
}

impl UnitMeter {
    /// A meter that reads updated items back with `reader` (a client without the meter).
    pub fn new(reader: aws_sdk_dynamodb::Client) -> Self {
        Self {
            units: Arc::default(),
            images: Arc::default(),
            kinds: Arc::default(),
            reader,
        }
    }

    /// The units so far, and starts again from zero.
    pub fn take(&self) -> Units {
        std::mem::take(&mut *self.units.lock().expect("meter lock"))
    }

    /// Write units by item kind (`MSG`, `LOG`, ...) so far, and starts again.
    pub fn take_kinds(&self) -> BTreeMap<String, f64> {
        std::mem::take(&mut *self.kinds.lock().expect("meter lock"))
    }

    fn add(&self, units: Units) {
        let mut total = self.units.lock().expect("meter lock");
        *total = total.plus(units);
    }

    fn image(&self, key: &Key) -> Option<Item> {
        self.images.lock().expect("meter lock").get(key).cloned()
    }

    fn set_image(&self, key: Key, item: Option<Item>) {
        let mut images = self.images.lock().expect("meter lock");
        match item {
            Some(item) => images.insert(key, item),
            None => images.remove(&key),
        };
    }

    /// The item as stored now, read with the unmetered client. The interceptor's hooks are
    /// synchronous: this blocks the (multi-threaded) runtime's worker for the read.
    fn read_back(&self, key: &Key) -> Option<Item> {
        let (table, pk, sk) = key.clone();
        let reader = self.reader.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                reader
                    .get_item()
                    .table_name(table)
                    .key(
                        outflow::store::schema::PARTITION_KEY,
                        aws_sdk_dynamodb::types::AttributeValue::S(pk),
                    )
                    .key(
                        outflow::store::schema::SORT_KEY,
                        aws_sdk_dynamodb::types::AttributeValue::S(sk),
                    )
                    .consistent_read(true)
                    .send()
                    .await
                    .ok()
                    .and_then(|out| out.item)
            })
        })
    }

    /// An item's full size where its image is kept (a projection returns less than it bills).
    fn full_size(&self, table: &str, item: &Item) -> usize {
        billing::table_key(item)
            .and_then(|(pk, sk)| self.image(&(table.to_string(), pk, sk)))
            .map_or_else(|| billing::item_size(item), |i| billing::item_size(&i))
    }

    fn settle_writes(
        &self,
        writes: &[Write],
        transaction: bool,
        succeeded: bool,
        skip: &HashSet<Key>,
    ) {
        let factor = if transaction { 2.0 } else { 1.0 };
        let mut units = Units::default();
        for write in writes.iter().filter(|w| !skip.contains(&w.key)) {
            let before = self.image(&write.key);
            if !succeeded {
                // A failed condition is billed for the item it read.
                units.dynamo_table_writes +=
                    factor * billing::table_write_units(before.as_ref(), None);
                continue;
            }
            let after = match &write.change {
                Change::Put(item) => Some(item.clone()),
                Change::Update => self.read_back(&write.key),
                Change::Delete => None,
                Change::Check => before.clone(),
            };
            units.dynamo_table_writes +=
                factor * billing::table_write_units(before.as_ref(), after.as_ref());
            let kind = write
                .key
                .2
                .split('#')
                .next()
                .unwrap_or_default()
                .to_string();
            *self
                .kinds
                .lock()
                .expect("meter lock")
                .entry(kind)
                .or_default() += factor
                * billing::table_write_units(before.as_ref(), after.as_ref())
                + billing::index_write_units(before.as_ref(), after.as_ref());
            units.dynamo_index_writes +=
                billing::index_write_units(before.as_ref(), after.as_ref());
            if !matches!(write.change, Change::Check) {
                self.set_image(write.key.clone(), after);
            }
        }
        self.add(units);
    }
}

fn key_of(table: &str, key: Option<&Item>) -> Option<Key> {
    let (pk, sk) = billing::table_key(key?)?;
    Some((table.to_string(), pk, sk))
}

fn attributes_size(attributes: Option<&HashMap<String, MessageAttributeValue>>) -> usize {
    attributes.map_or(0, |a| {
        a.iter()
            .map(|(name, v)| {
                name.len()
                    + v.data_type.len()
                    + v.string_value.as_deref().map_or(0, str::len)
                    + v.binary_value.as_ref().map_or(0, |b| b.as_ref().len())
            })
            .sum()
    })
}

type Input = aws_smithy_runtime_api::client::interceptors::context::Input;
type Output = aws_smithy_runtime_api::client::interceptors::context::Output;

/// The billing plan of a request, from its input.
fn plan(input: &Input) -> Option<Plan> {
    plan_single_write(input)
        .or_else(|| plan_batch_write(input))
        .or_else(|| plan_transaction(input))
        .or_else(|| plan_read(input))
        .or_else(|| plan_message(input))
}

fn one_write(table: Option<&String>, key: Option<&Item>, change: Change) -> Option<Plan> {
    let key = key_of(table?, key)?;
    Some(Plan::Writes {
        writes: vec![Write { key, change }],
        transaction: false,
    })
}

fn plan_single_write(input: &Input) -> Option<Plan> {
    if let Some(i) = input.downcast_ref::<PutItemInput>() {
        let item = i.item.clone()?;
        return one_write(
            i.table_name.as_ref(),
            Some(&item),
            Change::Put(item.clone()),
        );
    }
    if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
        return one_write(i.table_name.as_ref(), i.key.as_ref(), Change::Update);
    }
    let i = input.downcast_ref::<DeleteItemInput>()?;
    one_write(i.table_name.as_ref(), i.key.as_ref(), Change::Delete)
}

fn plan_batch_write(input: &Input) -> Option<Plan> {
    let i = input.downcast_ref::<BatchWriteItemInput>()?;
    let writes = i
        .request_items
        .iter()
        .flatten()
        .flat_map(|(table, requests)| requests.iter().map(move |r| (table, r)))
        .filter_map(|(table, r)| match (&r.put_request, &r.delete_request) {
            (Some(put), _) => Some(Write {
                key: key_of(table, Some(&put.item))?,
                change: Change::Put(put.item.clone()),
            }),
            (None, Some(delete)) => Some(Write {
                key: key_of(table, Some(&delete.key))?,
                change: Change::Delete,
            }),
            (None, None) => None,
        })
        .collect();
    Some(Plan::Writes {
        writes,
        transaction: false,
    })
}

fn plan_transaction(input: &Input) -> Option<Plan> {
    let i = input.downcast_ref::<TransactWriteItemsInput>()?;
    let write = |table: &str, key: &Item, change: Change| {
        Some(Write {
            key: key_of(table, Some(key))?,
            change,
        })
    };
    let writes = i
        .transact_items
        .iter()
        .flatten()
        .filter_map(|t| {
            if let Some(p) = &t.put {
                write(&p.table_name, &p.item, Change::Put(p.item.clone()))
            } else if let Some(u) = &t.update {
                write(&u.table_name, &u.key, Change::Update)
            } else if let Some(d) = &t.delete {
                write(&d.table_name, &d.key, Change::Delete)
            } else {
                let c = t.condition_check.as_ref()?;
                write(&c.table_name, &c.key, Change::Check)
            }
        })
        .collect();
    Some(Plan::Writes {
        writes,
        transaction: true,
    })
}

fn plan_read(input: &Input) -> Option<Plan> {
    if let Some(i) = input.downcast_ref::<GetItemInput>() {
        return Some(Plan::Get {
            key: key_of(i.table_name.as_ref()?, i.key.as_ref())?,
            consistent: i.consistent_read == Some(true),
        });
    }
    if let Some(i) = input.downcast_ref::<BatchGetItemInput>() {
        let tables = i.request_items.iter().flatten();
        let keys = tables
            .clone()
            .flat_map(|(t, k)| k.keys.iter().filter_map(move |key| key_of(t, Some(key))));
        return Some(Plan::BatchGet {
            keys: keys.collect(),
            consistent: tables
                .map(|(t, k)| (t.clone(), k.consistent_read == Some(true)))
                .collect(),
        });
    }
    let i = input.downcast_ref::<QueryInput>()?;
    Some(Plan::Query {
        table: i.table_name.clone()?,
        consistent: i.consistent_read == Some(true),
    })
}

fn plan_message(input: &Input) -> Option<Plan> {
    if let Some(i) = input.downcast_ref::<SendMessageInput>() {
        let body = i.message_body.as_deref().map_or(0, str::len);
        let payload = body + attributes_size(i.message_attributes.as_ref());
        return Some(Plan::Sqs { payload });
    }
    if let Some(i) = input.downcast_ref::<SendMessageBatchInput>() {
        let payload = i
            .entries
            .iter()
            .flatten()
            .map(|e| e.message_body.len() + attributes_size(e.message_attributes.as_ref()))
            .sum();
        return Some(Plan::Sqs { payload });
    }
    let i = input.downcast_ref::<SendEmailInput>()?;
    let count = |v: Option<&Vec<String>>| v.map_or(0, Vec::len) as u64;
    let recipients = i.destination.as_ref().map_or(1, |d| {
        count(d.to_addresses.as_ref())
            + count(d.cc_addresses.as_ref())
            + count(d.bcc_addresses.as_ref())
    });
    Some(Plan::Ses {
        recipients: recipients.max(1),
    })
}

/// The keys a BatchWriteItem left unprocessed (not written, not billed).
fn unprocessed_writes(output: Option<&Output>) -> HashSet<Key> {
    let unprocessed = output
        .and_then(|o| o.downcast_ref::<BatchWriteItemOutput>())
        .and_then(|o| o.unprocessed_items.as_ref());
    unprocessed
        .into_iter()
        .flatten()
        .flat_map(|(table, rs)| {
            rs.iter().filter_map(move |r| {
                let put = r.put_request.as_ref().map(|p| &p.item);
                key_of(table, put.or(r.delete_request.as_ref().map(|d| &d.key)))
            })
        })
        .collect()
}

/// The keys a BatchGetItem left unprocessed.
fn unprocessed_reads(output: Option<&Output>) -> HashSet<Key> {
    let unprocessed = output
        .and_then(|o| o.downcast_ref::<BatchGetItemOutput>())
        .and_then(|o| o.unprocessed_keys.as_ref());
    unprocessed
        .into_iter()
        .flatten()
        .flat_map(|(t, k)| k.keys.iter().filter_map(move |key| key_of(t, Some(key))))
        .collect()
}

/// The bytes a ReceiveMessage answered.
fn received_bytes(output: Option<&Output>) -> usize {
    let received = output.and_then(|o| o.downcast_ref::<ReceiveMessageOutput>());
    received.map_or(0, |o| {
        o.messages()
            .iter()
            .map(|m| {
                m.body.as_deref().map_or(0, str::len)
                    + attributes_size(m.message_attributes.as_ref())
            })
            .sum()
    })
}

impl UnitMeter {
    /// The read units of a successful read.
    fn read_units(&self, plan: &Plan, output: Option<&Output>) -> f64 {
        let size_of = |key: &Key| self.image(key).map_or(0, |i| billing::item_size(&i));
        match plan {
            Plan::Get { key, consistent } => billing::read_units(size_of(key), *consistent),
            Plan::BatchGet { keys, consistent } => {
                let unprocessed = unprocessed_reads(output);
                keys.iter()
                    .filter(|k| !unprocessed.contains(*k))
                    .map(|k| {
                        let strong = consistent.get(&k.0).copied().unwrap_or(false);
                        billing::read_units(size_of(k), strong)
                    })
                    .sum()
            }
            Plan::Query { table, consistent } => {
                let out = output.and_then(|o| o.downcast_ref::<QueryOutput>());
                let items = out.map_or(&[][..], |o| o.items());
                let size = items.iter().map(|i| self.full_size(table, i)).sum();
                billing::read_units(size, *consistent)
            }
            _ => 0.0,
        }
    }

    /// Bills one finished request.
    fn bill(&self, plan: Plan, output: Option<&Output>, condition_failed: bool) {
        let mut units = Units::default();
        match plan {
            Plan::Writes {
                writes,
                transaction,
            } => {
                // Throttled or failed at the transport: not billed. A failed condition is.
                if output.is_some() || condition_failed {
                    let skip = unprocessed_writes(output);
                    self.settle_writes(&writes, transaction, output.is_some(), &skip);
                }
            }
            _ if output.is_none() => {}
            Plan::Sqs { payload } => units.sqs_requests += billing::sqs_requests(payload),
            Plan::SqsOther => units.sqs_requests += billing::sqs_requests(received_bytes(output)),
            Plan::Ses { recipients } => units.ses_messages += recipients,
            read => units.dynamo_reads += self.read_units(&read, output),
        }
        self.add(units);
    }
}

impl Intercept for UnitMeter {
    fn name(&self) -> &'static str {
        "UnitMeter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(plan) = plan(context.input()) {
            cfg.interceptor_state().store_put(plan);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Every other SQS request is one request (a receive: per 64 KiB it answers).
        let sqs = cfg
            .load::<Metadata>()
            .is_some_and(|m| m.service().eq_ignore_ascii_case("sqs"));
        let plan = cfg.load::<Plan>().cloned();
        let (Some(plan), Some(result)) = (
            plan.or(sqs.then_some(Plan::SqsOther)),
            context.output_or_error(),
        ) else {
            return Ok(());
        };
        let condition_failed = result.as_ref().err().is_some_and(|e| {
            let text = format!("{e:?}");
            text.contains("ConditionalCheckFailed") || text.contains("TransactionCanceled")
        });
        self.bill(plan, result.ok(), condition_failed);
        Ok(())
    }
}

/// AWS clients whose every request is counted by `counter` and metered by `meter`.
pub fn metered_clients(
    shared: &aws_config::SdkConfig,
    counter: &crate::request_count::RequestCounter,
    meter: &UnitMeter,
) -> outflow::clients::AwsClients {
    outflow::clients::AwsClients {
        dynamo: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(shared)
                .interceptor(counter.clone())
                .interceptor(meter.clone())
                .build(),
        ),
        sqs: aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(shared)
                .interceptor(counter.clone())
                .interceptor(meter.clone())
                .build(),
        ),
        ses: aws_sdk_sesv2::Client::from_conf(
            aws_sdk_sesv2::config::Builder::from(shared)
                .interceptor(counter.clone())
                .interceptor(meter.clone())
                .build(),
        ),
    }
}

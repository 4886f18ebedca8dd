//! The one DynamoDB table: maps the domain's types to and from items. Every partition key
//! starts with the workspace (`WS#<id>`), so no query can reach another tenant's items.
//! Nothing outside this module sees an item, an attribute or a key (docs/data-model.md).

mod activity;
mod admission;
mod attempts;
mod batch;
mod chats;
mod conditional;
mod endpoints;
mod filter_items;
mod held_chats;
mod hourly;
mod idempotency;
mod kept;
mod key_details;
mod keys;
mod messages;
mod notices;
mod owner_email;
mod packed_json;
mod page_position;
mod portal_links;
mod request_log;
pub mod schema;
mod sending_slots;
mod stamped;
mod transact;
mod webhooks;
mod window_items;
mod windows;
mod workspaces;

use crate::clock::Clock;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub use admission::{Admission, RateWindows};
pub use batch::Unwritten;
pub use chats::Announcement;
pub use idempotency::{FirstUse, KeyUse};
pub use kept::{KeptDelivery, KeptKey};
pub use messages::{Edit, Edited, NewMessage};
pub use notices::DailyBudget;
pub use request_log::{LOG_LIMIT, LOG_RETENTION_DAYS};
pub use sending_slots::SendingSlot;
pub use webhooks::FailureCount;
pub use windows::{
    Claim, DueCursor, DuePage, StreamProgress, UnreadableWindow, WindowMessages, WindowPage,
    WindowPageCursor, WindowRead, LOADED_WINDOW_BYTES,
};
pub use workspaces::MAX_API_KEYS;

/// A DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// What can go wrong talking to the table.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB refused or failed the request.
    #[error("dynamodb {op} failed: {detail}")]
    Dynamo {
        /// The operation.
        op: &'static str,
        /// The SDK's full error chain.
        detail: String,
    },
    /// An item did not have the shape this code writes.
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    /// A call the store refuses: it would touch what its caller must not.
    #[error("refused: {0}")]
    Refused(String),
}

impl StoreError {
    pub(crate) fn dynamo<E, R>(op: &'static str, err: SdkError<E, R>) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        StoreError::Dynamo {
            op,
            detail: DisplayErrorContext(&err).to_string(),
        }
    }
}

impl StoreError {
    /// A service error DynamoDB answered with, once its SDK wrapper is unpacked.
    pub(crate) fn service(op: &'static str, err: &(dyn std::error::Error + 'static)) -> Self {
        StoreError::Dynamo {
            op,
            detail: DisplayErrorContext(err).to_string(),
        }
    }
}

impl From<serde_dynamo::Error> for StoreError {
    fn from(err: serde_dynamo::Error) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

/// A conditional write: `Some(output)` when it was applied, `None` when its condition did
/// not hold (not an error: "already there", "someone else got it first").
pub(crate) fn applied<T, E, R>(
    op: &'static str,
    result: Result<T, SdkError<E, R>>,
) -> StoreResult<Option<T>>
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(None),
        Err(e) => Err(StoreError::dynamo(op, e)),
    }
}

/// How a read sees the latest writes: a consistent read costs twice an eventual one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Sees every write acknowledged before it.
    Consistent,
    /// May miss writes of the last second or so.
    Eventual,
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The table, with the client that reaches it and the clock its bookkeeping times
/// (expiry, `updated_at`) come from.
#[derive(Clone, Debug)]
pub struct Store {
    db: aws_sdk_dynamodb::Client,
    table: String,
    clock: Clock,
}

impl Store {
    /// A store over `table`.
    pub fn new(db: aws_sdk_dynamodb::Client, table: impl Into<String>, clock: Clock) -> Self {
        Self {
            db,
            table: table.into(),
            clock,
        }
    }

    /// Unix seconds `days` from now: the TTL attribute value.
    pub(crate) fn expires_in_days(&self, days: i64) -> i64 {
        self.clock.days_from_now(days)
    }

    /// A Query over a workspace's items whose sort key starts with `prefix`.
    pub(crate) fn prefix_query(
        &self,
        ws: &crate::domain::WorkspaceId,
        prefix: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.partition_prefix_query(&keys::workspace_pk(ws), prefix)
    }

    /// A Query over partition `pk`'s items whose sort key starts with `prefix`.
    pub(crate) fn partition_prefix_query(
        &self,
        pk: &str,
        prefix: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
    }

    /// A Query over a workspace's items with `from <= sk < to`.
    pub(crate) fn range_query(
        &self,
        ws: &crate::domain::WorkspaceId,
        from: &str,
        to: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(keys::workspace_pk(ws)))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s(to))
    }

    /// A strongly consistent GetItem of one item of the table.
    pub(crate) fn consistent_get(
        &self,
        (pk, sk): (String, String),
    ) -> aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder {
        self.db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
    }

    /// An UpdateItem on one item of the table.
    pub(crate) fn update(
        &self,
        pk: AttributeValue,
        sk: AttributeValue,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.db
            .update_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
    }

    /// Deletes one item of the table if `condition` holds of it (`value` its `:value`);
    /// false when it does not (or no item is there).
    pub(crate) async fn delete_if(
        &self,
        (pk, sk): (String, String),
        condition: &str,
        value: AttributeValue,
    ) -> StoreResult<bool> {
        let result = self
            .db
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression(condition)
            .expression_attribute_values(":value", value)
            .send()
            .await;
        Ok(applied("DeleteItem", result)?.is_some())
    }
}

/// A number attribute, if the item has one that parses as `T`.
pub(crate) fn number_attribute<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// An attribute holding a JSON document (plain or packed), decoded.
pub(crate) fn json_attribute<T: serde::de::DeserializeOwned>(
    item: &Item,
    name: &str,
) -> StoreResult<T> {
    let json = packed_json::json_text(item, name)?;
    serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

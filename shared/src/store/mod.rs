//! The one DynamoDB table. Every partition key starts with the workspace
//! (`WS#<id>`), so no query can reach another tenant's items. See docs/data-model.md.

pub mod activity;
pub mod admission;
pub mod attempts;
pub mod batch;
pub mod chats;
pub mod kept;
pub mod keys;
pub mod messages;
pub mod rate_limit;
pub mod request_log;
pub mod schema;
pub mod transact;
pub mod webhooks;
pub mod windows;
pub mod workspaces;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub use activity::ActivityEntry;
pub use admission::{Admission, RateWindows};
pub use kept::{DeadLetterHistory, Kept};
pub use rate_limit::{OverLimit, RateLimit};
pub use request_log::{RecordedResponse, RequestLogEntry};
pub use webhooks::WebhookRecord;
pub use windows::{PendingWindow, WindowMessage};
pub use workspaces::Workspace;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// What can go wrong talking to the table.
#[derive(Debug, thiserror::Error)]
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

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The table, with the client that reaches it.
#[derive(Clone, Debug)]
pub struct Store {
    db: aws_sdk_dynamodb::Client,
    table: String,
}

impl Store {
    /// A store over `table`.
    pub fn new(db: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            db,
            table: table.into(),
        }
    }

    /// A Query over a workspace's items whose sort key starts with `prefix`.
    pub(crate) fn prefix_query(
        &self,
        ws: &crate::domain::WorkspaceId,
        prefix: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.db
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::workspace_pk(ws)))
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
}

/// A string attribute holding a JSON document, decoded.
pub(crate) fn json_attribute<T: serde::de::DeserializeOwned>(
    item: &Item,
    name: &str,
) -> StoreResult<T> {
    let json = item
        .get(name)
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("item without {name}")))?;
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Unix seconds `days` from now: the TTL attribute value.
pub(crate) fn expires_in_days(days: i64) -> i64 {
    chrono::Utc::now().timestamp() + days * 86_400
}

//! Conditional updates that need no all-or-nothing between them, and what became of each:
//! sent together in transactions (`transact.rs`: few calls, each item billed twice), or each
//! as its own UpdateItem (one unit, a call each), which is also how a failed transaction's
//! updates are tried again one by one.

use super::{s, Store};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;
use std::collections::HashMap;

/// How many of one caller's updates are in flight at once.
pub(crate) const IN_FLIGHT: usize = 32;

/// What became of one update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Written.
    Yes,
    /// Its condition did not hold.
    ConditionFailed,
    /// Not known to be written: DynamoDB failed it (throttled past the SDK's retries, an
    /// error), so the caller may try it again later.
    Other(String),
}

/// One conditional update of the table: key, update and condition expressions, values.
#[derive(Debug, Clone)]
pub struct ConditionalUpdate {
    /// Partition and sort key.
    pub key: (String, String),
    /// The update expression.
    pub update: String,
    /// The condition expression.
    pub condition: String,
    /// The expression's values.
    pub values: HashMap<String, AttributeValue>,
}

impl Store {
    /// Applies the updates, each on its own and up to 32 at once; says for each whether
    /// it was written, in the order given.
    pub async fn update_each(&self, updates: &[ConditionalUpdate]) -> Vec<Applied> {
        // Collected first: a lazy map's closure would make the future not provably `Send`.
        let each: Vec<_> = updates.iter().map(|u| self.update_one(u)).collect();
        futures::stream::iter(each)
            .buffered(IN_FLIGHT)
            .collect()
            .await
    }

    async fn update_one(&self, u: &ConditionalUpdate) -> Applied {
        let result = self
            .update(s(&u.key.0), s(&u.key.1))
            .update_expression(&u.update)
            .condition_expression(&u.condition)
            .set_expression_attribute_values(Some(u.values.clone()))
            .send()
            .await;
        match super::applied("UpdateItem", result) {
            Ok(Some(_)) => Applied::Yes,
            Ok(None) => Applied::ConditionFailed,
            Err(e) => Applied::Other(e.to_string()),
        }
    }
}

//! The table's definition, as template.yaml declares it; the local stack creates it from
//! here and a test checks both agree.

use super::StoreResult;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

/// Partition key attribute.
pub const PARTITION_KEY: &str = "pk";
/// Sort key attribute.
pub const SORT_KEY: &str = "sk";
/// TTL attribute (Unix seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// A global secondary index: name, partition key attribute, sort key attribute.
pub struct Index {
    /// Index name.
    pub name: &'static str,
    /// Partition key attribute.
    pub partition_key: &'static str,
    /// Sort key attribute.
    pub sort_key: &'static str,
}

/// Windows waiting to be flushed, by due time (sparse: only pending window items).
pub const DUE_INDEX: Index = Index {
    name: "due",
    partition_key: "due_pk",
    sort_key: "due_sk",
};
/// Messages of one chat window, by timestamp (sparse: only aggregated messages).
pub const WINDOW_INDEX: Index = Index {
    name: "window",
    partition_key: "win_pk",
    sort_key: "win_sk",
};
/// Every GSI of the table.
pub const INDEXES: [Index; 2] = [DUE_INDEX, WINDOW_INDEX];

/// Creates the table if it does not exist, with TTL enabled.
pub async fn ensure_table(db: &aws_sdk_dynamodb::Client, table: &str) -> StoreResult<()> {
    let exists = db.describe_table().table_name(table).send().await.is_ok();
    if exists {
        return Ok(());
    }
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("name and type are set")
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("name and type are set")
    };
    let mut create = db
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(PARTITION_KEY))
        .attribute_definitions(attr(SORT_KEY))
        .key_schema(key(PARTITION_KEY, KeyType::Hash))
        .key_schema(key(SORT_KEY, KeyType::Range));
    for index in INDEXES {
        create = create
            .attribute_definitions(attr(index.partition_key))
            .attribute_definitions(attr(index.sort_key))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(key(index.partition_key, KeyType::Hash))
                    .key_schema(key(index.sort_key, KeyType::Range))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .expect("name, keys and projection are set"),
            );
    }
    create
        .send()
        .await
        .map_err(|e| super::StoreError::dynamo("CreateTable", e))?;
    db.update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .expect("name and flag are set"),
        )
        .send()
        .await
        .map_err(|e| super::StoreError::dynamo("UpdateTimeToLive", e))?;
    Ok(())
}

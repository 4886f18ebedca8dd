//! Creates the table from `outflow::store::schema`, as template.yaml declares it
//! (local provisioning only: the deployed stack's table comes from the template).

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use outflow::store::schema::{Index, INDEXES, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};

fn attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("name and type are set")
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("name and type are set")
}

fn with_index(create: CreateTableFluentBuilder, index: &Index) -> CreateTableFluentBuilder {
    create
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
        )
}

/// Creates the table if it does not exist, with its indexes and TTL enabled.
pub async fn ensure_table(db: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), String> {
    if db.describe_table().table_name(table).send().await.is_ok() {
        return Ok(());
    }
    let mut create = db
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(PARTITION_KEY))
        .attribute_definitions(attr(SORT_KEY))
        .key_schema(key(PARTITION_KEY, KeyType::Hash))
        .key_schema(key(SORT_KEY, KeyType::Range));
    for index in &INDEXES {
        create = with_index(create, index);
    }
    create
        .send()
        .await
        .map_err(|e| format!("CreateTable: {}", DisplayErrorContext(&e)))?;
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(TTL_ATTRIBUTE)
        .enabled(true)
        .build()
        .expect("name and flag are set");
    db.update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| format!("UpdateTimeToLive: {}", DisplayErrorContext(&e)))?;
    Ok(())
}

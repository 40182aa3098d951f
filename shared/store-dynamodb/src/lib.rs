//! DynamoDB adapter of the store ports: every repository of `tollgate_domain::Store` on one
//! table (`PK`/`SK` string keys, one GSI `GSI1` on `GSI1PK`/`GSI1SK`, TTL on `ttl`).
//!
//! The key design and every access pattern are documented in `docs/dynamodb.md`.
//! Items that expire carry their expiry as an attribute and every read filters on it: DynamoDB
//! deletes expired items only eventually (and emulators such as moto never do).

mod api_keys;
mod catalog;
mod invoices;
mod item;
mod jobs;
mod keys;
mod management_tokens;
mod metrics;
mod mfa;
mod misc;
mod notification_settings;
mod ops;
mod organizations;
mod projects;
mod sessions;
mod usage;
mod users;
mod webhooks;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use item::{GSI1, GSI1PK, GSI1SK, PK, SK, TTL};
use ops::{build_error, sdk_error};
use std::time::Duration;
use tollgate_domain::StoreError;

/// The DynamoDB store: implements every port that makes up `tollgate_domain::Store`.
///
/// Cheap to clone (the SDK client is an `Arc` inside).
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoStore {
    /// A store on `table`, which must already exist with the schema of [`create_table`].
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into() }
    }

    /// A store on the table named by `TABLE_NAME`, with the SDK's default configuration
    /// (region, credentials and `AWS_ENDPOINT_URL` from the environment).
    pub async fn from_env() -> Result<Self, StoreError> {
        let table = std::env::var("TABLE_NAME")
            .map_err(|e| StoreError::unavailable("the TABLE_NAME environment variable is not set", e))?;
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table))
    }

    /// The SDK client this store uses.
    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// The table this store uses.
    pub fn table(&self) -> &str {
        &self.table
    }
}

/// Creates the table with the schema the store expects (the same as template.yaml):
/// on-demand billing, `PK`/`SK` string keys, GSI `GSI1` (`GSI1PK`/`GSI1SK`, all attributes
/// projected), TTL on `ttl`. Waits until the table is ACTIVE (up to 60 seconds).
///
/// For tests and local tooling; in AWS the table comes from the SAM template.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), StoreError> {
    let string_attr = |attr: &str| {
        AttributeDefinition::builder()
            .attribute_name(attr)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_error)
    };
    let key = |attr: &str, kind: KeyType| {
        KeySchemaElement::builder().attribute_name(attr).key_type(kind).build().map_err(build_error)
    };
    let gsi1 = GlobalSecondaryIndex::builder()
        .index_name(GSI1)
        .key_schema(key(GSI1PK, KeyType::Hash)?)
        .key_schema(key(GSI1SK, KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .map_err(build_error)?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_attr(PK)?)
        .attribute_definitions(string_attr(SK)?)
        .attribute_definitions(string_attr(GSI1PK)?)
        .attribute_definitions(string_attr(GSI1SK)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .global_secondary_indexes(gsi1)
        .send()
        .await
        .map_err(|e| sdk_error("CreateTable", e))?;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = client.describe_table().table_name(name).send().await.map_err(|e| sdk_error("DescribeTable", e))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(StoreError::Unavailable {
                message: format!("table {name} did not become ACTIVE within 60 s"),
                source: None,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let ttl = TimeToLiveSpecification::builder().enabled(true).attribute_name(TTL).build().map_err(build_error)?;
    // Some emulators do not implement TTL; the store never relies on it (reads filter on
    // expiry), so a failure here is only worth a warning.
    if let Err(e) = client.update_time_to_live().table_name(name).time_to_live_specification(ttl).send().await {
        tracing::warn!(table = name, error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "could not enable TTL");
    }
    Ok(())
}

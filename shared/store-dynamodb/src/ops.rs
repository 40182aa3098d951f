//! Low-level helpers around the SDK: error mapping, expression parameters, retry backoff,
//! GetItem, conditional UpdateItem, paginated Query and TransactWriteItems with cancellation
//! reasons.

use crate::item::{s, Item};
use crate::DynamoStore;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, Delete, KeysAndAttributes, Put,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;
use tollgate_domain::StoreError;

/// Maps an SDK failure to `Unavailable`, keeping the whole error as the source and its
/// context (service code and message) in the message.
pub(crate) fn sdk_error<E, R>(op: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::unavailable(format!("DynamoDB {op} failed: {}", DisplayErrorContext(&err)), err)
}

/// A request could not be built: only possible if a required field was left out (a bug).
pub(crate) fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::unavailable(format!("building a DynamoDB request failed: {err}"), err)
}

/// Condition of a write that creates an item: no item with its key exists yet.
pub(crate) const NEW_ITEM: &str = "attribute_not_exists(PK)";

/// Whether a single-item write failed only because its condition did not hold.
pub(crate) fn is_condition_failed<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

/// A few milliseconds of random backoff, growing with the attempt: spreads writers that
/// retry after losing against each other. Sleeps up to `2 + step_ms * min(attempt, 10)` ms.
///
/// The step is the caller's: the read-then-write rounds of API keys and projects (small
/// transactions, up to 40 rounds) use 3 ms; the usage worker's batch chunks (transactions of
/// up to 100 items, retried only after `transact`'s own conflict retries and at most 10
/// times) use 5 ms, to spread wider.
pub(crate) async fn backoff(attempt: u32, step_ms: u64) {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    let max_ms = 2 + step_ms * u64::from(attempt.min(10));
    tokio::time::sleep(Duration::from_millis(h.finish() % max_ms)).await;
}

/// `ExpressionAttributeNames` / `ExpressionAttributeValues` of one request. DynamoDB rejects
/// empty maps, so empty ones are sent as absent.
#[derive(Default, Clone)]
pub(crate) struct Params {
    names: HashMap<String, String>,
    values: Item,
}

impl Params {
    pub(crate) fn new() -> Self {
        Params::default()
    }
    pub(crate) fn name(mut self, placeholder: &str, attribute: &str) -> Self {
        self.names.insert(placeholder.to_string(), attribute.to_string());
        self
    }
    pub(crate) fn value(mut self, placeholder: &str, v: AttributeValue) -> Self {
        self.values.insert(placeholder.to_string(), v);
        self
    }
    pub(crate) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }
    pub(crate) fn values(&self) -> Option<Item> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// The update expression of an UpdateItem, built attribute by attribute with generated
/// placeholders (`#uN`, `:uN`), so attribute names never clash with reserved words.
/// `set_opt(.., None)` removes the attribute.
#[derive(Default)]
pub(crate) struct UpdateExpr {
    set: Vec<String>,
    add: Vec<String>,
    remove: Vec<String>,
    params: Params,
}

impl UpdateExpr {
    pub(crate) fn new() -> Self {
        UpdateExpr::default()
    }
    fn placeholder(&mut self, attribute: &str) -> (String, String) {
        let i = self.set.len() + self.add.len() + self.remove.len();
        let (name, value) = (format!("#u{i}"), format!(":u{i}"));
        self.params = std::mem::take(&mut self.params).name(&name, attribute);
        (name, value)
    }
    pub(crate) fn set(mut self, attribute: &str, v: AttributeValue) -> Self {
        let (name, value) = self.placeholder(attribute);
        self.set.push(format!("{name} = {value}"));
        self.params = std::mem::take(&mut self.params).value(&value, v);
        self
    }
    pub(crate) fn set_opt(self, attribute: &str, v: Option<AttributeValue>) -> Self {
        match v {
            Some(v) => self.set(attribute, v),
            None => self.remove(attribute),
        }
    }
    /// `ADD attribute :v` (numbers: creates the attribute at 0 first).
    pub(crate) fn add(mut self, attribute: &str, v: AttributeValue) -> Self {
        let (name, value) = self.placeholder(attribute);
        self.add.push(format!("{name} {value}"));
        self.params = std::mem::take(&mut self.params).value(&value, v);
        self
    }
    pub(crate) fn remove(mut self, attribute: &str) -> Self {
        let (name, _) = self.placeholder(attribute);
        self.remove.push(name);
        self
    }
    /// The expression and its parameters (add the condition's own to the `Params`).
    pub(crate) fn build(self) -> (String, Params) {
        let mut clauses = Vec::new();
        for (keyword, parts) in [("SET", &self.set), ("ADD", &self.add), ("REMOVE", &self.remove)] {
            if !parts.is_empty() {
                clauses.push(format!("{keyword} {}", parts.join(", ")));
            }
        }
        (clauses.join(" "), self.params)
    }
}

/// Reason code of a transaction item whose condition failed.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";
const TRANSACTION_CONFLICT: &str = "TransactionConflict";

/// Why a transaction was cancelled, item by item (same order as the request).
pub(crate) struct Cancelled(pub(crate) Vec<CancellationReason>);

impl Cancelled {
    /// Whether the condition of item `i` failed.
    pub(crate) fn failed(&self, i: usize) -> bool {
        self.0.get(i).and_then(|r| r.code()) == Some(CONDITION_FAILED)
    }
    /// The item as it was when the condition of item `i` failed (None if it did not exist).
    pub(crate) fn old_item(&self, i: usize) -> Option<&Item> {
        self.0.get(i).and_then(|r| r.item())
    }
    /// Whether it lost against another transaction rather than on a condition.
    pub(crate) fn conflict(&self) -> bool {
        self.0.iter().any(|r| r.code() == Some(TRANSACTION_CONFLICT))
    }
}

impl DynamoStore {
    /// Strongly consistent GetItem.
    pub(crate) async fn get(&self, op: &'static str, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(op, e))?;
        Ok(out.item)
    }

    /// A single conditional UpdateItem whose failed condition is an expected outcome the
    /// caller interprets: `Ok(false)` if the condition did not hold (nothing was written),
    /// `Err` for any other failure.
    pub(crate) async fn update_if(
        &self,
        op: &'static str,
        key: Item,
        update: &str,
        condition: &str,
        p: Params,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(p.names())
            .set_expression_attribute_values(p.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_error(op, e)),
        }
    }

    /// A Query on the table (or the index set on `query`), following every page.
    pub(crate) async fn query_all(&self, op: &'static str, query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = query.clone().set_exclusive_start_key(start).send().await.map_err(|e| sdk_error(op, e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    /// Every item of partition `pk` whose sort key starts with `prefix`: a consistent Query,
    /// following every page.
    pub(crate) async fn query_prefix(
        &self,
        op: &'static str,
        pk: String,
        prefix: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let q = self
            .query()
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true);
        self.query_all(op, q).await
    }

    /// Strongly consistent BatchGetItem of `keys` (any number: 100 a request), retrying the
    /// keys DynamoDB leaves unprocessed. The items found, in no particular order.
    pub(crate) async fn batch_get(&self, op: &'static str, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        const PER_REQUEST: usize = 100;
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(PER_REQUEST) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(build_error)?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| sdk_error(op, e))?;
                if let Some(mut responses) = out.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                pending =
                    out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    backoff(attempt, 10).await;
                }
            }
        }
        Ok(found)
    }

    /// A Query with its table name set.
    pub(crate) fn query(&self) -> QueryFluentBuilder {
        self.client.query().table_name(&self.table)
    }

    pub(crate) fn tx_put(
        &self,
        item: Item,
        condition: Option<&str>,
        p: Params,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .set_expression_attribute_names(p.names())
            .set_expression_attribute_values(p.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(crate) fn tx_update(
        &self,
        key: Item,
        update: &str,
        condition: Option<&str>,
        p: Params,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update)
            .set_condition_expression(condition.map(str::to_string))
            .set_expression_attribute_names(p.names())
            .set_expression_attribute_values(p.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub(crate) fn tx_delete(
        &self,
        key: Item,
        condition: Option<&str>,
        p: Params,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .set_condition_expression(condition.map(str::to_string))
            .set_expression_attribute_names(p.names())
            .set_expression_attribute_values(p.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// A condition on an item the transaction does not write.
    pub(crate) fn tx_condition_check(
        &self,
        key: Item,
        condition: &str,
        p: Params,
    ) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression(condition)
            .set_expression_attribute_names(p.names())
            .set_expression_attribute_values(p.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// Runs a TransactWriteItems. `Ok(Err(reasons))` when it was cancelled by a condition or a
    /// conflict (an expected outcome the caller interprets); `Err` for any other failure.
    /// A cancellation caused only by a conflicting concurrent transaction is retried a few
    /// times first: the request is all-conditional, so repeating it is safe.
    pub(crate) async fn transact(
        &self,
        op: &'static str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Cancelled>, StoreError> {
        const CONFLICT_RETRIES: u32 = 3;
        let mut attempt = 0;
        loop {
            let result = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            let err = match result {
                Ok(_) => return Ok(Ok(())),
                Err(err) => err,
            };
            let reasons = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => e.cancellation_reasons().to_vec(),
                _ => return Err(sdk_error(op, err)),
            };
            let expected = reasons
                .iter()
                .all(|r| matches!(r.code(), None | Some("None" | CONDITION_FAILED | TRANSACTION_CONFLICT)));
            if reasons.is_empty() || !expected {
                return Err(sdk_error(op, err));
            }
            let cancelled = Cancelled(reasons);
            let only_conflict = cancelled.conflict() && !cancelled.0.iter().any(|r| r.code() == Some(CONDITION_FAILED));
            if only_conflict && attempt < CONFLICT_RETRIES {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
                continue;
            }
            return Ok(Err(cancelled));
        }
    }
}

//! The DynamoDB adapter (aws-sdk-dynamodb). The table layout lives in [`table_definition`]
//! (used by tests, by `cargo run` against DynamoDB Local, and mirrored in
//! `infra/template.yaml`); the key layout above it lives in [`super::keys`].

use super::{Condition, Cursor, Item, Key, Page, QueryOptions, Store, StoreError, Update, WriteOp};
use crate::clock::Clock;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put, PutRequest, ReturnValue,
    ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, WriteRequest,
};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub const INDEX_NAME: &str = "gsi1";
/// BatchGetItem / BatchWriteItem calls of one batch in flight at once.
const BATCH_CONCURRENCY: usize = 8;
type Attrs = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            table: table.into(),
            clock,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    /// One BatchGetItem of at most 100 keys, retrying unprocessed keys with backoff.
    async fn batch_get_chunk(&self, chunk: &[Key], now: i64) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::with_capacity(chunk.len());
        let mut pending = KeysAndAttributes::builder()
            .set_keys(Some(chunk.iter().map(key_attrs).collect()))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut attempt = 0u32;
        loop {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(unavailable)?;
            for attrs in out
                .responses
                .and_then(|mut m| m.remove(&self.table))
                .unwrap_or_default()
            {
                let item = from_attrs(attrs)?;
                if !item.is_expired(now) {
                    items.push(item);
                }
            }
            match out.unprocessed_keys.and_then(|mut m| m.remove(&self.table)) {
                Some(rest) if !rest.keys.is_empty() => {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StoreError::Unavailable(
                            "batch get kept returning unprocessed keys".into(),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(25 << attempt.min(6))).await;
                    pending = rest;
                }
                _ => return Ok(items),
            }
        }
    }

    /// One BatchWriteItem of at most 25 requests, retrying unprocessed items with backoff.
    async fn batch_write_chunk(&self, mut pending: Vec<WriteRequest>) -> Result<(), StoreError> {
        let mut attempt = 0u32;
        while !pending.is_empty() {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(unavailable)?;
            pending = out
                .unprocessed_items
                .and_then(|mut m| m.remove(&self.table))
                .unwrap_or_default();
            if !pending.is_empty() {
                attempt += 1;
                if attempt > 8 {
                    return Err(StoreError::Unavailable(
                        "batch write kept returning unprocessed items".into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(25 << attempt.min(6))).await;
            }
        }
        Ok(())
    }
}

fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

/// The table: `pk`/`sk` strings, index `gsi1` on `gsi1pk`/`gsi1sk` projecting all
/// attributes, TTL on `ttl`, on-demand billing. Creates it when missing (DynamoDB Local and
/// tests only; in AWS the SAM template owns the table).
pub async fn create_table_if_missing(client: &Client, table: &str) -> Result<(), StoreError> {
    if client.describe_table().table_name(table).send().await.is_ok() {
        return Ok(());
    }
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("complete attribute definition")
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("complete key schema")
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(vec![attr("pk"), attr("sk"), attr("gsi1pk"), attr("gsi1sk")]))
        .set_key_schema(Some(vec![key("pk", KeyType::Hash), key("sk", KeyType::Range)]))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(INDEX_NAME)
                .set_key_schema(Some(vec![key("gsi1pk", KeyType::Hash), key("gsi1sk", KeyType::Range)]))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .expect("complete index definition"),
        )
        .send()
        .await
        .map_err(unavailable)?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("ttl")
                .build()
                .expect("complete ttl"),
        )
        .send()
        .await
        .map_err(unavailable)?;
    Ok(())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn key_attrs(key: &Key) -> Attrs {
    HashMap::from([("pk".into(), s(&key.pk)), ("sk".into(), s(&key.sk))])
}

fn to_attrs(item: &Item) -> Result<Attrs, StoreError> {
    let mut attrs: Attrs =
        serde_dynamo::to_item(Value::Object(item.attrs.clone())).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    attrs.extend(key_attrs(&item.key));
    if let Some(g) = &item.gsi1 {
        attrs.insert("gsi1pk".into(), s(&g.pk));
        attrs.insert("gsi1sk".into(), s(&g.sk));
    }
    if let Some(t) = item.expires_at {
        attrs.insert("ttl".into(), AttributeValue::N(t.to_string()));
    }
    attrs.insert("version".into(), AttributeValue::N(item.version.to_string()));
    Ok(attrs)
}

fn take_s(attrs: &mut Attrs, name: &str) -> Option<String> {
    match attrs.remove(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

fn take_n<T: std::str::FromStr>(attrs: &mut Attrs, name: &str) -> Option<T> {
    match attrs.remove(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn from_attrs(mut attrs: Attrs) -> Result<Item, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("item without {what}"));
    let key = Key {
        pk: take_s(&mut attrs, "pk").ok_or_else(|| corrupt("pk"))?,
        sk: take_s(&mut attrs, "sk").ok_or_else(|| corrupt("sk"))?,
    };
    let gsi1 = match (take_s(&mut attrs, "gsi1pk"), take_s(&mut attrs, "gsi1sk")) {
        (Some(pk), Some(sk)) => Some(Key { pk, sk }),
        _ => None,
    };
    let expires_at = take_n(&mut attrs, "ttl");
    let version = take_n(&mut attrs, "version").unwrap_or(0);
    let attrs: Map<String, Value> = serde_dynamo::from_item(attrs).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Item {
        key,
        gsi1,
        expires_at,
        version,
        attrs,
    })
}

/// A condition as a DynamoDB expression with its names and values. Expired items count as
/// absent, so every condition also looks at `ttl`.
struct Expr {
    text: Option<String>,
    names: HashMap<String, String>,
    values: Attrs,
}

impl Expr {
    fn new() -> Self {
        Self {
            text: None,
            names: HashMap::new(),
            values: HashMap::new(),
        }
    }

    fn condition(mut self, condition: Condition, now: i64, must_exist: bool) -> Self {
        const LIVE: &str = "(attribute_not_exists(#ttl) OR #ttl > :now)";
        let text = match condition {
            Condition::Always if must_exist => format!("attribute_exists(pk) AND {LIVE}"),
            Condition::Always => return self,
            // An update needs a live item, which `NotExists` rules out: it never holds (as in
            // the embedded store), rather than updating an expired item or failing validation.
            Condition::NotExists if must_exist => {
                format!("attribute_exists(pk) AND {LIVE} AND attribute_not_exists(pk)")
            }
            Condition::NotExists => "attribute_not_exists(pk) OR #ttl <= :now".to_owned(),
            Condition::Exists => format!("attribute_exists(pk) AND {LIVE}"),
            Condition::VersionIs(v) => {
                self.names.insert("#version".into(), "version".into());
                self.values.insert(":expected".into(), AttributeValue::N(v.to_string()));
                format!("#version = :expected AND {LIVE}")
            }
        };
        self.names.insert("#ttl".into(), "ttl".into());
        self.values.insert(":now".into(), AttributeValue::N(now.to_string()));
        self.text = Some(text);
        self
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<Attrs> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// `SET`/`REMOVE` expression for an update, plus the version increment.
fn update_expr(update: &Update, mut expr: Expr) -> Result<(String, Expr), StoreError> {
    let mut sets = vec!["#version = #version + :one".to_owned()];
    expr.names.insert("#version".into(), "version".into());
    expr.values.insert(":one".into(), AttributeValue::N("1".into()));
    for (i, (name, value)) in update.set.iter().enumerate() {
        expr.names.insert(format!("#s{i}"), name.clone());
        let v = serde_dynamo::to_attribute_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        expr.values.insert(format!(":s{i}"), v);
        sets.push(format!("#s{i} = :s{i}"));
    }
    let mut text = format!("SET {}", sets.join(", "));
    if !update.remove.is_empty() {
        let removes: Vec<String> = update
            .remove
            .iter()
            .enumerate()
            .map(|(i, name)| {
                expr.names.insert(format!("#r{i}"), name.clone());
                format!("#r{i}")
            })
            .collect();
        text.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    Ok((text, expr))
}

fn cursor_from(mut last: Attrs) -> Option<Cursor> {
    let key = Key {
        pk: take_s(&mut last, "pk")?,
        sk: take_s(&mut last, "sk")?,
    };
    let gsi1 = match (take_s(&mut last, "gsi1pk"), take_s(&mut last, "gsi1sk")) {
        (Some(pk), Some(sk)) => Some(Key { pk, sk }),
        _ => None,
    };
    Some(Cursor { key, gsi1 })
}

fn cursor_attrs(c: &Cursor) -> Attrs {
    let mut a = key_attrs(&c.key);
    if let Some(g) = &c.gsi1 {
        a.insert("gsi1pk".into(), s(&g.pk));
        a.insert("gsi1sk".into(), s(&g.sk));
    }
    a
}

impl DynamoStore {
    async fn query_on(
        &self,
        index: Option<&str>,
        pk_name: &str,
        sk_name: &str,
        pk: &str,
        prefix: &str,
        options: QueryOptions,
    ) -> Result<Page, StoreError> {
        let now = self.now();
        let mut items = Vec::new();
        let mut start = options.after.as_ref().map(cursor_attrs);
        loop {
            let mut names = HashMap::from([("#pk".to_owned(), pk_name.to_owned())]);
            let mut values = HashMap::from([(":pk".to_owned(), s(pk))]);
            let mut cond = "#pk = :pk".to_owned();
            if !prefix.is_empty() {
                names.insert("#sk".into(), sk_name.into());
                values.insert(":prefix".into(), s(prefix));
                cond.push_str(" AND begins_with(#sk, :prefix)");
            }
            let remaining = options.limit.map(|l| l - items.len());
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_owned))
                .consistent_read(index.is_none())
                .key_condition_expression(cond)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .set_exclusive_start_key(start.take())
                .set_limit(remaining.map(|r| r.min(1000) as i32))
                .send()
                .await
                .map_err(unavailable)?;
            for attrs in out.items.unwrap_or_default() {
                let item = from_attrs(attrs)?;
                if !item.is_expired(now) {
                    items.push(item);
                }
            }
            start = out.last_evaluated_key;
            let full = options.limit.is_some_and(|l| items.len() >= l);
            if start.is_none() || full {
                return Ok(Page {
                    items,
                    next: start.and_then(cursor_from),
                });
            }
        }
    }
}

fn transact_item(op: WriteOp, now: i64, table: &str) -> Result<TransactWriteItem, StoreError> {
    let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Corrupt(e.to_string());
    Ok(match op {
        WriteOp::Put { item, condition } => {
            let e = Expr::new().condition(condition, now, false);
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(table)
                        .set_item(Some(to_attrs(&item)?))
                        .set_condition_expression(e.text.clone())
                        .set_expression_attribute_names(e.names())
                        .set_expression_attribute_values(e.values())
                        .build()
                        .map_err(built)?,
                )
                .build()
        }
        WriteOp::Update { key, update, condition } => {
            let (text, e) = update_expr(&update, Expr::new().condition(condition, now, true))?;
            TransactWriteItem::builder()
                .update(
                    aws_sdk_dynamodb::types::Update::builder()
                        .table_name(table)
                        .set_key(Some(key_attrs(&key)))
                        .update_expression(text)
                        .set_condition_expression(e.text.clone())
                        .set_expression_attribute_names(e.names())
                        .set_expression_attribute_values(e.values())
                        .build()
                        .map_err(built)?,
                )
                .build()
        }
        WriteOp::Delete { key, condition } => {
            let e = Expr::new().condition(condition, now, false);
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(table)
                        .set_key(Some(key_attrs(&key)))
                        .set_condition_expression(e.text.clone())
                        .set_expression_attribute_names(e.names())
                        .set_expression_attribute_values(e.values())
                        .build()
                        .map_err(built)?,
                )
                .build()
        }
        WriteOp::Check { key, condition } => {
            let e = Expr::new().condition(condition, now, false);
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(table)
                        .set_key(Some(key_attrs(&key)))
                        .condition_expression(
                            e.text
                                .clone()
                                .unwrap_or_else(|| "attribute_exists(pk) OR attribute_not_exists(pk)".into()),
                        )
                        .set_expression_attribute_names(e.names())
                        .set_expression_attribute_values(e.values())
                        .build()
                        .map_err(built)?,
                )
                .build()
        }
    })
}

#[async_trait]
impl Store for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let now = self.now();
        Ok(out.item.map(from_attrs).transpose()?.filter(|i| !i.is_expired(now)))
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        let e = Expr::new().condition(condition, self.now(), false);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attrs(&item)?))
            .set_condition_expression(e.text.clone())
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::ConditionFailed)
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn update(&self, key: &Key, update: Update, condition: Condition) -> Result<Item, StoreError> {
        let (text, e) = update_expr(&update, Expr::new().condition(condition, self.now(), true))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .update_expression(text)
            .set_condition_expression(e.text.clone())
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => from_attrs(out.attributes.unwrap_or_default()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::ConditionFailed)
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        let e = Expr::new().condition(condition, self.now(), false);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .set_condition_expression(e.text.clone())
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::ConditionFailed)
            }
            Err(err) => Err(unavailable(err)),
        }
    }

    async fn query(&self, pk: &str, sk_prefix: &str, options: QueryOptions) -> Result<Page, StoreError> {
        self.query_on(None, "pk", "sk", pk, sk_prefix, options).await
    }

    async fn query_index(&self, gsi1pk: &str, sk_prefix: &str, options: QueryOptions) -> Result<Page, StoreError> {
        self.query_on(Some(INDEX_NAME), "gsi1pk", "gsi1sk", gsi1pk, sk_prefix, options)
            .await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let now = self.now();
        let items = ops
            .into_iter()
            .map(|op| transact_item(op, now, &self.table))
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) => {
                    let codes: Vec<&str> = c.cancellation_reasons().iter().filter_map(|r| r.code()).collect();
                    if codes.contains(&"ConditionalCheckFailed") {
                        Err(StoreError::ConditionFailed)
                    } else {
                        Err(StoreError::Conflict)
                    }
                }
                _ => Err(unavailable(err)),
            },
        }
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        let now = self.now();
        // Owned chunks: a closure over borrowed slices is not `Send` enough for async_trait.
        let chunks: Vec<Vec<Key>> = keys.chunks(100).map(<[Key]>::to_vec).collect();
        let chunks: Vec<Vec<Item>> = stream::iter(chunks)
            .map(|chunk| async move { self.batch_get_chunk(&chunk, now).await })
            .buffered(BATCH_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(chunks.into_iter().flatten().collect())
    }

    async fn batch_write(&self, puts: Vec<Item>, deletes: Vec<Key>) -> Result<(), StoreError> {
        let mut requests = Vec::with_capacity(puts.len() + deletes.len());
        for item in &puts {
            let put = PutRequest::builder()
                .set_item(Some(to_attrs(item)?))
                .build()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        for key in &deletes {
            let del = DeleteRequest::builder()
                .set_key(Some(key_attrs(key)))
                .build()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            requests.push(WriteRequest::builder().delete_request(del).build());
        }
        let mut chunks: Vec<Vec<WriteRequest>> = Vec::with_capacity(requests.len().div_ceil(25));
        for request in requests {
            match chunks.last_mut() {
                Some(chunk) if chunk.len() < 25 => chunk.push(request),
                _ => chunks.push(vec![request]),
            }
        }
        stream::iter(chunks)
            .map(|chunk| self.batch_write_chunk(chunk))
            .buffer_unordered(BATCH_CONCURRENCY)
            .try_collect::<()>()
            .await?;
        Ok(())
    }
}

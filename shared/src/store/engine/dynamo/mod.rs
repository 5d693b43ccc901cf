//! The DynamoDB engine: the `Table` contract over aws-sdk-dynamodb.
//!
//! Typed updates become update expressions with every name and value bound as a placeholder, so
//! user-chosen attribute names (`a.b`, `#x`, `$y`, `k:v`) can never change an expression's
//! meaning. A map merge writes `#map.#key` paths, which DynamoDB accepts only when the map
//! exists; the first write to an item therefore creates the map in a separate step.

pub mod capacity;

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConsumedCapacity, DeleteRequest,
    GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, PutRequest,
    ReturnConsumedCapacity, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification, WriteRequest,
};

use crate::store::item::{Attr, Item};
use crate::store::keys::{self, TABLE};
use crate::store::table::{
    Condition, Key, Page, Query, Read, SortRange, StoreError, StoreResult, Table, Update, UpdateOp,
    Write, condition_holds, key_item, op_writes,
};
use capacity::{CapacityMeter, Kind};

/// A DynamoDB table reached through one shared client.
#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    table: String,
    meter: Option<Arc<CapacityMeter>>,
}

impl DynamoTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoTable {
            client,
            table: table.into(),
            meter: None,
        }
    }

    /// The same table, adding the capacity units of every call it makes (and its clones make)
    /// to `meter`.
    pub fn with_meter(mut self, meter: Arc<CapacityMeter>) -> Self {
        self.meter = Some(meter);
        self
    }

    /// What to ask DynamoDB to report: per-index units when metered, nothing otherwise.
    pub(crate) fn return_capacity(&self) -> Option<ReturnConsumedCapacity> {
        self.meter.as_ref().map(|_| ReturnConsumedCapacity::Indexes)
    }

    pub(crate) fn meter_reads<'a>(&self, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        if let Some(meter) = &self.meter {
            meter.record(Kind::Read, consumed);
        }
    }

    pub(crate) fn meter_writes<'a>(
        &self,
        consumed: impl IntoIterator<Item = &'a ConsumedCapacity>,
    ) {
        if let Some(meter) = &self.meter {
            meter.record(Kind::Write, consumed);
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn name(&self) -> &str {
        &self.table
    }

    /// Creates the table from `keys::TABLE` (on-demand, with its GSIs and TTL) and waits until it
    /// is active. Succeeds without change when the table already exists.
    pub async fn create_table(&self) -> StoreResult<bool> {
        let mut attrs = vec![TABLE.partition_key, TABLE.sort_key];
        let mut request = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            // The stream feeds the index counts (`dynamo_counts`).
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(TABLE.stream_view_type))
                    .build()
                    .map_err(build_error)?,
            )
            .key_schema(key_schema(TABLE.partition_key, KeyType::Hash)?)
            .key_schema(key_schema(TABLE.sort_key, KeyType::Range)?);
        for index in TABLE.indexes {
            attrs.push(index.partition_key);
            attrs.push(index.sort_key);
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(key_schema(index.partition_key, KeyType::Hash)?)
                    .key_schema(key_schema(index.sort_key, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(match index.projection {
                                keys::Projection::All => ProjectionType::All,
                                keys::Projection::KeysOnly => ProjectionType::KeysOnly,
                            })
                            .build(),
                    )
                    .build()
                    .map_err(build_error)?,
            );
        }
        for name in attrs {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build_error)?,
            );
        }
        match request.send().await {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceInUseException") => return Ok(false),
            Err(e) => return Err(classify(e)),
        }
        // Wait for ACTIVE; DynamoDB Local is immediate, AWS takes seconds.
        for _ in 0..120 {
            let described = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(classify)?;
            let active = described
                .table()
                .and_then(|t| t.table_status())
                .is_some_and(|s| s.as_str() == "ACTIVE");
            if active {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(TABLE.ttl_attribute)
                    .enabled(true)
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(classify)?;
        Ok(true)
    }
}

fn key_schema(name: &str, key_type: KeyType) -> StoreResult<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(build_error)
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Rejected(e.to_string())
}

/// Sorts an SDK failure into what the caller can do about it.
pub(crate) fn classify<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(Box::new(err))
        }
        SdkError::ServiceError(service) => match service.err().code() {
            Some("ConditionalCheckFailedException") => StoreError::ConditionFailed,
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "ResourceNotFoundException",
            ) => StoreError::Unavailable(Box::new(err)),
            Some("ValidationException") => {
                let message = service.err().message().unwrap_or("invalid");
                if message.contains("Item size has exceeded")
                    || message.contains("Item size to update has exceeded")
                {
                    StoreError::ItemTooLarge
                } else {
                    StoreError::Rejected(message.to_owned())
                }
            }
            _ => StoreError::Internal(Box::new(err)),
        },
        _ => StoreError::Internal(Box::new(err)),
    }
}

pub(crate) fn to_av(attr: &Attr) -> AttributeValue {
    match attr {
        Attr::S(s) => AttributeValue::S(s.clone()),
        Attr::N(n) => AttributeValue::N(n.clone()),
        Attr::Bool(b) => AttributeValue::Bool(*b),
        Attr::Null => AttributeValue::Null(true),
        Attr::L(items) => AttributeValue::L(items.iter().map(to_av).collect()),
        Attr::M(map) => AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), to_av(v))).collect()),
    }
}

pub(crate) fn from_av(value: &AttributeValue) -> Attr {
    match value {
        AttributeValue::S(s) => Attr::S(s.clone()),
        AttributeValue::N(n) => Attr::N(n.clone()),
        AttributeValue::Bool(b) => Attr::Bool(*b),
        AttributeValue::L(items) => Attr::L(items.iter().map(from_av).collect()),
        AttributeValue::M(map) => {
            Attr::M(map.iter().map(|(k, v)| (k.clone(), from_av(v))).collect())
        }
        // Sets and binary values are never written by this project.
        _ => Attr::Null,
    }
}

fn to_item(map: &HashMap<String, AttributeValue>) -> Item {
    map.iter().map(|(k, v)| (k.clone(), from_av(v))).collect()
}

fn to_map(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter().map(|(k, v)| (k.clone(), to_av(v))).collect()
}

fn key_map(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            TABLE.partition_key.to_owned(),
            AttributeValue::S(key.pk.clone()),
        ),
        (TABLE.sort_key.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// An expression under construction: every name and value goes through a placeholder.
#[derive(Default, Clone)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, name: &str) -> String {
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), name.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn condition(&mut self, condition: &Condition) -> String {
        // DynamoDB rejects a request that binds a name its expressions never use, so the key
        // attribute is bound only by the conditions that mention it.
        let mut pk = || self.name(TABLE.partition_key);
        match condition {
            Condition::Exists => format!("attribute_exists({})", pk()),
            Condition::NotExists => format!("attribute_not_exists({})", pk()),
            Condition::AbsentOrAtMost(attr, bound) => {
                let a = self.name(attr);
                let v = self.value(AttributeValue::N(bound.to_string()));
                format!("attribute_not_exists({a}) OR {a} <= {v}")
            }
            Condition::ExistsAndBelow(attr, bound) => {
                let pk = pk();
                let a = self.name(attr);
                let v = self.value(AttributeValue::N(bound.to_string()));
                format!("attribute_exists({pk}) AND (attribute_not_exists({a}) OR {a} < {v})")
            }
            Condition::Equals(attr, value) => {
                let pk = pk();
                let a = self.name(attr);
                let v = self.value(to_av(value));
                format!("attribute_exists({pk}) AND {a} = {v}")
            }
        }
    }

    /// `SET`/`ADD`/`REMOVE` clauses for the operations.
    fn update(&mut self, ops: &[UpdateOp]) -> String {
        let (mut set, mut add, mut remove) = (Vec::new(), Vec::new(), Vec::new());
        for op in ops {
            match op {
                UpdateOp::Set(attr, value) => {
                    let a = self.name(attr);
                    let v = self.value(to_av(value));
                    set.push(format!("{a} = {v}"));
                }
                UpdateOp::SetIfAbsent(attr, value) => {
                    let a = self.name(attr);
                    let v = self.value(to_av(value));
                    set.push(format!("{a} = if_not_exists({a}, {v})"));
                }
                // DynamoDB rejects a name bound but never used: an empty merge binds nothing.
                UpdateOp::MergeMap(_, entries) if entries.is_empty() => {}
                UpdateOp::MergeMap(attr, entries) => {
                    let a = self.name(attr);
                    for (key, value) in entries {
                        let k = self.name(key);
                        let v = self.value(to_av(value));
                        set.push(format!("{a}.{k} = {v}"));
                    }
                }
                UpdateOp::Add(attr, delta) => {
                    let a = self.name(attr);
                    let v = self.value(AttributeValue::N(delta.to_string()));
                    add.push(format!("{a} {v}"));
                }
                UpdateOp::Remove(attr) => {
                    let a = self.name(attr);
                    remove.push(a);
                }
            }
        }
        let mut clauses = Vec::new();
        if !set.is_empty() {
            clauses.push(format!("SET {}", set.join(", ")));
        }
        if !add.is_empty() {
            clauses.push(format!("ADD {}", add.join(", ")));
        }
        if !remove.is_empty() {
            clauses.push(format!("REMOVE {}", remove.join(", ")));
        }
        clauses.join(" ")
    }
}

impl DynamoTable {
    /// One GetItem; `consistent` for a strongly consistent read (twice the read units), which
    /// the stream consumers need for the guard items they condition their writes on.
    pub(crate) async fn get_item(&self, key: &Key, consistent: bool) -> StoreResult<Option<Item>> {
        self.read(Read {
            key,
            consistent,
            paths: &[],
        })
        .await
    }

    /// One UpdateItem. `maps_present` are asserted to exist as maps (their entries are written
    /// by path); `maps_absent` to be missing or not maps (they are written whole).
    async fn update_once(
        &self,
        update: &Update,
        ops: &[UpdateOp],
        maps_present: &[&str],
        maps_absent: &[&str],
    ) -> StoreResult<Item> {
        let mut expr = Expr::default();
        let update_expression = expr.update(ops);
        let mut conditions = Vec::new();
        if let Some(c) = &update.condition {
            conditions.push(format!("({})", expr.condition(c)));
        }
        for map in maps_present {
            let m = expr.name(map);
            conditions.push(format!("attribute_exists({m})"));
        }
        for map in maps_absent {
            let m = expr.name(map);
            let t = expr.value(AttributeValue::S("M".into()));
            conditions.push(format!(
                "(attribute_not_exists({m}) OR NOT attribute_type({m}, {t}))"
            ));
        }
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(&update.key)))
            .update_expression(update_expression)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        if !conditions.is_empty() {
            request = request.condition_expression(conditions.join(" AND "));
        }
        if !expr.values.is_empty() {
            request = request.set_expression_attribute_values(Some(expr.values));
        }
        let output = request
            .set_expression_attribute_names(Some(expr.names))
            .set_return_consumed_capacity(self.return_capacity())
            .send()
            .await
            .map_err(classify)?;
        self.meter_writes(output.consumed_capacity());
        Ok(output.attributes().map(to_item).unwrap_or_default())
    }
}

impl Table for DynamoTable {
    /// Counts trail the writes by the stream's delay (`engine::dynamo_counts`).
    fn counts_are_exact(&self) -> bool {
        false
    }

    /// The `count` function (or `serve --count-from-stream`'s poller) moves visits' last
    /// activity from the stream (`streams::activity`).
    fn activity_from_stream(&self) -> bool {
        true
    }

    async fn read(&self, read: Read<'_>) -> StoreResult<Option<Item>> {
        let mut request = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(read.key)))
            .consistent_read(read.consistent)
            .set_return_consumed_capacity(self.return_capacity());
        if !read.paths.is_empty() {
            let mut expr = Expr::default();
            let projection: Vec<String> = read
                .paths
                .iter()
                .map(|path| {
                    let names: Vec<String> = path.iter().map(|step| expr.name(step)).collect();
                    names.join(".")
                })
                .collect();
            request = request
                .projection_expression(projection.join(", "))
                .set_expression_attribute_names(Some(expr.names));
        }
        let output = request.send().await.map_err(classify)?;
        self.meter_reads(output.consumed_capacity());
        Ok(output.item().map(to_item))
    }

    async fn scan(&self, start_after: Option<Item>, limit: usize) -> StoreResult<Page> {
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start_after.as_ref().map(to_map))
            .set_return_consumed_capacity(self.return_capacity())
            .send()
            .await
            .map_err(classify)?;
        self.meter_reads(output.consumed_capacity());
        Ok(Page {
            items: output.items().iter().map(to_item).collect(),
            last: output.last_evaluated_key().map(to_item),
        })
    }

    async fn read_many(&self, keys: &[Key]) -> StoreResult<Vec<Option<Item>>> {
        let mut found: std::collections::BTreeMap<Key, Item> = self
            .batch_get(keys, false, false)
            .await?
            .into_iter()
            .filter_map(|item| Some((item_key(&item)?, item)))
            .collect();
        Ok(keys.iter().map(|key| found.remove(key)).collect())
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> StoreResult<()> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_map(&item)))
            .set_return_consumed_capacity(self.return_capacity());
        if let Some(c) = &condition {
            let mut expr = Expr::default();
            request = request.condition_expression(expr.condition(c));
            if !expr.values.is_empty() {
                request = request.set_expression_attribute_values(Some(expr.values));
            }
            request = request.set_expression_attribute_names(Some(expr.names));
        }
        let output = request.send().await.map_err(classify)?;
        self.meter_writes(output.consumed_capacity());
        Ok(())
    }

    async fn update(&self, update: Update) -> StoreResult<Item> {
        if !update.ops.iter().any(op_writes) {
            // An update expression must write something; with nothing to write, check the
            // condition against a consistent read and return the item as it is.
            let current = self.get_item(&update.key, true).await?;
            if let Some(c) = &update.condition
                && !condition_holds(c, current.as_ref())
            {
                return Err(StoreError::ConditionFailed);
            }
            return Ok(current.unwrap_or_else(|| key_item(&update.key)));
        }
        let maps: Vec<&str> = update
            .ops
            .iter()
            .filter_map(|op| match op {
                UpdateOp::MergeMap(attr, entries) if !entries.is_empty() => Some(attr.as_str()),
                _ => None,
            })
            .collect();
        if maps.is_empty() {
            return self.update_once(&update, &update.ops, &[], &[]).await;
        }
        // Optimistically, the maps exist (every write to a session after its first).
        match self.update_once(&update, &update.ops, &maps, &[]).await {
            Err(StoreError::ConditionFailed) => {}
            other => return other,
        }
        // A map is missing, or the caller's condition failed: look, then write missing maps
        // whole in one atomic update (never an empty map first and the entries after, which
        // would leave the empty map behind if the second write failed).
        for _ in 0..3 {
            // Consistent: what is read here decides which maps are written whole.
            let current = self.get_item(&update.key, true).await?;
            if let Some(c) = &update.condition
                && !condition_holds(c, current.as_ref())
            {
                return Err(StoreError::ConditionFailed);
            }
            let is_map = |m: &str| {
                current
                    .as_ref()
                    .is_some_and(|item| matches!(item.get(m), Some(Attr::M(_))))
            };
            let (present, absent): (Vec<&str>, Vec<&str>) = maps.iter().partition(|m| is_map(m));
            let ops: Vec<UpdateOp> = update
                .ops
                .iter()
                .map(|op| match op {
                    UpdateOp::MergeMap(m, entries) if absent.contains(&m.as_str()) => {
                        UpdateOp::Set(m.clone(), Attr::M(entries.clone()))
                    }
                    other => other.clone(),
                })
                .collect();
            match self.update_once(&update, &ops, &present, &absent).await {
                // Another writer changed the item between the read and the write: look again.
                Err(StoreError::ConditionFailed) => continue,
                other => return other,
            }
        }
        Err(StoreError::Unavailable(
            "map update kept racing with other writers".into(),
        ))
    }

    async fn delete(&self, key: &Key) -> StoreResult<()> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .set_return_consumed_capacity(self.return_capacity())
            .send()
            .await
            .map_err(classify)?;
        self.meter_writes(output.consumed_capacity());
        Ok(())
    }

    async fn query(&self, query: Query) -> StoreResult<Page> {
        let (pk_attr, sk_attr) = match query.index {
            None => (TABLE.partition_key, TABLE.sort_key),
            Some(name) => {
                let index = TABLE
                    .indexes
                    .iter()
                    .find(|i| i.name == name)
                    .ok_or_else(|| StoreError::Rejected(format!("unknown index {name}")))?;
                (index.partition_key, index.sort_key)
            }
        };
        let mut expr = Expr::default();
        let p = expr.name(pk_attr);
        let pv = expr.value(AttributeValue::S(query.partition.clone()));
        let mut key_condition = format!("{p} = {pv}");
        match &query.range {
            SortRange::All => {}
            SortRange::BeginsWith(prefix) => {
                let s = expr.name(sk_attr);
                let v = expr.value(AttributeValue::S(prefix.clone()));
                key_condition.push_str(&format!(" AND begins_with({s}, {v})"));
            }
            SortRange::AtLeast(lower) => {
                let s = expr.name(sk_attr);
                let v = expr.value(AttributeValue::S(lower.clone()));
                key_condition.push_str(&format!(" AND {s} >= {v}"));
            }
            SortRange::Between(lower, upper) => {
                let s = expr.name(sk_attr);
                let lo = expr.value(AttributeValue::S(lower.clone()));
                let hi = expr.value(AttributeValue::S(upper.clone()));
                key_condition.push_str(&format!(" AND {s} BETWEEN {lo} AND {hi}"));
            }
        }
        let mut items = Vec::new();
        let mut start = query.start_after.as_ref().map(to_map);
        if query.skip > 0 {
            match self
                .skip_keys(
                    &query,
                    &key_condition,
                    &expr,
                    [pk_attr, sk_attr],
                    start.take(),
                )
                .await?
            {
                Some(after) => start = Some(after),
                None => return Ok(Page { items, last: None }),
            }
        }
        // DynamoDB stops a page at 1 MB; keep going until the limit is met or the data ends.
        loop {
            let want = query.limit - items.len();
            let output = self
                .query_request(&query, &key_condition, &expr, want, start.take())
                .send()
                .await
                .map_err(classify)?;
            self.meter_reads(output.consumed_capacity());
            items.extend(output.items().iter().map(to_item));
            match output.last_evaluated_key() {
                Some(last) if items.len() < query.limit => start = Some(last.clone()),
                Some(last) => {
                    return Ok(Page {
                        items,
                        last: Some(to_item(last)),
                    });
                }
                None => return Ok(Page { items, last: None }),
            }
        }
    }

    async fn count(&self, counter: &str) -> StoreResult<u64> {
        self.read_count(counter).await
    }

    async fn batch_write(&self, writes: Vec<Write>) -> StoreResult<Vec<bool>> {
        // BatchWriteItem takes no condition: the keys that must be new are read first, and
        // those found are left out (see `Write::PutNew`).
        let must_be_new: Vec<Key> = writes
            .iter()
            .filter_map(|w| match w {
                Write::PutNew(item) => item_key(item),
                _ => None,
            })
            .collect();
        let existing = self.existing_keys(&must_be_new).await?;
        let mut applied = Vec::with_capacity(writes.len());
        let mut requests: Vec<WriteRequest> = Vec::with_capacity(writes.len());
        for write in writes {
            let request = match write {
                Write::Put(item) => put_request(&item),
                Write::PutNew(item) => {
                    if item_key(&item).is_some_and(|key| existing.contains(&key)) {
                        applied.push(false);
                        continue;
                    }
                    put_request(&item)
                }
                Write::Delete(key) => DeleteRequest::builder()
                    .set_key(Some(key_map(&key)))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build()),
            };
            requests.push(request.map_err(build_error)?);
            applied.push(true);
        }
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            let mut backoff = std::time::Duration::from_millis(20);
            for attempt in 0.. {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .set_return_consumed_capacity(self.return_capacity())
                    .send()
                    .await
                    .map_err(classify)?;
                self.meter_writes(output.consumed_capacity());
                pending = output
                    .unprocessed_items()
                    .and_then(|m| m.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt >= 8 {
                    return Err(StoreError::Unavailable(
                        "unprocessed batch items after retries".into(),
                    ));
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        Ok(applied)
    }
}

/// A put in a batch write.
fn put_request(item: &Item) -> Result<WriteRequest, aws_sdk_dynamodb::error::BuildError> {
    PutRequest::builder()
        .set_item(Some(to_map(item)))
        .build()
        .map(|p| WriteRequest::builder().put_request(p).build())
}

/// The table key of an item, when it has string key attributes.
fn item_key(item: &Item) -> Option<Key> {
    Some(Key::new(
        item.get(TABLE.partition_key)?.as_s()?,
        item.get(TABLE.sort_key)?.as_s()?,
    ))
}

impl DynamoTable {
    /// Which of `keys` name an item now: consistent BatchGetItem reads of the keys alone.
    async fn existing_keys(&self, keys: &[Key]) -> StoreResult<std::collections::BTreeSet<Key>> {
        Ok(self
            .batch_get(keys, true, true)
            .await?
            .iter()
            .filter_map(item_key)
            .collect())
    }

    /// The items of `keys` that exist (in no particular order): BatchGetItem, 100 keys a
    /// request, unprocessed keys asked again with a growing pause; `keys_only` reads the keys
    /// alone (the same units, a fraction of the bytes).
    async fn batch_get(
        &self,
        keys: &[Key],
        consistent: bool,
        keys_only: bool,
    ) -> StoreResult<Vec<Item>> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut pending: Vec<HashMap<String, AttributeValue>> =
                chunk.iter().map(key_map).collect();
            let mut backoff = std::time::Duration::from_millis(20);
            for attempt in 0.. {
                let mut request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(consistent);
                if keys_only {
                    request = request
                        .projection_expression("#pk, #sk")
                        .expression_attribute_names("#pk", TABLE.partition_key)
                        .expression_attribute_names("#sk", TABLE.sort_key);
                }
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request.build().map_err(build_error)?)
                    .set_return_consumed_capacity(self.return_capacity())
                    .send()
                    .await
                    .map_err(classify)?;
                self.meter_reads(output.consumed_capacity());
                found.extend(
                    output
                        .responses()
                        .and_then(|r| r.get(&self.table))
                        .into_iter()
                        .flatten()
                        .map(to_item),
                );
                pending = output
                    .unprocessed_keys()
                    .and_then(|m| m.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt >= 8 {
                    return Err(StoreError::Unavailable(
                        "unprocessed batch keys after retries".into(),
                    ));
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        Ok(found)
    }
}

impl DynamoTable {
    /// One Query request of `query` for at most `limit` items after `start`: what reading a
    /// page and skipping keys share.
    fn query_request(
        &self,
        query: &Query,
        key_condition: &str,
        expr: &Expr,
        limit: usize,
        start: Option<HashMap<String, AttributeValue>>,
    ) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .set_index_name(query.index.map(str::to_owned))
            .key_condition_expression(key_condition)
            .set_expression_attribute_names(Some(expr.names.clone()))
            .set_expression_attribute_values(Some(expr.values.clone()))
            .scan_index_forward(query.ascending)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .set_return_consumed_capacity(self.return_capacity())
    }

    /// Walks past `query.skip` items reading their keys only, and returns the key to continue
    /// after, or `None` when the data ends first. Keys-only pages are a few dozen bytes an item
    /// on the wire; DynamoDB still bills the full items it reads.
    async fn skip_keys(
        &self,
        query: &Query,
        key_condition: &str,
        expr: &Expr,
        index_keys: [&str; 2],
        mut start: Option<HashMap<String, AttributeValue>>,
    ) -> StoreResult<Option<HashMap<String, AttributeValue>>> {
        let mut expr = expr.clone();
        let mut key_names = vec![TABLE.partition_key, TABLE.sort_key];
        if query.index.is_some() {
            key_names.extend(index_keys);
        }
        let projection = key_names
            .into_iter()
            .map(|name| expr.name(name))
            .collect::<Vec<_>>()
            .join(", ");
        let mut left = query.skip;
        while left > 0 {
            let output = self
                .query_request(query, key_condition, &expr, left, start.take())
                .projection_expression(&projection)
                .send()
                .await
                .map_err(classify)?;
            self.meter_reads(output.consumed_capacity());
            left = left.saturating_sub(output.items().len());
            match output.last_evaluated_key() {
                Some(last) => start = Some(last.clone()),
                None => return Ok(None),
            }
        }
        Ok(start)
    }
}

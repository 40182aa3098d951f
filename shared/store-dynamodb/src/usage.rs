//! `UsageCounter` (the gateway's hot path: one conditional UpdateItem per call) and
//! `UsageLog` (the usage worker: one transaction per event).

use crate::item::{key, n, s, time, time_str, ttl, Item, ItemBuilder, Reader, GSI1, GSI1SK, TTL};
use crate::keys::*;
use crate::ops::{is_condition_failed, sdk_error, Params, UpdateExpr};
use crate::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use chrono::{DateTime, Utc};
use std::hash::{BuildHasher, Hasher};
use tollgate_domain::usage::{latency_bucket, LATENCY_BOUNDS_MS};
use tollgate_domain::{
    AggregateQuery, Granularity, Id, PeriodKey, StoreError, StoredEnum, UsageAggregate, UsageCharge, UsageCounter,
    UsageEvent, UsageIncrement, UsageLog, UsageLogQuery, UsageRecord,
};

/// Rounds of `record_usage` when it keeps losing against concurrent transactions on the
/// same aggregate items (each round is itself retried by `transact`).
const RECORD_ATTEMPTS: u32 = 10;

const NEW_ITEM: &str = "attribute_not_exists(PK)";

/// Attribute holding the count of latency bucket `i`.
fn latency_attr(i: usize) -> String {
    format!("lb{i}")
}

fn log_item(e: &UsageEvent, expires_at: DateTime<Utc>) -> Item {
    ItemBuilder::new(usage_event_pk(&e.id), USAGE_EVENT_SK)
        .s("id", &e.id)
        .s("org_id", e.org_id.as_str())
        .s("key_id", e.key_id.as_str())
        .s("endpoint_id", e.endpoint_id.as_str())
        .s("method", &e.method)
        .s("path", &e.path)
        .n("status", e.status)
        .n("latency_ms", e.latency_ms)
        .n("cost_units", e.cost_units)
        .opt_s("ip", e.ip.as_deref())
        .time("timestamp", e.timestamp)
        .s("period", e.period.as_str())
        .time("expires_at", expires_at)
        .ttl(expires_at)
        .gsi1(org_log_gsi_pk(&e.org_id), usage_log_gsi_sk(e.timestamp, &e.id))
        .build()
}

fn decode_log(item: &Item) -> Result<UsageEvent, StoreError> {
    let r = Reader::new(item, "usage event");
    Ok(UsageEvent {
        id: r.string("id")?,
        org_id: r.id("org_id")?,
        key_id: r.id("key_id")?,
        endpoint_id: r.id("endpoint_id")?,
        method: r.string("method")?,
        path: r.string("path")?,
        status: r.num("status")?,
        latency_ms: r.num("latency_ms")?,
        cost_units: r.num("cost_units")?,
        ip: r.opt_string("ip")?,
        timestamp: r.time("timestamp")?,
        period: PeriodKey::from_string(r.string("period")?),
    })
}

fn decode_aggregate(item: &Item) -> Result<UsageAggregate, StoreError> {
    let r = Reader::new(item, "usage aggregate");
    Ok(UsageAggregate {
        org_id: r.id("org_id")?,
        key_id: r.id("key_id")?,
        endpoint_id: r.id("endpoint_id")?,
        granularity: r.parsed("granularity", Granularity::parse)?,
        bucket_start: r.time("bucket_start")?,
        count: r.u64_or_zero("count")?,
        cost_units: r.u64_or_zero("cost_units")?,
        status_2xx: r.u64_or_zero("s2xx")?,
        status_4xx: r.u64_or_zero("s4xx")?,
        status_5xx: r.u64_or_zero("s5xx")?,
        latency_sum_ms: r.u64_or_zero("latency_sum_ms")?,
        latency_buckets: (0..LATENCY_BOUNDS_MS.len())
            .map(|i| r.u64_or_zero(&latency_attr(i)))
            .collect::<Result<_, _>>()?,
    })
}

/// A cursor is the `GSI1SK` of the last entry of the previous page: `<timestamp>#<id>`.
/// Anything else was never returned by a page: `InvalidCursor` (as the embedded adapter).
fn check_cursor(cursor: &str) -> Result<String, StoreError> {
    let valid =
        cursor.split_once('#').is_some_and(|(at, id)| !id.is_empty() && DateTime::parse_from_rfc3339(at).is_ok());
    if valid {
        Ok(cursor.to_string())
    } else {
        Err(StoreError::InvalidCursor)
    }
}

/// A few milliseconds of random backoff, growing with the attempt.
async fn backoff(attempt: u32) {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    let max_ms = 2 + 5 * u64::from(attempt.min(10));
    tokio::time::sleep(std::time::Duration::from_millis(h.finish() % max_ms)).await;
}

/// The filter every log listing applies, besides the time range.
fn log_filter(query: &UsageLogQuery, now: DateTime<Utc>) -> (String, Params) {
    let mut clauses = vec!["#exp > :now"];
    let mut p = Params::new().name("#exp", "expires_at").value(":now", time(now));
    if let Some(k) = &query.key_id {
        clauses.push("#key = :key");
        p = p.name("#key", "key_id").value(":key", s(k.as_str()));
    }
    if let Some(ep) = &query.endpoint_id {
        clauses.push("#ep = :ep");
        p = p.name("#ep", "endpoint_id").value(":ep", s(ep.as_str()));
    }
    if let Some(st) = query.status {
        clauses.push("#st = :st");
        p = p.name("#st", "status").value(":st", n(st));
    }
    (clauses.join(" AND "), p)
}

impl DynamoStore {
    async fn record_one(&self, event: &UsageEvent, expires_at: DateTime<Utc>) -> Result<bool, StoreError> {
        let items = vec![
            self.tx_put(log_item(event, expires_at), Some(NEW_ITEM), Params::new())?,
            self.tx_aggregate(event, Granularity::Hour)?,
            self.tx_aggregate(event, Granularity::Day)?,
        ];
        for attempt in 0..RECORD_ATTEMPTS {
            match self.transact("TransactWriteItems(record_usage)", items.clone()).await? {
                Ok(()) => return Ok(true),
                // The log entry exists: this id was recorded before.
                Err(c) if c.failed(0) => return Ok(false),
                // Lost against other events' transactions on the same aggregates.
                Err(_) => backoff(attempt).await,
            }
        }
        Err(StoreError::Conflict("usage aggregates changed concurrently"))
    }

    /// The update of the (org, key, endpoint, bucket) aggregate of `granularity` by `e`.
    fn tx_aggregate(&self, e: &UsageEvent, granularity: Granularity) -> Result<TransactWriteItem, StoreError> {
        let bucket_start = granularity.bucket_start(e.timestamp);
        let mut u = UpdateExpr::new()
            .set("org_id", s(e.org_id.as_str()))
            .set("key_id", s(e.key_id.as_str()))
            .set("endpoint_id", s(e.endpoint_id.as_str()))
            .set("granularity", s(granularity.as_str()))
            .set("bucket_start", time(bucket_start))
            .add("count", n(1))
            .add("cost_units", n(e.cost_units))
            .add("latency_sum_ms", n(e.latency_ms))
            .add(&latency_attr(latency_bucket(e.latency_ms)), n(1));
        // Only the class the status belongs to is incremented (absent counters read as 0).
        u = match e.status {
            200..=299 => u.add("s2xx", n(1)),
            400..=499 => u.add("s4xx", n(1)),
            500..=599 => u.add("s5xx", n(1)),
            _ => u,
        };
        let (expr, p) = u.build();
        self.tx_update(
            key(aggregate_pk(&e.org_id, granularity), aggregate_sk(bucket_start, &e.key_id, &e.endpoint_id)),
            &expr,
            None,
            p,
        )
    }

    /// One organization's log entries, newest first, with `lo <= GSI1SK < hi`, until `want`
    /// are collected or the partition is exhausted. Query on GSI1 (`ORGLOG#<org>`).
    async fn org_log_entries(
        &self,
        org_id: &Id,
        lo: Option<&str>,
        hi: Option<&str>,
        filter: &(String, Params),
        want: usize,
        filtered: bool,
    ) -> Result<Vec<(String, Item)>, StoreError> {
        let condition = match (lo, hi) {
            // BETWEEN is inclusive: the entry equal to `hi` (the cursor's) is dropped below.
            (Some(_), Some(_)) => "GSI1PK = :pk AND GSI1SK BETWEEN :lo AND :hi",
            (Some(_), None) => "GSI1PK = :pk AND GSI1SK >= :lo",
            (None, Some(_)) => "GSI1PK = :pk AND GSI1SK < :hi",
            (None, None) => "GSI1PK = :pk",
        };
        let (filter_expr, fp) = filter;
        let mut p = fp.clone().value(":pk", s(org_log_gsi_pk(org_id)));
        if let Some(lo) = lo {
            p = p.value(":lo", s(lo));
        }
        if let Some(hi) = hi {
            p = p.value(":hi", s(hi));
        }
        let mut out = Vec::new();
        let mut start = None;
        while out.len() < want {
            // `Limit` counts entries before the filter: with filters, read bigger pages.
            let page_size = if filtered { 1000 } else { (want - out.len() + 1).min(1000) };
            let page = self
                .query()
                .index_name(GSI1)
                .key_condition_expression(condition)
                .filter_expression(filter_expr)
                .set_expression_attribute_names(p.names())
                .set_expression_attribute_values(p.values())
                .scan_index_forward(false)
                .limit(page_size as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("Query(usage log)", e))?;
            for item in page.items.unwrap_or_default() {
                let sk = Reader::new(&item, "usage event").string(GSI1SK)?;
                if hi.is_none_or(|hi| sk.as_str() < hi) && out.len() < want {
                    out.push((sk, item));
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Every organization's log entries with `lo <= GSI1SK < hi`, newest first: a Scan of the
    /// whole table (there is no index across organizations). Admin-only; see docs/dynamodb.md.
    async fn all_log_entries(
        &self,
        lo: Option<&str>,
        hi: Option<&str>,
        filter: &(String, Params),
        want: usize,
    ) -> Result<Vec<(String, Item)>, StoreError> {
        let (filter_expr, fp) = filter;
        let mut expr = format!("begins_with(PK, :evt) AND {filter_expr}");
        let mut p = fp.clone().value(":evt", s(USAGE_EVENT_PREFIX));
        if let Some(lo) = lo {
            expr.push_str(" AND GSI1SK >= :lo");
            p = p.value(":lo", s(lo));
        }
        if let Some(hi) = hi {
            expr.push_str(" AND GSI1SK < :hi");
            p = p.value(":hi", s(hi));
        }
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(&expr)
                .set_expression_attribute_names(p.names())
                .set_expression_attribute_values(p.values())
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("Scan(usage log)", e))?;
            for item in page.items.unwrap_or_default() {
                let sk = Reader::new(&item, "usage event").string(GSI1SK)?;
                out.push((sk, item));
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.sort_by(|a, b| b.0.cmp(&a.0));
        out.truncate(want);
        Ok(out)
    }
}

#[async_trait]
impl UsageCounter for DynamoStore {
    #[tracing::instrument(skip_all, fields(org_id = %charge.org_id, period = %charge.period, cost = charge.cost, hard_limit = ?charge.hard_limit), err(level = "debug"))]
    async fn charge(&self, charge: &UsageCharge) -> Result<UsageIncrement, StoreError> {
        let UsageCharge { org_id, period, cost, hard_limit, expires_at, rate } = charge;
        let (cost, hard_limit, expires_at) = (*cost, *hard_limit, *expires_at);
        if rate.is_some() {
            return Err(StoreError::Unavailable {
                message: "shared rate windows: not yet on DynamoDB".into(),
                source: None,
            });
        }
        // A condition expression cannot add, so the limit is checked as
        // `used <= hard_limit - cost`, precomputed here.
        let max = match hard_limit {
            Some(limit) if cost > limit => {
                return Ok(UsageIncrement::LimitReached { used: self.usage(org_id, period).await? })
            }
            Some(limit) => Some(limit - cost),
            None => None,
        };
        let (pk, sk) = usage_counter_key(org_id, period);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .update_expression("ADD #used :cost SET #ttl = :ttl")
            .expression_attribute_names("#used", "used")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":cost", n(cost))
            .expression_attribute_values(":ttl", ttl(expires_at))
            .return_values(ReturnValue::UpdatedNew);
        if let Some(max) = max {
            request = request
                .condition_expression("attribute_not_exists(#used) OR #used <= :max")
                .expression_attribute_values(":max", n(max))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        }
        match request.send().await {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                let used = match Reader::new(&item, "usage counter").opt_num("used")? {
                    Some(used) => used,
                    // UPDATED_NEW always carries `used` (it is in the ADD); read it otherwise.
                    None => self.usage(org_id, period).await?,
                };
                Ok(UsageIncrement::Counted { used })
            }
            Err(e) if is_condition_failed(&e) => {
                // The item as it was comes back with the failure: no second read.
                let old = match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item().cloned(),
                    _ => None,
                };
                let used = match old {
                    Some(item) => Reader::new(&item, "usage counter").u64_or_zero("used")?,
                    None => self.usage(org_id, period).await?,
                };
                Ok(UsageIncrement::LimitReached { used })
            }
            Err(e) => Err(sdk_error("UpdateItem(usage counter)", e)),
        }
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, period = %period), err(level = "debug"))]
    async fn usage(&self, org_id: &Id, period: &PeriodKey) -> Result<u64, StoreError> {
        let (pk, sk) = usage_counter_key(org_id, period);
        match self.get("GetItem(usage counter)", key(pk, sk)).await? {
            Some(item) => Reader::new(&item, "usage counter").u64_or_zero("used"),
            None => Ok(0),
        }
    }
}

#[async_trait]
impl UsageLog for DynamoStore {
    // The event's IP stays out of the span.
    #[tracing::instrument(skip_all, fields(events = records.len()), err(level = "debug"))]
    async fn record_usage_batch(&self, records: &[UsageRecord]) -> Result<Vec<bool>, StoreError> {
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            out.push(self.record_one(&r.event, r.expires_at).await?);
        }
        Ok(out)
    }

    #[tracing::instrument(skip_all, fields(org_id = ?query.org_id, limit = query.limit), err(level = "debug"))]
    async fn query_usage(
        &self,
        query: &UsageLogQuery,
        now: DateTime<Utc>,
    ) -> Result<(Vec<UsageEvent>, Option<String>), StoreError> {
        let limit = query.page_size() as usize;
        let cursor = query.cursor.as_deref().map(check_cursor).transpose()?;
        // `<ts>#<id>` >= `<from>` exactly when ts >= from, and < `<to>` exactly when ts < to
        // (fixed-width times); the cursor is an entry's own sort key.
        let lo = query.from.map(time_str);
        let hi = match (query.to.map(time_str), cursor) {
            (Some(to), Some(c)) => Some(to.min(c)),
            (to, c) => to.or(c),
        };
        if let (Some(lo), Some(hi)) = (&lo, &hi) {
            if lo >= hi {
                return Ok((Vec::new(), None));
            }
        }
        let filter = log_filter(query, now);
        let filtered = query.key_id.is_some() || query.endpoint_id.is_some() || query.status.is_some();
        // One more than the page: whether it exists says if there is a next page.
        let want = limit + 1;
        let mut entries = match &query.org_id {
            Some(org) => self.org_log_entries(org, lo.as_deref(), hi.as_deref(), &filter, want, filtered).await?,
            None => self.all_log_entries(lo.as_deref(), hi.as_deref(), &filter, want).await?,
        };
        let next = if entries.len() > limit {
            entries.truncate(limit);
            entries.last().map(|(sk, _)| sk.clone())
        } else {
            None
        };
        let events = entries.iter().map(|(_, item)| decode_log(item)).collect::<Result<Vec<_>, _>>()?;
        Ok((events, next))
    }

    #[tracing::instrument(skip_all, fields(org_id = %query.org_id, granularity = query.granularity.as_str()), err(level = "debug"))]
    async fn usage_aggregates(&self, query: &AggregateQuery) -> Result<Vec<UsageAggregate>, StoreError> {
        if query.from >= query.to {
            return Ok(Vec::new());
        }
        // `<bucket_start>#...` BETWEEN `<from>` AND `<to>` holds exactly when
        // from <= bucket_start < to (fixed-width times).
        let q = self
            .query()
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(aggregate_pk(&query.org_id, query.granularity)))
            .expression_attribute_values(":from", time(query.from))
            .expression_attribute_values(":to", time(query.to))
            .consistent_read(true);
        let mut aggs = self
            .query_all("Query(usage aggregates)", q)
            .await?
            .iter()
            .map(decode_aggregate)
            .collect::<Result<Vec<_>, _>>()?;
        aggs.sort_by(|a, b| {
            (a.bucket_start, &a.key_id, &a.endpoint_id).cmp(&(b.bucket_start, &b.key_id, &b.endpoint_id))
        });
        Ok(aggs)
    }
}

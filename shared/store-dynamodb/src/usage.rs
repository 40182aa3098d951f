//! `UsageCounter` (the gateway's hot path: one conditional UpdateItem per call, two for the
//! first call of a key per minute with a shared rate window) and `UsageLog` (the usage
//! worker: one transaction per chunk of up to 98 events of a batch).

use crate::item::{key, n, s, time, time_str, ttl, Item, ItemBuilder, Reader, GSI1, GSI1SK, TTL};
use crate::keys::*;
use crate::ops::{backoff, is_condition_failed, sdk_error, Params, UpdateExpr, NEW_ITEM};
use crate::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use tollgate_domain::usage::LATENCY_BOUNDS_MS;
use tollgate_domain::{
    aggregates_of, AggregateQuery, Granularity, Id, OrgDayUsage, PeriodKey, RateWindow, StoreError, StoredEnum,
    UsageAggregate, UsageCharge, UsageCounter, UsageEvent, UsageIncrement, UsageLog, UsageLogQuery, UsageRecord,
    UsageRollup, UsageSource,
};

/// Rounds of one chunk of `record_usage_batch` when it keeps losing against concurrent
/// transactions on the same aggregate items (each round is itself retried by `transact`).
const RECORD_ATTEMPTS: u32 = 10;

/// Attribute holding the count of latency bucket `i`.
fn latency_attr(i: usize) -> String {
    format!("lb{i}")
}

fn log_item(e: &UsageEvent, expires_at: DateTime<Utc>) -> Item {
    ItemBuilder::new(usage_event_pk(&e.id), USAGE_EVENT_SK)
        .s("id", &e.id)
        .s("org_id", e.org_id.as_str())
        .s("key_id", e.key_id.as_str())
        .opt_s("project_id", e.project_id.as_ref().map(Id::as_str))
        .s("source", e.source.as_str())
        .s("endpoint_id", e.endpoint_id.as_str())
        .s("method", &e.method)
        .s("path", &e.path)
        .n("status", e.status)
        .n("latency_ms", e.latency_ms)
        .n("cost_units", e.cost_units)
        .opt_s("ip", e.ip.as_deref())
        .time("timestamp", e.timestamp)
        .s("period", e.period.as_str())
        .opt_s("metadata", e.metadata.as_ref().map(|m| m.to_string()))
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
        project_id: r.opt_id("project_id")?,
        // Entries from before tracked calls existed were all proxied.
        source: match r.opt_s("source")? {
            Some(_) => r.parsed("source", UsageSource::parse)?,
            None => UsageSource::Proxy,
        },
        endpoint_id: r.id("endpoint_id")?,
        method: r.string("method")?,
        path: r.string("path")?,
        status: r.num("status")?,
        latency_ms: r.num("latency_ms")?,
        cost_units: r.num("cost_units")?,
        ip: r.opt_string("ip")?,
        timestamp: r.time("timestamp")?,
        period: PeriodKey::from_string(r.string("period")?),
        metadata: r.opt_json("metadata")?,
    })
}

/// The update that `ADD`s `agg` to the stored aggregate of its (org, key, endpoint,
/// granularity, bucket), creating it: key, expression, parameters.
fn aggregate_update(agg: &UsageAggregate) -> (Item, String, Params) {
    let mut u = UpdateExpr::new()
        .set("org_id", s(agg.org_id.as_str()))
        .set("key_id", s(agg.key_id.as_str()))
        .set("endpoint_id", s(agg.endpoint_id.as_str()))
        .set("granularity", s(agg.granularity.as_str()))
        .set("bucket_start", time(agg.bucket_start))
        .add("count", n(agg.count))
        .add("cost_units", n(agg.cost_units))
        .add("latency_sum_ms", n(agg.latency_sum_ms));
    // Only counters the chunk moves are written (absent ones read as 0), which keeps the
    // expression short.
    for (attr, count) in [("s2xx", agg.status_2xx), ("s4xx", agg.status_4xx), ("s5xx", agg.status_5xx)] {
        if count > 0 {
            u = u.add(attr, n(count));
        }
    }
    for (i, &count) in agg.latency_buckets.iter().enumerate() {
        if count > 0 {
            u = u.add(&latency_attr(i), n(count));
        }
    }
    let (expr, p) = u.build();
    let key =
        key(aggregate_pk(&agg.org_id, agg.granularity), aggregate_sk(agg.bucket_start, &agg.key_id, &agg.endpoint_id));
    (key, expr, p)
}

/// The update that `ADD`s an organization's calls of a day to its rollup item, creating it.
fn org_day_update(day: &OrgDayUsage) -> (Item, String, Params) {
    let (expr, p) = UpdateExpr::new()
        .set("day", time(day.day))
        .set("org_id", s(day.org_id.as_str()))
        .add("calls", n(day.calls))
        .add("cost_units", n(day.cost_units))
        .build();
    (key(ORG_DAY_PK, org_day_sk(day.day, &day.org_id)), expr, p)
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

/// DynamoDB's limit on the actions of one TransactWriteItems.
const MAX_TRANSACT_ITEMS: usize = 100;

/// Splits `indices` (into `records`, in order) into chunks that each fit one transaction:
/// one Put per event plus one update per distinct aggregate item its events touch (an hour
/// and a day per (org, key, endpoint)), at most [`MAX_TRANSACT_ITEMS`] in all. A batch of one
/// key and endpoint within an hour is one chunk of up to 98 events.
fn chunks(records: &[UsageRecord], indices: &[usize]) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut chunk: Vec<usize> = Vec::new();
    let mut aggregates: HashSet<(String, String)> = HashSet::new();
    for &i in indices {
        let e = &records[i].event;
        let touched = [Granularity::Hour, Granularity::Day].map(|g| {
            (aggregate_pk(&e.org_id, g), aggregate_sk(g.bucket_start(e.timestamp), &e.key_id, &e.endpoint_id))
        });
        let new = touched.iter().filter(|k| !aggregates.contains(*k)).count();
        if chunk.len() + 1 + aggregates.len() + new > MAX_TRANSACT_ITEMS {
            out.push(std::mem::take(&mut chunk));
            aggregates.clear();
        }
        chunk.push(i);
        aggregates.extend(touched);
    }
    if !chunk.is_empty() {
        out.push(chunk);
    }
    out
}

/// The filter every log listing applies, besides the time range.
fn log_filter(query: &UsageLogQuery, now: DateTime<Utc>) -> (String, Params) {
    let mut clauses = vec!["#exp > :now"];
    let mut p = Params::new().name("#exp", "expires_at").value(":now", time(now));
    if let Some(prj) = &query.project_id {
        clauses.push("#prj = :prj");
        p = p.name("#prj", "project_id").value(":prj", s(prj.as_str()));
    }
    match query.source {
        // Entries written before tracked calls existed have no `source`: proxied calls.
        Some(UsageSource::Proxy) => {
            clauses.push("(attribute_not_exists(#src) OR #src = :src)");
            p = p.name("#src", "source").value(":src", s(UsageSource::Proxy.as_str()));
        }
        Some(src) => {
            clauses.push("#src = :src");
            p = p.name("#src", "source").value(":src", s(src.as_str()));
        }
        None => {}
    }
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

/// Writes of a charge with a rate window before it gives up (`Conflict`). The most an
/// ordinary race takes is three: count (fails on the minute's first call), open (fails if
/// another call opened the window first), count again; one round to spare.
const RATE_ROUNDS: u32 = 4;

/// How a charge's conditional write treats its rate window on the counter item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WindowWrite {
    /// Count in the window starting at this minute, already held by the item:
    /// `#rlw = :w AND #rln < :limit`, `ADD #rln :one`.
    Count(i64),
    /// Open the window starting at this minute with this charge as its first, replacing an
    /// older window or none: `attribute_not_exists(#rlw) OR #rlw < :w`, `SET #rlw = :w,
    /// #rln = :one`. Never a newer one: a call whose minute is already over (it arrived just
    /// before the minute changed, or its clock is a little behind) must not reset the window
    /// of the minute that began, so it counts in that one instead (see `CounterSeen::next`).
    Open(i64),
}

/// What one conditional UpdateItem on a period counter did.
enum CounterWrite {
    /// Applied: the period's total after it.
    Applied(u64),
    /// The condition did not hold: the item as it was, when the error carried it.
    Refused(Option<Item>),
}

/// A counter item as a refused write saw it: the period's total and the charge's rate
/// window (start, count), if the item holds one for its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CounterSeen {
    used: u64,
    window: Option<(i64, u64)>,
}

/// What a charge does after a refused write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Refuse(UsageIncrement),
    Write(WindowWrite),
}

impl CounterSeen {
    /// The counter `item` (None: it does not exist) with the window of `rate`'s bucket.
    fn read(item: Option<&Item>, rate: Option<&RateWindow>) -> Result<Self, StoreError> {
        let Some(item) = item else {
            return Ok(CounterSeen { used: 0, window: None });
        };
        let r = Reader::new(item, "usage counter");
        let window = match rate {
            Some(rate) => {
                let (start, count) = rate_window_attrs(&rate.bucket);
                match r.opt_num::<i64>(&start)? {
                    Some(w) => Some((w, r.u64_or_zero(&count)?)),
                    None => None,
                }
            }
            None => None,
        };
        Ok(CounterSeen { used: r.u64_or_zero("used")?, window })
    }

    /// The window this charge counts in if the item holds it: its own minute's, or a later
    /// one (windows only move forward).
    fn current_window(&self, rate: &RateWindow) -> Option<(i64, u64)> {
        self.window.filter(|&(start, _)| start >= rate.window_start)
    }

    fn window_full(&self, rate: &RateWindow) -> bool {
        self.current_window(rate).is_some_and(|(_, n)| n >= u64::from(rate.limit))
    }

    /// The decision after a refused write, from the item as it was: a full window first
    /// (it wins over a reached quota, as the port says), then the quota (`max`: the
    /// highest total that still admits the charge), else the write whose condition this
    /// item meets: count in the open window, or open this minute's.
    fn next(&self, rate: &RateWindow, max: Option<u64>) -> Next {
        if self.window_full(rate) || rate.limit == 0 {
            return Next::Refuse(UsageIncrement::RateLimited { used: self.used });
        }
        if max.is_some_and(|max| self.used > max) {
            return Next::Refuse(UsageIncrement::LimitReached { used: self.used });
        }
        match self.current_window(rate) {
            Some((start, _)) => Next::Write(WindowWrite::Count(start)),
            None => Next::Write(WindowWrite::Open(rate.window_start)),
        }
    }
}

impl DynamoStore {
    /// One conditional UpdateItem on the charge's period counter: `ADD used :cost` (and the
    /// TTL), held to `used <= max` when there is a hard limit, and with `window` counting the
    /// charge in its rate window in the same write. `ReturnValuesOnConditionCheckFailure =
    /// ALL_OLD`, so a refusal carries the item and needs no second read.
    async fn write_counter(
        &self,
        charge: &UsageCharge,
        max: Option<u64>,
        window: Option<(&RateWindow, WindowWrite)>,
    ) -> Result<CounterWrite, StoreError> {
        let (pk, sk) = usage_counter_key(&charge.org_id, &charge.period);
        let mut add = vec!["#used :cost"];
        let mut set = vec!["#ttl = :ttl"];
        let mut conditions = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .expression_attribute_names("#used", "used")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":cost", n(charge.cost))
            .expression_attribute_values(":ttl", ttl(charge.expires_at))
            .return_values(ReturnValue::UpdatedNew);
        if let Some(max) = max {
            conditions.push("(attribute_not_exists(#used) OR #used <= :max)");
            request = request.expression_attribute_values(":max", n(max));
        }
        if let Some((rate, write)) = window {
            let (start_attr, count_attr) = rate_window_attrs(&rate.bucket);
            request = request
                .expression_attribute_names("#rlw", start_attr)
                .expression_attribute_names("#rln", count_attr)
                .expression_attribute_values(":one", n(1));
            match write {
                WindowWrite::Count(start) => {
                    add.push("#rln :one");
                    conditions.push("#rlw = :w AND #rln < :limit");
                    request = request
                        .expression_attribute_values(":w", n(start))
                        .expression_attribute_values(":limit", n(rate.limit));
                }
                WindowWrite::Open(start) => {
                    set.extend(["#rlw = :w", "#rln = :one"]);
                    conditions.push("(attribute_not_exists(#rlw) OR #rlw < :w)");
                    request = request.expression_attribute_values(":w", n(start));
                }
            }
        }
        request = request.update_expression(format!("ADD {} SET {}", add.join(", "), set.join(", ")));
        if !conditions.is_empty() {
            request = request
                .condition_expression(conditions.join(" AND "))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        }
        match request.send().await {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                let used = match Reader::new(&item, "usage counter").opt_num("used")? {
                    Some(used) => used,
                    // UPDATED_NEW always carries `used` (it is in the ADD); read it otherwise.
                    None => self.usage(&charge.org_id, &charge.period).await?,
                };
                Ok(CounterWrite::Applied(used))
            }
            Err(e) if is_condition_failed(&e) => {
                // The item as it was comes back with the failure: no second read.
                let old = match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item().cloned(),
                    _ => None,
                };
                Ok(CounterWrite::Refused(old))
            }
            Err(e) => Err(sdk_error("UpdateItem(usage counter)", e)),
        }
    }

    /// The charge's period counter item (consistent read), if it exists.
    async fn counter_item(&self, charge: &UsageCharge) -> Result<Option<Item>, StoreError> {
        let (pk, sk) = usage_counter_key(&charge.org_id, &charge.period);
        self.get("GetItem(usage counter)", key(pk, sk)).await
    }

    /// Records one chunk of a batch (indices into `records`, ids distinct, sized by
    /// `chunks`) in one TransactWriteItems: each log entry's conditional Put, then one update
    /// per aggregate the chunk's events touch, their counts merged in memory. Returns the
    /// indices recorded now. A log entry that exists already (recorded before) cancels the
    /// transaction: it is dropped with its share of the aggregates and the rest retried;
    /// losing against other transactions on the same aggregates is retried with backoff.
    async fn record_chunk(&self, records: &[UsageRecord], mut chunk: Vec<usize>) -> Result<Vec<usize>, StoreError> {
        let mut conflicts = 0;
        while !chunk.is_empty() {
            let mut items = Vec::with_capacity(MAX_TRANSACT_ITEMS);
            for &i in &chunk {
                let UsageRecord { event, expires_at } = &records[i];
                items.push(self.tx_put(log_item(event, *expires_at), Some(NEW_ITEM), Params::new())?);
            }
            for agg in aggregates_of(chunk.iter().map(|&i| &records[i].event)) {
                items.push(self.tx_aggregate(&agg)?);
            }
            let cancelled = match self.transact("TransactWriteItems(record_usage_batch)", items).await? {
                Ok(()) => return Ok(chunk),
                Err(c) => c,
            };
            // The Puts come first, so item `pos` is the log entry of `chunk[pos]`.
            let before = chunk.len();
            chunk = chunk.into_iter().enumerate().filter(|&(pos, _)| !cancelled.failed(pos)).map(|(_, i)| i).collect();
            if chunk.len() == before {
                // No entry was there before: lost against other transactions on the same
                // aggregates (`transact` retried a few times already).
                conflicts += 1;
                if conflicts >= RECORD_ATTEMPTS {
                    return Err(StoreError::Conflict("usage aggregates changed concurrently"));
                }
                backoff(conflicts, 5).await;
            }
        }
        Ok(chunk)
    }

    /// `ADD`s `agg` (one chunk's merged counts) to the stored aggregate of its (org, key,
    /// endpoint, granularity, bucket), creating it.
    fn tx_aggregate(&self, agg: &UsageAggregate) -> Result<TransactWriteItem, StoreError> {
        let (key, expr, p) = aggregate_update(agg);
        self.tx_update(key, &expr, None, p)
    }

    /// Adds what the events recorded now bring to the daily metrics rollup, after their
    /// transactions: every batch touches the platform's rows, and a transaction holding them
    /// would make concurrent batches conflict. Plain ADDs, concurrently; a worker that dies
    /// between the transactions and these updates leaves its batch out of the rollup (the
    /// redelivered batch finds its events recorded), an undercount of the analytics only.
    async fn add_rollup(&self, rollup: UsageRollup) -> Result<(), StoreError> {
        let mut updates = tokio::task::JoinSet::new();
        let platform = rollup.platform.iter().map(aggregate_update);
        let org_days = rollup.org_days.iter().map(org_day_update);
        for (key, expr, p) in platform.chain(org_days) {
            let request = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .update_expression(expr)
                .set_expression_attribute_names(p.names())
                .set_expression_attribute_values(p.values());
            updates.spawn(request.send());
        }
        while let Some(done) = updates.join_next().await {
            match done {
                Ok(result) => {
                    result.map_err(|e| sdk_error("UpdateItem(metrics rollup)", e))?;
                }
                Err(e) => return Err(StoreError::unavailable("a metrics rollup update did not finish", e)),
            }
        }
        Ok(())
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
    #[tracing::instrument(skip_all, fields(org_id = %charge.org_id, period = %charge.period, cost = charge.cost, hard_limit = ?charge.hard_limit, rate = charge.rate.is_some()), err(level = "debug"))]
    async fn charge(&self, charge: &UsageCharge) -> Result<UsageIncrement, StoreError> {
        // A condition expression cannot add, so the limit is checked as
        // `used <= hard_limit - cost`, precomputed here.
        let max = match charge.hard_limit {
            Some(limit) if charge.cost > limit => {
                // No write can pass; one read says which refusal (a full window wins).
                let item = self.counter_item(charge).await?;
                let seen = CounterSeen::read(item.as_ref(), charge.rate.as_ref())?;
                return Ok(match &charge.rate {
                    Some(rate) if seen.window_full(rate) => UsageIncrement::RateLimited { used: seen.used },
                    _ => UsageIncrement::LimitReached { used: seen.used },
                });
            }
            Some(limit) => Some(limit - charge.cost),
            None => None,
        };
        let Some(rate) = &charge.rate else {
            // Without a rate window: exactly one conditional UpdateItem, counted or refused.
            return match self.write_counter(charge, max, None).await? {
                CounterWrite::Applied(used) => Ok(UsageIncrement::Counted { used }),
                CounterWrite::Refused(old) => {
                    let used = match old {
                        Some(item) => Reader::new(&item, "usage counter").u64_or_zero("used")?,
                        None => self.usage(&charge.org_id, &charge.period).await?,
                    };
                    Ok(UsageIncrement::LimitReached { used })
                }
            };
        };
        // With a rate window: first the write that succeeds whenever the window of this
        // minute is already open (every call but the first of a key per minute); a refusal
        // returns the item as it was, which says what to do next (see `CounterSeen::next`).
        let mut write = WindowWrite::Count(rate.window_start);
        for _ in 0..RATE_ROUNDS {
            let old = match self.write_counter(charge, max, Some((rate, write))).await? {
                CounterWrite::Applied(used) => return Ok(UsageIncrement::Counted { used }),
                CounterWrite::Refused(Some(old)) => Some(old),
                // The item did not exist (or the error left it out): read it.
                CounterWrite::Refused(None) => self.counter_item(charge).await?,
            };
            let seen = CounterSeen::read(old.as_ref(), Some(rate))?;
            write = match seen.next(rate, max) {
                Next::Refuse(outcome) => return Ok(outcome),
                Next::Write(w) => w,
            };
        }
        // Only reachable when the window keeps moving under this call (other writers opening
        // windows of later minutes between each of its writes).
        Err(StoreError::Conflict("rate window changed concurrently"))
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
        let mut recorded = vec![false; records.len()];
        // A transaction may not touch one item twice, and a later copy of an id is a
        // duplicate anyway: only each id's first record is written.
        let mut seen = HashSet::new();
        let firsts: Vec<usize> = (0..records.len()).filter(|&i| seen.insert(records[i].event.id.as_str())).collect();
        // One chunk after another: chunks of one batch usually share their aggregates, so
        // running them at once would only make them conflict.
        for chunk in chunks(records, &firsts) {
            for i in self.record_chunk(records, chunk).await? {
                recorded[i] = true;
            }
        }
        let new_events = records.iter().zip(&recorded).filter(|(_, &new)| new).map(|(r, _)| &r.event);
        self.add_rollup(UsageRollup::of(new_events)).await?;
        Ok(recorded)
    }

    #[tracing::instrument(skip_all, fields(org_id = ?query.org_id, project_id = ?query.project_id, limit = query.limit), err(level = "debug"))]
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
        let filtered = query.key_id.is_some()
            || query.endpoint_id.is_some()
            || query.status.is_some()
            || query.project_id.is_some()
            || query.source.is_some();
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

#[cfg(test)]
mod tests {
    use super::*;

    const W: i64 = 1_800_000_000; // a multiple of 60

    fn rate(limit: u32) -> RateWindow {
        RateWindow { bucket: "key:k".into(), window_start: W, limit }
    }

    fn seen(used: u64, window: Option<(i64, u64)>) -> CounterSeen {
        CounterSeen { used, window }
    }

    #[test]
    fn a_refused_charge_decides_from_the_item_as_it_was() {
        let (r, max) = (rate(3), Some(9));
        let counted = |w| Next::Write(WindowWrite::Count(w));
        assert_eq!(seen(0, None).next(&r, max), Next::Write(WindowWrite::Open(W)), "no window: open this minute's");
        assert_eq!(
            seen(4, Some((W - 60, 3))).next(&r, max),
            Next::Write(WindowWrite::Open(W)),
            "an older one: replace it"
        );
        assert_eq!(seen(4, Some((W, 2))).next(&r, max), counted(W), "opened meanwhile: count in it");
        assert_eq!(
            seen(4, Some((W + 60, 0))).next(&r, max),
            counted(W + 60),
            "a later minute's window is never reset: count in it"
        );
        assert_eq!(seen(4, Some((W, 3))).next(&r, max), Next::Refuse(UsageIncrement::RateLimited { used: 4 }));
        assert_eq!(seen(4, Some((W + 60, 3))).next(&r, max), Next::Refuse(UsageIncrement::RateLimited { used: 4 }));
        assert_eq!(seen(10, Some((W, 1))).next(&r, max), Next::Refuse(UsageIncrement::LimitReached { used: 10 }));
        assert_eq!(
            seen(10, Some((W, 3))).next(&r, max),
            Next::Refuse(UsageIncrement::RateLimited { used: 10 }),
            "a full window wins over a reached quota"
        );
        assert_eq!(seen(10, Some((W - 60, 3))).next(&r, max), Next::Refuse(UsageIncrement::LimitReached { used: 10 }));
        assert_eq!(seen(10, Some((W, 1))).next(&r, None), counted(W), "no hard limit");
        assert_eq!(seen(0, None).next(&rate(0), None), Next::Refuse(UsageIncrement::RateLimited { used: 0 }));
    }

    fn record(key: &str, endpoint: &str, at: DateTime<Utc>) -> UsageRecord {
        let event = UsageEvent {
            id: tollgate_domain::id::random_base62(12),
            org_id: Id::from_string("org_a"),
            key_id: Id::from_string(key),
            project_id: None,
            source: tollgate_domain::UsageSource::Proxy,
            endpoint_id: Id::from_string(endpoint),
            method: "GET".into(),
            path: "/api/v1/x".into(),
            status: 200,
            latency_ms: 3,
            cost_units: 1,
            ip: None,
            timestamp: at,
            period: PeriodKey::from_string("2026-11"),
            metadata: None,
        };
        UsageRecord { event, expires_at: at }
    }

    /// Actions of the transaction of `chunk`: one Put per event, one update per aggregate.
    fn actions(records: &[UsageRecord], chunk: &[usize]) -> usize {
        chunk.len() + aggregates_of(chunk.iter().map(|&i| &records[i].event)).len()
    }

    #[test]
    fn chunks_fill_transactions_up_to_the_limit() {
        let at = DateTime::from_timestamp(W, 0).unwrap();
        // One key and endpoint within an hour: 98 events and their 2 aggregates per chunk.
        let same: Vec<UsageRecord> = (0..200).map(|_| record("k", "e", at)).collect();
        let all: Vec<usize> = (0..same.len()).collect();
        let c = chunks(&same, &all);
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), vec![98, 98, 4]);
        assert_eq!(c.concat(), all, "every index once, in order");

        // Every event its own aggregates: 33 events (99 actions) per chunk.
        let spread: Vec<UsageRecord> =
            (0..70).map(|i| record(&format!("k{i}"), "e", at + chrono::Duration::hours(i))).collect();
        let all: Vec<usize> = (0..spread.len()).collect();
        let c = chunks(&spread, &all);
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), vec![33, 33, 4]);
        assert!(c.iter().all(|chunk| actions(&spread, chunk) <= MAX_TRANSACT_ITEMS));

        // A mix stays within the limit and keeps the order of the indices given.
        let mixed: Vec<UsageRecord> =
            (0..300).map(|i| record(&format!("k{}", i % 7), "e", at + chrono::Duration::minutes(i * 7))).collect();
        let some: Vec<usize> = (0..mixed.len()).filter(|i| i % 5 != 0).collect();
        let c = chunks(&mixed, &some);
        assert!(c.iter().all(|chunk| actions(&mixed, chunk) <= MAX_TRANSACT_ITEMS), "{c:?}");
        assert_eq!(c.concat(), some);
        assert!(chunks(&mixed, &[]).is_empty());
    }
}

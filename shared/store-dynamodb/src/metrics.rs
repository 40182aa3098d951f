//! `MetricsRollup`: the daily metrics rollup. Items (docs/dynamodb.md): the organizations'
//! calls per day under [`ORG_DAY_PK`] (written by `record_usage_batch` after its
//! transactions), the signups per day under [`SIGNUPS_PK`] (in `create_user`'s
//! transaction), and the platform's daily aggregates as ordinary aggregate items of the
//! organization `*`.

use crate::item::{key, n, s, time, time_str, Item, Reader};
use crate::keys::{ORG_DAY_PK, SIGNUPS_PK};
use crate::ops::UpdateExpr;
use crate::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use tollgate_domain::metrics::{active_orgs_per_day, top_orgs_by_calls};
use tollgate_domain::{DayCount, Granularity, MetricsRollup, OrgCalls, OrgDayUsage, StoreError};

impl DynamoStore {
    /// The transaction item counting one signup on the day of `at`.
    pub(crate) fn tx_count_signup(&self, at: DateTime<Utc>) -> Result<TransactWriteItem, StoreError> {
        let day = Granularity::Day.bucket_start(at);
        let (expr, p) = UpdateExpr::new().set("day", time(day)).add("signups", n(1)).build();
        self.tx_update(key(SIGNUPS_PK, time_str(day)), &expr, None, p)
    }

    /// The items of partition `pk` whose sort key falls in the days `[from, to)` (sort keys
    /// start with the day's fixed-width time).
    async fn days_of(
        &self,
        op: &'static str,
        pk: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Item>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        // `<day>...` >= `<from>` exactly when day >= from; < `<to>` exactly when day < to.
        let q = self
            .query()
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":from", s(time_str(from)))
            .expression_attribute_values(":to", s(time_str(to)))
            .consistent_read(true);
        let to = time_str(to);
        let items = self.query_all(op, q).await?;
        // BETWEEN is inclusive: an item of the day `to` itself is out.
        Ok(items
            .into_iter()
            .filter(|i| Reader::new(i, "rollup").s("SK").is_ok_and(|sk| !sk.starts_with(&to)))
            .collect())
    }

    /// The organizations' calls per day in `[from, to)`.
    async fn org_days(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<OrgDayUsage>, StoreError> {
        self.days_of("Query(organization days)", ORG_DAY_PK, from, to)
            .await?
            .iter()
            .map(|item| {
                let r = Reader::new(item, "organization day");
                Ok(OrgDayUsage {
                    day: r.time("day")?,
                    org_id: r.id("org_id")?,
                    calls: r.u64_or_zero("calls")?,
                    cost_units: r.u64_or_zero("cost_units")?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl MetricsRollup for DynamoStore {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn signups_per_day(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<DayCount>, StoreError> {
        let items = self.days_of("Query(signups)", SIGNUPS_PK, from, to).await?;
        let mut days = items
            .iter()
            .map(|item| {
                let r = Reader::new(item, "signups");
                Ok(DayCount { day: r.time("day")?, count: r.u64_or_zero("signups")? })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        days.sort_by_key(|d| d.day);
        Ok(days)
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn active_orgs_per_day(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<DayCount>, StoreError> {
        Ok(active_orgs_per_day(self.org_days(from, to).await?))
    }

    #[tracing::instrument(skip_all, fields(limit), err(level = "debug"))]
    async fn top_orgs_by_calls(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OrgCalls>, StoreError> {
        Ok(top_orgs_by_calls(self.org_days(from, to).await?, limit as usize))
    }
}

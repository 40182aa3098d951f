//! `InvoiceRepository` (billing records mirrored from the payment provider) and
//! `UsageReportRepository` (metered units reported to it).
//!
//! A usage report is one item in its organization's partition (`USAGEREPORT#<period>`),
//! listed per period through GSI1; both steps of a report are one conditional UpdateItem.
//! The snapshot of a closed period sits beside it (`SNAPSHOT#<period>`), written once by a
//! conditional PutItem and kept for good.
//!
//! An invoice is stored twice, both written in one transaction with the same condition (new,
//! or not further along than this write: `status_rank`): under its id (`INVOICE#<id>`, one
//! GetItem; listed across organizations through GSI1 `INVOICES`, admin) and in its
//! organization's partition, the organization's listing. Both listings' sort keys are
//! `INVOICE#<created>#<id>` (fixed-width times); `<created>#<id>` is the page cursor.

use crate::item::{key, n, s, time_str, Item, ItemBuilder, Reader, GSI1, GSI1SK};
use crate::keys::*;
use crate::ops::{is_condition_failed, sdk_error, Params, NEW_ITEM};
use crate::DynamoStore;
use async_trait::async_trait;
use chrono::DateTime;
use tollgate_domain::{
    Id, Invoice, InvoiceQuery, InvoiceRepository, InvoiceStatus, PeriodKey, StoreError, StoredEnum, UsageReport,
    UsageReportRepository, UsageSnapshot,
};

/// `<created>#<id>`: the listing order and the cursor.
fn listing_key(invoice: &Invoice) -> String {
    format!("{}#{}", time_str(invoice.created_at), invoice.id)
}

/// A cursor this store issued: `<RFC 3339 time>#<id>`.
fn check_cursor(cursor: &str) -> Result<&str, StoreError> {
    let valid =
        cursor.split_once('#').is_some_and(|(at, id)| !id.is_empty() && DateTime::parse_from_rfc3339(at).is_ok());
    if valid {
        Ok(cursor)
    } else {
        Err(StoreError::InvalidCursor)
    }
}

fn with_invoice_fields(b: ItemBuilder, i: &Invoice) -> ItemBuilder {
    b.s("id", &i.id)
        .s("org_id", i.org_id.as_str())
        .s("customer_id", &i.customer_id)
        .opt_s("subscription_id", i.subscription_id.as_deref())
        .opt_s("number", i.number.as_deref())
        .s("status", i.status.as_str())
        .n("status_rank", i.status.rank())
        .n("amount_due", i.amount_due)
        .n("amount_paid", i.amount_paid)
        .s("currency", &i.currency)
        .time("period_start", i.period_start)
        .time("period_end", i.period_end)
        .time("created_at", i.created_at)
        .opt_s("hosted_invoice_url", i.hosted_invoice_url.as_deref())
        .s("listing", listing_key(i))
}

fn decode_invoice(item: &Item) -> Result<Invoice, StoreError> {
    let r = Reader::new(item, "invoice");
    Ok(Invoice {
        id: r.string("id")?,
        org_id: r.id("org_id")?,
        customer_id: r.string("customer_id")?,
        subscription_id: r.opt_string("subscription_id")?,
        number: r.opt_string("number")?,
        status: r.parsed("status", InvoiceStatus::parse)?,
        amount_due: r.num("amount_due")?,
        amount_paid: r.num("amount_paid")?,
        currency: r.string("currency")?,
        period_start: r.time("period_start")?,
        period_end: r.time("period_end")?,
        created_at: r.time("created_at")?,
        hosted_invoice_url: r.opt_string("hosted_invoice_url")?,
    })
}

impl DynamoStore {
    /// Up to `want` invoices of one listing, newest first, with sort key below `before`,
    /// matching the query's status and creation period: `(pk_attr, sk_attr) = pk` selects
    /// the listing, on `index` or the table.
    async fn invoice_listing(
        &self,
        index: Option<&str>,
        (pk_attr, sk_attr): (&str, &str),
        pk: String,
        query: &InvoiceQuery,
        before: Option<&str>,
        want: usize,
    ) -> Result<Vec<Invoice>, StoreError> {
        let (status, prefix) = (query.status, ORG_INVOICE_PREFIX);
        // `<prefix><created>#<id>` sorts by creation time (fixed-width times): the period
        // and the cursor are a key range. BETWEEN is inclusive: the entry at the cursor
        // itself is skipped below; no key equals `<prefix><end>` (keys go on with `#<id>`).
        let lo = format!("{prefix}{}", query.created_in.as_ref().map(|p| time_str(p.start)).unwrap_or_default());
        let bounds = [
            before.map(|c| format!("{prefix}{c}")),
            query.created_in.as_ref().map(|p| format!("{prefix}{}", time_str(p.end))),
            // Every key of the listing is below the prefix followed by U+FFFF.
            Some(format!("{prefix}\u{ffff}")),
        ];
        let hi = bounds.into_iter().flatten().min().expect("one bound at least");
        if lo >= hi {
            return Ok(Vec::new());
        }
        let mut p = Params::new()
            .name("#pk", pk_attr)
            .name("#sk", sk_attr)
            .value(":pk", s(pk))
            .value(":lo", s(&lo))
            .value(":hi", s(&hi));
        let filter = status.map(|st| {
            p = std::mem::take(&mut p).name("#status", "status").value(":status", s(st.as_str()));
            "#status = :status"
        });
        let mut out = Vec::new();
        let mut start = None;
        while out.len() < want {
            let page = self
                .query()
                .set_index_name(index.map(str::to_string))
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                .set_filter_expression(filter.map(str::to_string))
                .set_expression_attribute_names(p.names())
                .set_expression_attribute_values(p.values())
                .scan_index_forward(false)
                // `Limit` counts entries before the filter: with a filter, read bigger pages.
                .limit(if filter.is_some() { 1000 } else { (want - out.len() + 1).min(1000) as i32 })
                .set_exclusive_start_key(start.take())
                .set_consistent_read(index.is_none().then_some(true))
                .send()
                .await
                .map_err(|e| sdk_error("Query(invoices)", e))?;
            for item in page.items.unwrap_or_default() {
                let sk = Reader::new(&item, "invoice").string(sk_attr)?;
                if sk != hi && out.len() < want {
                    out.push(decode_invoice(&item)?);
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl InvoiceRepository for DynamoStore {
    #[tracing::instrument(skip_all, fields(invoice_id = %invoice.id, status = invoice.status.as_str()), err(level = "debug"))]
    async fn upsert_invoice(&self, invoice: &Invoice) -> Result<bool, StoreError> {
        let by_id = with_invoice_fields(ItemBuilder::new(invoice_pk(&invoice.id), INVOICE_SK), invoice)
            .gsi1(INVOICES_GSI_PK, format!("{ORG_INVOICE_PREFIX}{}", listing_key(invoice)))
            .build();
        let in_org = with_invoice_fields(
            ItemBuilder::new(org_pk(&invoice.org_id), format!("{ORG_INVOICE_PREFIX}{}", listing_key(invoice))),
            invoice,
        )
        .build();
        // A late event never takes an invoice back to an earlier state.
        let condition = Some("attribute_not_exists(PK) OR status_rank <= :rank");
        let rank = || Params::new().value(":rank", n(invoice.status.rank()));
        let items = vec![self.tx_put(by_id, condition, rank())?, self.tx_put(in_org, condition, rank())?];
        Ok(self.transact("TransactWriteItems(upsert_invoice)", items).await?.is_ok())
    }

    #[tracing::instrument(skip_all, fields(invoice_id = %id), err(level = "debug"))]
    async fn get_invoice(&self, id: &str) -> Result<Option<Invoice>, StoreError> {
        self.get("GetItem(invoice)", key(invoice_pk(id), INVOICE_SK)).await?.as_ref().map(decode_invoice).transpose()
    }

    #[tracing::instrument(skip_all, fields(org_id = ?query.org_id, status = ?query.status), err(level = "debug"))]
    async fn list_invoices(&self, query: &InvoiceQuery) -> Result<(Vec<Invoice>, Option<String>), StoreError> {
        let limit = query.page_size() as usize;
        let before = query.cursor.as_deref().map(check_cursor).transpose()?;
        // One more than the page: whether it exists says if there is a next page.
        let mut invoices = match &query.org_id {
            Some(org) => self.invoice_listing(None, ("PK", "SK"), org_pk(org), query, before, limit + 1).await?,
            None => {
                let all = INVOICES_GSI_PK.to_string();
                self.invoice_listing(Some(GSI1), ("GSI1PK", GSI1SK), all, query, before, limit + 1).await?
            }
        };
        let next = if invoices.len() > limit {
            invoices.truncate(limit);
            invoices.last().map(listing_key)
        } else {
            None
        };
        Ok((invoices, next))
    }
}

/// The report's attributes by placeholder (`period` and others are reserved words in
/// expressions).
fn names() -> Params {
    Params::new().name("#period", "period").name("#reported", "reported").name("#pending", "pending")
}

fn decode_report(item: &Item) -> Result<UsageReport, StoreError> {
    let r = Reader::new(item, "usage report");
    Ok(UsageReport {
        org_id: r.id("org_id")?,
        period: PeriodKey::from_string(r.string("period")?),
        reported: r.u64_or_zero("reported")?,
        pending: r.opt_num("pending")?,
    })
}

impl DynamoStore {
    /// One conditional UpdateItem on a usage report; a failed condition is
    /// `Conflict("usage report")`.
    async fn update_report(
        &self,
        org_id: &Id,
        period: &PeriodKey,
        update: &str,
        condition: &str,
        p: Params,
    ) -> Result<(), StoreError> {
        let key = key(org_pk(org_id), usage_report_sk(period));
        if self.update_if("UpdateItem(usage report)", key, update, condition, p).await? {
            Ok(())
        } else {
            Err(StoreError::Conflict("usage report"))
        }
    }
}

#[async_trait]
impl UsageReportRepository for DynamoStore {
    #[tracing::instrument(skip_all, fields(org_id = %org_id, period = %period), err(level = "debug"))]
    async fn usage_report(&self, org_id: &Id, period: &PeriodKey) -> Result<UsageReport, StoreError> {
        match self.get("GetItem(usage report)", key(org_pk(org_id), usage_report_sk(period))).await? {
            Some(item) => decode_report(&item),
            None => Ok(UsageReport::none(org_id, period)),
        }
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, period = %period, reported, to), err(level = "debug"))]
    async fn begin_usage_report(
        &self,
        org_id: &Id,
        period: &PeriodKey,
        reported: u64,
        to: u64,
    ) -> Result<(), StoreError> {
        let p = names()
            .value(":org", s(org_id.as_str()))
            .value(":period", s(period.as_str()))
            .value(":gpk", s(usage_reports_gsi_pk(period)))
            .value(":reported", n(reported))
            .value(":zero", n(0))
            .value(":to", n(to));
        self.update_report(
            org_id,
            period,
            "SET org_id = :org, #period = :period, GSI1PK = :gpk, GSI1SK = :org, \
             #reported = if_not_exists(#reported, :zero), #pending = :to",
            "(attribute_not_exists(PK) AND :reported = :zero) \
             OR (#reported = :reported AND attribute_not_exists(#pending))",
            p,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, period = %period, to), err(level = "debug"))]
    async fn finish_usage_report(&self, org_id: &Id, period: &PeriodKey, to: u64) -> Result<(), StoreError> {
        let p = Params::new().name("#reported", "reported").name("#pending", "pending").value(":to", n(to));
        self.update_report(
            org_id,
            period,
            "SET #reported = :to REMOVE #pending",
            "attribute_exists(PK) AND (#pending = :to OR (attribute_not_exists(#pending) AND #reported = :to))",
            p,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %snapshot.org_id, period = %snapshot.period), err(level = "debug"))]
    async fn close_usage_period(&self, snapshot: &UsageSnapshot) -> Result<bool, StoreError> {
        let item = ItemBuilder::new(org_pk(&snapshot.org_id), usage_snapshot_sk(&snapshot.period))
            .s("org_id", snapshot.org_id.as_str())
            .s("period", snapshot.period.as_str())
            .s("plan_id", snapshot.plan_id.as_str())
            .n("counted", snapshot.counted)
            .n("billable", snapshot.billable)
            .n("reported", snapshot.reported)
            .time("closed_at", snapshot.closed_at)
            .build();
        // Write-once: of concurrent closes, the first Put creates the item, the rest fail
        // their condition and change nothing.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(NEW_ITEM)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_error("PutItem(usage snapshot)", e)),
        }
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, period = %period), err(level = "debug"))]
    async fn usage_snapshot(&self, org_id: &Id, period: &PeriodKey) -> Result<Option<UsageSnapshot>, StoreError> {
        let Some(item) = self.get("GetItem(usage snapshot)", key(org_pk(org_id), usage_snapshot_sk(period))).await?
        else {
            return Ok(None);
        };
        let r = Reader::new(&item, "usage snapshot");
        Ok(Some(UsageSnapshot {
            org_id: r.id("org_id")?,
            period: PeriodKey::from_string(r.string("period")?),
            plan_id: r.id("plan_id")?,
            counted: r.num("counted")?,
            billable: r.num("billable")?,
            reported: r.num("reported")?,
            closed_at: r.time("closed_at")?,
        }))
    }

    #[tracing::instrument(skip_all, fields(period = %period), err(level = "debug"))]
    async fn usage_reports(&self, period: &PeriodKey) -> Result<Vec<UsageReport>, StoreError> {
        let q = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(usage_reports_gsi_pk(period)));
        let mut reports = self
            .query_all("Query(usage reports)", q)
            .await?
            .iter()
            .map(decode_report)
            .collect::<Result<Vec<_>, _>>()?;
        reports.sort_by(|a, b| a.org_id.as_str().cmp(b.org_id.as_str()));
        Ok(reports)
    }
}

//! `InvoiceRepository` (the billing records mirrored from the payment provider) and
//! `UsageReportRepository` (metered units reported to it).

use super::usage::sat_i64;
use super::{decode_time_id_cursor, get_enum, get_id, get_ts, ms, time_id_cursor, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};
use tollgate_domain::{
    Id, Invoice, InvoiceQuery, InvoiceRepository, InvoiceStatus, PeriodKey, StoreError, StoredEnum, UsageReport,
    UsageReportRepository, UsageSnapshot,
};

const INVOICE_COLS: &str = "id, org_id, customer_id, subscription_id, number, status, amount_due, amount_paid, \
                            currency, period_start, period_end, created_at, hosted_invoice_url";

/// Columns 0..=12 as in `INVOICE_COLS`.
fn invoice_from_row(r: &Row<'_>) -> rusqlite::Result<Invoice> {
    Ok(Invoice {
        id: r.get(0)?,
        org_id: get_id(r, 1)?,
        customer_id: r.get(2)?,
        subscription_id: r.get(3)?,
        number: r.get(4)?,
        status: get_enum(r, 5, InvoiceStatus::parse)?,
        amount_due: r.get(6)?,
        amount_paid: r.get(7)?,
        currency: r.get(8)?,
        period_start: get_ts(r, 9)?,
        period_end: get_ts(r, 10)?,
        created_at: get_ts(r, 11)?,
        hosted_invoice_url: r.get(12)?,
    })
}

#[async_trait]
impl InvoiceRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(invoice_id = %invoice.id, status = invoice.status.as_str()), err(level = "debug"))]
    async fn upsert_invoice(&self, invoice: &Invoice) -> Result<bool, StoreError> {
        let i = invoice.clone();
        self.call(move |c| {
            // One statement: insert, or replace unless the stored state is further along.
            let changed = c.execute(
                &format!(
                    "INSERT INTO invoices ({INVOICE_COLS}, status_rank) VALUES \
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
                     ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, \
                     subscription_id = excluded.subscription_id, number = excluded.number, \
                     status = excluded.status, status_rank = excluded.status_rank, \
                     amount_due = excluded.amount_due, amount_paid = excluded.amount_paid, \
                     currency = excluded.currency, period_start = excluded.period_start, \
                     period_end = excluded.period_end, hosted_invoice_url = excluded.hosted_invoice_url \
                     WHERE invoices.status_rank <= excluded.status_rank"
                ),
                params![
                    i.id,
                    i.org_id.as_str(),
                    i.customer_id,
                    i.subscription_id,
                    i.number,
                    i.status.as_str(),
                    i.amount_due,
                    i.amount_paid,
                    i.currency,
                    ms(i.period_start),
                    ms(i.period_end),
                    ms(i.created_at),
                    i.hosted_invoice_url,
                    i.status.rank(),
                ],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(invoice_id = %id), err(level = "debug"))]
    async fn get_invoice(&self, id: &str) -> Result<Option<Invoice>, StoreError> {
        let id = id.to_string();
        self.call(move |c| {
            Ok(c.query_row(&format!("SELECT {INVOICE_COLS} FROM invoices WHERE id = ?1"), [id], invoice_from_row)
                .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = ?query.org_id, status = ?query.status), err(level = "debug"))]
    async fn list_invoices(&self, query: &InvoiceQuery) -> Result<(Vec<Invoice>, Option<String>), StoreError> {
        let limit = query.page_size();
        let after = query.cursor.as_deref().map(decode_time_id_cursor).transpose()?;
        let org_id = query.org_id.as_ref().map(|i| i.as_str().to_string());
        let status = query.status.map(|s| s.as_str());
        let (from, to) = query.created_in.as_ref().map_or((None, None), |p| (Some(ms(p.start)), Some(ms(p.end))));
        self.call(move |c| {
            let (before_ts, before_id) = after.map_or((None, None), |(t, id)| (Some(t), Some(id)));
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {INVOICE_COLS} FROM invoices WHERE (?1 IS NULL OR org_id = ?1) \
                 AND (?2 IS NULL OR status = ?2) \
                 AND (?3 IS NULL OR created_at < ?3 OR (created_at = ?3 AND id < ?4)) \
                 AND (?6 IS NULL OR created_at >= ?6) AND (?7 IS NULL OR created_at < ?7) \
                 ORDER BY created_at DESC, id DESC LIMIT ?5"
            ))?;
            let page = stmt
                .query_map(params![org_id, status, before_ts, before_id, i64::from(limit), from, to], invoice_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let next = if page.len() == limit as usize {
                page.last().map(|i| time_id_cursor(i.created_at, &i.id))
            } else {
                None
            };
            Ok((page, next))
        })
        .await
    }
}

fn report_from_row(r: &Row<'_>) -> rusqlite::Result<UsageReport> {
    Ok(UsageReport {
        org_id: get_id(r, 0)?,
        period: PeriodKey::from_string(r.get::<_, String>(1)?),
        reported: r.get(2)?,
        pending: r.get(3)?,
    })
}

#[async_trait]
impl UsageReportRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(org_id = %org_id, period = %period), err(level = "debug"))]
    async fn usage_report(&self, org_id: &Id, period: &PeriodKey) -> Result<UsageReport, StoreError> {
        let (org, per) = (org_id.clone(), period.clone());
        self.call(move |c| {
            let found = c
                .query_row(
                    "SELECT org_id, period, reported, pending FROM usage_reports WHERE period = ?1 AND org_id = ?2",
                    params![per.as_str(), org.as_str()],
                    report_from_row,
                )
                .optional()?;
            Ok(found.unwrap_or_else(|| UsageReport::none(&org, &per)))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, period = %period, reported, to), err(level = "debug"))]
    async fn begin_usage_report(
        &self,
        org_id: &Id,
        period: &PeriodKey,
        reported: u64,
        to: u64,
    ) -> Result<(), StoreError> {
        let (org, per) = (org_id.clone(), period.clone());
        self.call(move |c| {
            // One statement either way: from nothing reported, the report may not exist yet
            // (create it pending, or set pending on an untouched one); from more, it must.
            let sql = if reported == 0 {
                "INSERT INTO usage_reports (org_id, period, reported, pending) VALUES (?1, ?2, 0, ?4) \
                 ON CONFLICT (period, org_id) DO UPDATE SET pending = excluded.pending \
                 WHERE usage_reports.reported = ?3 AND usage_reports.pending IS NULL"
            } else {
                "UPDATE usage_reports SET pending = ?4 WHERE period = ?2 AND org_id = ?1 \
                 AND reported = ?3 AND pending IS NULL"
            };
            let n = c.execute(sql, params![org.as_str(), per.as_str(), reported as i64, to as i64])?;
            if n == 0 {
                return Err(StoreError::Conflict("usage report").into());
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, period = %period, to), err(level = "debug"))]
    async fn finish_usage_report(&self, org_id: &Id, period: &PeriodKey, to: u64) -> Result<(), StoreError> {
        let (org, per) = (org_id.clone(), period.clone());
        self.call(move |c| {
            let n = c.execute(
                "UPDATE usage_reports SET reported = ?3, pending = NULL WHERE period = ?2 AND org_id = ?1 \
                 AND (pending = ?3 OR (pending IS NULL AND reported = ?3))",
                params![org.as_str(), per.as_str(), to as i64],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict("usage report").into());
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %snapshot.org_id, period = %snapshot.period), err(level = "debug"))]
    async fn close_usage_period(&self, snapshot: &UsageSnapshot) -> Result<bool, StoreError> {
        let snap = snapshot.clone();
        self.call(move |c| {
            // One statement: the primary key lets exactly one insert per (org, period) in.
            let n = c.execute(
                "INSERT INTO usage_snapshots (org_id, period, plan_id, counted, billable, reported, closed_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (org_id, period) DO NOTHING",
                params![
                    snap.org_id.as_str(),
                    snap.period.as_str(),
                    snap.plan_id.as_str(),
                    sat_i64(snap.counted),
                    sat_i64(snap.billable),
                    sat_i64(snap.reported),
                    ms(snap.closed_at),
                ],
            )?;
            Ok(n == 1)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, period = %period), err(level = "debug"))]
    async fn usage_snapshot(&self, org_id: &Id, period: &PeriodKey) -> Result<Option<UsageSnapshot>, StoreError> {
        let (org, per) = (org_id.clone(), period.clone());
        self.call(move |c| {
            Ok(c.query_row(
                "SELECT org_id, period, plan_id, counted, billable, reported, closed_at FROM usage_snapshots \
                 WHERE org_id = ?1 AND period = ?2",
                params![org.as_str(), per.as_str()],
                |r| {
                    Ok(UsageSnapshot {
                        org_id: get_id(r, 0)?,
                        period: PeriodKey::from_string(r.get::<_, String>(1)?),
                        plan_id: get_id(r, 2)?,
                        counted: r.get(3)?,
                        billable: r.get(4)?,
                        reported: r.get(5)?,
                        closed_at: get_ts(r, 6)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(period = %period), err(level = "debug"))]
    async fn usage_reports(&self, period: &PeriodKey) -> Result<Vec<UsageReport>, StoreError> {
        let per = period.clone();
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT org_id, period, reported, pending FROM usage_reports WHERE period = ?1 ORDER BY org_id",
            )?;
            let rows = stmt.query_map([per.as_str()], report_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

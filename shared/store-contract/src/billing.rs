//! Cases for `InvoiceRepository` (the billing records mirrored from the payment provider) and
//! `UsageReportRepository` (metered units reported to it).

use crate::{now_ms, unique, SharedStore};
use chrono::{DateTime, Duration, Utc};
use tollgate_domain::id::prefix;
use tollgate_domain::{Id, Invoice, InvoiceQuery, InvoiceStatus, Period, PeriodKey, StoreError, UsageReport};

/// A new open invoice of `org_id` created at `at` (not stored yet).
pub fn new_invoice(org_id: &Id, at: DateTime<Utc>) -> Invoice {
    Invoice {
        id: unique("in"),
        org_id: org_id.clone(),
        customer_id: "cus_contract".into(),
        subscription_id: Some("sub_contract".into()),
        number: None,
        status: InvoiceStatus::Open,
        amount_due: 900,
        amount_paid: 0,
        currency: "usd".into(),
        period_start: at,
        period_end: at + Duration::days(30),
        created_at: at,
        hosted_invoice_url: None,
    }
}

fn query(org_id: Option<&Id>, status: Option<InvoiceStatus>, cursor: Option<String>, limit: u32) -> InvoiceQuery {
    InvoiceQuery { org_id: org_id.cloned(), status, created_in: None, cursor, limit }
}

pub async fn invoices_upsert_never_moves_backwards(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let draft = Invoice { status: InvoiceStatus::Draft, ..new_invoice(&org, now) };
    assert!(store.upsert_invoice(&draft).await.unwrap(), "a new invoice is written");
    assert_eq!(store.get_invoice(&draft.id).await.unwrap(), Some(draft.clone()), "round trip");

    let open = Invoice { status: InvoiceStatus::Open, number: Some("TG-0001".into()), ..draft.clone() };
    assert!(store.upsert_invoice(&open).await.unwrap(), "draft -> open is written");
    let paid = Invoice {
        status: InvoiceStatus::Paid,
        amount_paid: 900,
        hosted_invoice_url: Some("https://invoice.example/in".into()),
        ..open.clone()
    };
    assert!(store.upsert_invoice(&paid).await.unwrap(), "open -> paid is written");
    assert!(store.upsert_invoice(&paid).await.unwrap(), "the same state again is written (idempotent)");
    assert!(!store.upsert_invoice(&open).await.unwrap(), "a late `open` does not undo `paid`");
    assert!(!store.upsert_invoice(&draft).await.unwrap(), "nor does a late `draft`");
    assert_eq!(store.get_invoice(&draft.id).await.unwrap(), Some(paid), "the invoice stays paid");
    assert_eq!(store.get_invoice(&unique("in")).await.unwrap(), None, "an unknown invoice is None");
}

pub async fn invoices_list_newest_first_by_org_and_status_with_a_cursor(store: &SharedStore) {
    let now = now_ms();
    let (org1, org2) = (Id::generate(prefix::ORG), Id::generate(prefix::ORG));
    let mut mine = Vec::new();
    for i in 0..5 {
        let mut invoice = new_invoice(&org1, now + Duration::seconds(i));
        if i % 2 == 0 {
            invoice.status = InvoiceStatus::Paid;
        }
        store.upsert_invoice(&invoice).await.unwrap();
        mine.push(invoice);
    }
    // Two invoices created in the same millisecond: the id breaks the tie.
    let twin = new_invoice(&org1, now + Duration::seconds(4));
    store.upsert_invoice(&twin).await.unwrap();
    mine.push(twin);
    let theirs = new_invoice(&org2, now + Duration::seconds(2));
    store.upsert_invoice(&theirs).await.unwrap();

    let mut expected = mine.clone();
    expected.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));

    let (all, next) = store.list_invoices(&query(Some(&org1), None, None, 100)).await.unwrap();
    assert_eq!(all, expected, "one organization's invoices, newest first, ties by id");
    assert_eq!(next, None, "a short page has no next cursor");

    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = store.list_invoices(&query(Some(&org1), None, cursor, 2)).await.unwrap();
        assert!(page.len() <= 2, "pages hold at most the limit");
        pages.extend(page);
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, expected, "paging with the cursor yields every invoice once, in order");

    let (paid, _) = store.list_invoices(&query(Some(&org1), Some(InvoiceStatus::Paid), None, 100)).await.unwrap();
    assert_eq!(
        paid,
        expected.iter().filter(|i| i.status == InvoiceStatus::Paid).cloned().collect::<Vec<_>>(),
        "the status filter"
    );
    let (everyone, _) = store.list_invoices(&query(None, None, None, 1000)).await.unwrap();
    assert!(everyone.contains(&theirs) && everyone.contains(&expected[0]), "without an org: every organization's");

    // The creation period: this month's, and none of an earlier month's.
    let month = Period::containing(now + Duration::seconds(2));
    let in_month = |org: Option<&Id>, period: &Period, limit| InvoiceQuery {
        created_in: Some(period.clone()),
        ..query(org, None, None, limit)
    };
    let (this_month, _) = store.list_invoices(&in_month(Some(&org1), &month, 100)).await.unwrap();
    let expected_month: Vec<_> =
        expected.iter().filter(|i| i.created_at >= month.start && i.created_at < month.end).cloned().collect();
    assert_eq!(this_month, expected_month, "the period filter");
    let earlier = Period::containing(month.start - Duration::days(40));
    assert!(store.list_invoices(&in_month(Some(&org1), &earlier, 100)).await.unwrap().0.is_empty());
    let (paged, next) = store.list_invoices(&in_month(None, &month, 1)).await.unwrap();
    assert_eq!(paged.len(), 1);
    let (rest, _) = store.list_invoices(&InvoiceQuery { cursor: next, ..in_month(None, &month, 1000) }).await.unwrap();
    assert!(!rest.contains(&paged[0]), "the cursor and the period together");

    assert!(
        matches!(
            store.list_invoices(&query(Some(&org1), None, Some("not-a-cursor".into()), 2)).await,
            Err(StoreError::InvalidCursor)
        ),
        "a cursor this store never issued is InvalidCursor"
    );
}

pub async fn usage_reports_begin_and_finish_exactly_once(store: &SharedStore) {
    let org = Id::generate(prefix::ORG);
    let period = PeriodKey::from_string(unique("period"));
    assert_eq!(store.usage_report(&org, &period).await.unwrap(), UsageReport::none(&org, &period), "nothing yet");

    store.begin_usage_report(&org, &period, 0, 40).await.expect("begin 0..40");
    let pending = UsageReport { pending: Some(40), ..UsageReport::none(&org, &period) };
    assert_eq!(store.usage_report(&org, &period).await.unwrap(), pending, "pending 40");
    assert!(
        matches!(store.begin_usage_report(&org, &period, 0, 55).await, Err(StoreError::Conflict("usage report"))),
        "a second begin while one is pending is a conflict"
    );
    assert!(
        matches!(store.finish_usage_report(&org, &period, 55).await, Err(StoreError::Conflict("usage report"))),
        "finishing another total than the pending one is a conflict"
    );
    store.finish_usage_report(&org, &period, 40).await.expect("finish 40");
    store.finish_usage_report(&org, &period, 40).await.expect("finishing again is a no-op");
    let done = UsageReport { reported: 40, pending: None, ..UsageReport::none(&org, &period) };
    assert_eq!(store.usage_report(&org, &period).await.unwrap(), done);

    assert!(
        matches!(store.begin_usage_report(&org, &period, 0, 90).await, Err(StoreError::Conflict("usage report"))),
        "a begin from a stale `reported` is a conflict"
    );
    store.begin_usage_report(&org, &period, 40, 90).await.expect("begin 40..90");
    store.finish_usage_report(&org, &period, 90).await.expect("finish 90");

    let other = Id::generate(prefix::ORG);
    assert!(
        matches!(store.begin_usage_report(&other, &period, 5, 9).await, Err(StoreError::Conflict("usage report"))),
        "a begin from `reported` > 0 of a report that does not exist is a conflict"
    );
    store.begin_usage_report(&other, &period, 0, 7).await.unwrap();
    let listed = store.usage_reports(&period).await.unwrap();
    assert_eq!(listed.len(), 2, "both organizations' reports of the period: {listed:?}");
    assert!(listed.contains(&UsageReport { reported: 90, pending: None, ..UsageReport::none(&org, &period) }));
    assert!(listed.contains(&UsageReport { pending: Some(7), ..UsageReport::none(&other, &period) }));
    assert!(store.usage_reports(&PeriodKey::from_string(unique("period"))).await.unwrap().is_empty());
}

pub async fn usage_report_begin_is_exact_under_concurrency(store: &SharedStore) {
    let org = Id::generate(prefix::ORG);
    let period = PeriodKey::from_string(unique("period"));
    let (o, p) = (org.clone(), period.clone());
    let results = crate::concurrently(store, move |s, i| {
        let (o, p) = (o.clone(), p.clone());
        async move { s.begin_usage_report(&o, &p, 0, 10 + i as u64).await.is_ok() }
    })
    .await;
    assert_eq!(results.iter().filter(|&&won| won).count(), 1, "exactly one concurrent begin wins");
    let report = store.usage_report(&org, &period).await.unwrap();
    let winner = results.iter().position(|&w| w).unwrap() as u64;
    assert_eq!(report.pending, Some(10 + winner), "the winner's total is pending");
}

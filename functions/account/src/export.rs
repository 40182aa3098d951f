//! `GET /api/user/orgs/{id}/export`: everything an organization holds, as one JSON document
//! streamed section by section (for portability and per-tenant backup).
//!
//! The document is written as it is read: lists that grow without bound (invoices, audit
//! events) are read a page at a time, so memory stays flat however large the organization.
//! A store failure half-way ends the stream early, leaving the client a truncated (invalid)
//! JSON document rather than a complete-looking partial one.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use tollgate_app::current_subscription;
use tollgate_domain::{AggregateQuery, AuditQuery, Granularity, Id, InvoiceQuery, Store};
use tollgate_http::{can, AppState};

use crate::orgs::{MemberView, OrgMember};

/// The name and version of the document's format.
pub const EXPORT_FORMAT: &str = "tollgate.organization-export.v1";

/// How far back usage aggregates go: the retention of the longest plan.
const USAGE_HISTORY: Duration = Duration::days(400);

/// Streams the organization's data as JSON (owners only): the organization, members,
/// pending invitations (never their tokens), projects, keys (never secrets), subscription
/// and plan, invoices, daily usage aggregates of the last 400 days and every audit event.
#[utoipa::path(get, path = "/api/user/orgs/{id}/export", tag = "organizations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The organization's data: a JSON object of `format`, `exported_at`, `organization`, `members`, `invitations`, `projects`, `api_keys`, `subscription`, `plan`, `invoices`, `usage_daily`, `audit_events`", content_type = "application/json"),
        (status = 403, description = "`permission_denied`: only owners export an organization", body = tollgate_http::ErrorBody),
        (status = 404, description = "`not_found`: no such organization, or not a member", body = tollgate_http::ErrorBody),
    ))]
pub async fn export_organization(State(state): State<AppState>, owner: OrgMember<can::OwnOrganization>) -> Response {
    let org_id = owner.membership.org_id.clone();
    let now = state.now();
    state.audit(owner.auth.audit_event("organization.export", now).org(&org_id).target(org_id.to_string())).await;
    // A small buffer: the writer waits for the client, so a slow download holds little.
    let (tx, rx) = mpsc::channel(8);
    let store = state.store.clone();
    let file = format!("attachment; filename=\"{org_id}-export.json\"");
    tokio::spawn(async move {
        let mut out = Writer { tx, first: true };
        if let Err(e) = write_export(store.as_ref(), &org_id, now, &mut out).await {
            tracing::error!(org_id = %org_id, error = %e, "organization export failed part-way");
            let _ = out.tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    let mut response = Body::from_stream(ReceiverStream(rx)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&file) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// Why an export stopped: the store failed, or the client went away.
#[derive(Debug, thiserror::Error)]
enum ExportError {
    #[error(transparent)]
    Store(#[from] tollgate_domain::StoreError),
    #[error(transparent)]
    App(#[from] tollgate_app::AppError),
    #[error("the client closed the download")]
    Closed,
}

/// Writes the document's fields into the channel, one chunk per field or list item.
struct Writer {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    first: bool,
}

impl Writer {
    async fn raw(&mut self, text: String) -> Result<(), ExportError> {
        self.tx.send(Ok(Bytes::from(text))).await.map_err(|_| ExportError::Closed)
    }

    /// The separator before the next field of the top-level object.
    fn sep(&mut self) -> &'static str {
        if std::mem::take(&mut self.first) {
            "{"
        } else {
            ","
        }
    }

    async fn field(&mut self, name: &str, value: &impl Serialize) -> Result<(), ExportError> {
        let text = format!("{}\"{name}\":{}", self.sep(), json(value));
        self.raw(text).await
    }

    async fn open_list(&mut self, name: &str) -> Result<(), ExportError> {
        let text = format!("{}\"{name}\":[", self.sep());
        self.raw(text).await
    }

    async fn item(&mut self, index: usize, value: &impl Serialize) -> Result<(), ExportError> {
        self.raw(format!("{}{}", if index == 0 { "" } else { "," }, json(value))).await
    }

    async fn close_list(&mut self) -> Result<(), ExportError> {
        self.raw("]".into()).await
    }
}

fn json(value: &impl Serialize) -> String {
    // Our types always serialize; a failure would be a bug, written as null.
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

async fn write_export(store: &dyn Store, org_id: &Id, now: DateTime<Utc>, out: &mut Writer) -> Result<(), ExportError> {
    let org = store.get_organization(org_id).await?.ok_or(tollgate_domain::StoreError::NotFound("organization"))?;
    out.field("format", &EXPORT_FORMAT).await?;
    out.field("exported_at", &now).await?;
    out.field("organization", &org).await?;

    out.open_list("members").await?;
    // As the members listing: the account's identity and role, never a credential.
    let mut n = 0;
    for m in store.list_members(org_id).await? {
        if let Some(user) = store.get_user(&m.user_id).await? {
            out.item(n, &MemberView::new(user, &m)).await?;
            n += 1;
        }
    }
    out.close_list().await?;

    out.open_list("invitations").await?;
    for (i, inv) in store.list_invitations(org_id).await?.iter().enumerate() {
        let view = serde_json::json!({
            "id": inv.id, "email": inv.email, "role": inv.role, "invited_by": inv.invited_by,
            "created_at": inv.created_at, "expires_at": inv.expires_at,
        });
        out.item(i, &view).await?;
    }
    out.close_list().await?;

    out.field("projects", &store.list_projects(org_id).await?).await?;
    // `ApiKey` is metadata only: the secrets live apart, as hashes, and are not read here.
    out.field("api_keys", &store.list_api_keys(org_id).await?).await?;
    let (subscription, plan) = current_subscription(store, org_id, now).await?;
    out.field("subscription", &subscription).await?;
    out.field("plan", &plan).await?;

    out.open_list("invoices").await?;
    let (mut n, mut cursor) = (0, None);
    loop {
        let query = InvoiceQuery { org_id: Some(org_id.clone()), cursor, limit: 0, ..Default::default() };
        let (page, next) = store.list_invoices(&query).await?;
        for invoice in &page {
            out.item(n, invoice).await?;
            n += 1;
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out.close_list().await?;

    let query =
        AggregateQuery { org_id: org_id.clone(), granularity: Granularity::Day, from: now - USAGE_HISTORY, to: now };
    out.open_list("usage_daily").await?;
    for (i, aggregate) in store.usage_aggregates(&query).await?.iter().enumerate() {
        out.item(i, aggregate).await?;
    }
    out.close_list().await?;

    out.open_list("audit_events").await?;
    let (mut n, mut cursor) = (0, None);
    loop {
        let query = AuditQuery { org_id: Some(org_id.clone()), cursor, limit: 1000, ..Default::default() };
        let (page, next) = store.audit_page(&query).await?;
        for event in &page {
            out.item(n, event).await?;
            n += 1;
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out.close_list().await?;
    out.raw("}".into()).await
}

/// The receiving end of the export's channel as the stream a response body reads.
struct ReceiverStream(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl futures_core::Stream for ReceiverStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

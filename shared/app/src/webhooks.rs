//! Customer webhooks: checking an endpoint's URL when it is registered, dispatching a
//! notification to the endpoints subscribed to it (the notifications worker), and retrying
//! the deliveries that failed (the `webhook-retries` job).
//!
//! Each (event, endpoint) pair is one delivery whose id derives from both, so a redelivered
//! notification makes no second delivery and sends nothing again; the delivery's body is
//! fixed when it is created and sent as is on every attempt. Attempts are recorded with a
//! condition on the attempt count read, so two workers never record the same attempt twice.
//! Delivery is at least once: a receiver deduplicates by the event `id`.

use crate::AppError;
use chrono::{DateTime, Duration, Utc};
use std::net::IpAddr;
use tollgate_domain::webhook::{
    check_addresses, check_url, event_body, random_jitter, signature_header, ATTEMPT_TIMEOUT_SECS, EVENT_TYPES,
    SIGNATURE_HEADER,
};
use tollgate_domain::{
    DeliveryAttempt, DeliveryStatus, Notification, Store, StoreError, WebhookDelivery, WebhookEndpoint,
    WebhookInputError, WebhookSender,
};

/// How long a new delivery is reserved for the dispatcher's first attempt: if the worker
/// stops before it records that attempt, the retry job attempts it after this.
const FIRST_ATTEMPT_LEASE_SECS: i64 = 60;

/// What [`dispatch`] did with one notification.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DispatchReport {
    /// Deliveries created now (none for a notification dispatched before).
    pub deliveries: u32,
    /// Of those, delivered at the first attempt.
    pub succeeded: u32,
    /// Of those, not delivered at the first attempt: `retry_due` tries again.
    pub failed: u32,
}

/// What [`retry_due`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetryReport {
    /// Attempts recorded.
    pub attempted: u32,
    /// Delivered now.
    pub succeeded: u32,
    /// Failed again, another attempt scheduled.
    pub retrying: u32,
    /// Failed and out of time (24 hours), or their endpoint was deleted: no more attempts.
    pub failed_for_good: u32,
}

/// The URL of an endpoint being registered or changed, if the policy allows it: its shape
/// ([`check_url`]) and every address its host resolves to ([`check_addresses`]).
#[tracing::instrument(skip_all, fields(allow_insecure), err(level = "debug"))]
pub async fn check_endpoint_url(raw: &str, allow_insecure: bool) -> Result<String, WebhookInputError> {
    let url = check_url(raw, allow_insecure)?;
    let addresses = resolve(&url).await?;
    check_addresses(&addresses, allow_insecure)?;
    Ok(url.as_str().to_string())
}

/// Every address of the URL's host (the literal one for an IP host).
async fn resolve(url: &url::Url) -> Result<Vec<IpAddr>, WebhookInputError> {
    let host = match url.host() {
        Some(url::Host::Ipv4(ip)) => return Ok(vec![IpAddr::V4(ip)]),
        Some(url::Host::Ipv6(ip)) => return Ok(vec![IpAddr::V6(ip)]),
        Some(url::Host::Domain(name)) => name.to_string(),
        None => return Err(WebhookInputError::InvalidUrl("the URL has no host".into())),
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let found = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| WebhookInputError::InvalidUrl(format!("the host {host} does not resolve")))?;
    Ok(found.map(|a| a.ip()).collect())
}

/// Creates a delivery of `notification` for each endpoint of its organization subscribed to
/// its event type (once per endpoint, whatever the number of calls) and attempts each new
/// one now. The test event goes to its endpoint only; notifications that are not webhook
/// events (`dunning.reminder`) go nowhere. A failed attempt is not an error: the delivery is
/// retried by [`retry_due`]. Errors are the store's (listing, creating).
#[tracing::instrument(skip_all, fields(notification_id = notification.id(), event_type = notification.event_type(), org_id = %notification.org_id()), err(level = "debug"))]
pub async fn dispatch(
    store: &dyn Store,
    sender: &dyn WebhookSender,
    notification: &Notification,
    now: DateTime<Utc>,
    allow_insecure: bool,
) -> Result<DispatchReport, AppError> {
    let event_type = notification.event_type();
    let mut report = DispatchReport::default();
    if !EVENT_TYPES.contains(&event_type) {
        return Ok(report);
    }
    let endpoints = store.list_webhooks(notification.org_id()).await?;
    let targets = endpoints.iter().filter(|e| match notification {
        Notification::WebhookTest(t) => e.id == t.endpoint_id,
        _ => e.subscribes_to(event_type),
    });
    let body = event_body(notification.id(), event_type, notification.at(), &notification.webhook_data());
    for endpoint in targets {
        let lease = now + Duration::seconds(FIRST_ATTEMPT_LEASE_SECS);
        let delivery = WebhookDelivery::new(endpoint, notification.id(), event_type, body.clone(), now, lease);
        if !store.create_webhook_delivery(&delivery).await? {
            continue;
        }
        report.deliveries += 1;
        match attempt(store, sender, Some(endpoint), &delivery, now, allow_insecure).await {
            Ok(Some(after)) if after.status == DeliveryStatus::Succeeded => report.succeeded += 1,
            Ok(_) => report.failed += 1,
            Err(e) => {
                // The delivery stays pending: the retry job attempts it after the lease.
                tracing::error!(delivery_id = %delivery.id, error = %e, "recording a webhook attempt failed");
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// Attempts up to `limit` deliveries whose retry is due at `now` (the `webhook-retries`
/// job, every minute).
#[tracing::instrument(skip_all, fields(limit), err(level = "debug"))]
pub async fn retry_due(
    store: &dyn Store,
    sender: &dyn WebhookSender,
    now: DateTime<Utc>,
    limit: u32,
    allow_insecure: bool,
) -> Result<RetryReport, AppError> {
    let mut report = RetryReport::default();
    for delivery in store.due_webhook_deliveries(now, limit).await? {
        let endpoint = store.get_webhook(&delivery.org_id, &delivery.endpoint_id).await?;
        match attempt(store, sender, endpoint.as_ref(), &delivery, now, allow_insecure).await {
            Ok(Some(after)) => {
                report.attempted += 1;
                match after.status {
                    DeliveryStatus::Succeeded => report.succeeded += 1,
                    DeliveryStatus::Pending => report.retrying += 1,
                    DeliveryStatus::Failed => report.failed_for_good += 1,
                }
            }
            // Another worker recorded this attempt.
            Ok(None) => {}
            Err(e) => tracing::error!(delivery_id = %delivery.id, error = %e, "recording a webhook attempt failed"),
        }
    }
    Ok(report)
}

/// One attempt of `delivery` to `endpoint` at `now`, recorded: the delivery as recorded, or
/// None if another worker recorded this attempt first. Without an endpoint (deleted) the
/// delivery fails for good without a request.
#[tracing::instrument(skip_all, fields(delivery_id = %delivery.id, webhook_id = %delivery.endpoint_id, attempt = delivery.attempts + 1))]
async fn attempt(
    store: &dyn Store,
    sender: &dyn WebhookSender,
    endpoint: Option<&WebhookEndpoint>,
    delivery: &WebhookDelivery,
    now: DateTime<Utc>,
    allow_insecure: bool,
) -> Result<Option<WebhookDelivery>, AppError> {
    let after = match endpoint {
        None => {
            let mut after = delivery.clone();
            after.status = DeliveryStatus::Failed;
            after.next_attempt_at = None;
            after.last_error = Some("the endpoint was deleted".into());
            after.updated_at = now;
            after
        }
        Some(endpoint) => {
            delivery.after_attempt(send(sender, endpoint, delivery, now, allow_insecure).await, random_jitter())
        }
    };
    match store.record_webhook_attempt(&after, delivery.attempts).await {
        Ok(()) => {
            tracing::info!(
                delivery_id = %after.id,
                status = ?after.status,
                status_code = after.last_status_code,
                attempts = after.attempts,
                "webhook attempt recorded"
            );
            Ok(Some(after))
        }
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// POSTs the delivery's body, signed at `now`, and says how it went.
async fn send(
    sender: &dyn WebhookSender,
    endpoint: &WebhookEndpoint,
    delivery: &WebhookDelivery,
    now: DateTime<Utc>,
    allow_insecure: bool,
) -> DeliveryAttempt {
    let started = std::time::Instant::now();
    let elapsed = || u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
    if let Err(e) = check_url(&endpoint.url, allow_insecure) {
        return DeliveryAttempt { at: now, status_code: None, latency_ms: 0, error: Some(e.to_string()) };
    }
    let headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("User-Agent".to_string(), "Tollgate-Webhooks/1".to_string()),
        (SIGNATURE_HEADER.to_string(), signature_header(&endpoint.secret, now.timestamp(), &delivery.body)),
        ("Tollgate-Event-Id".to_string(), delivery.event_id.clone()),
        ("Tollgate-Event-Type".to_string(), delivery.event_type.clone()),
        ("Tollgate-Delivery-Id".to_string(), delivery.id.to_string()),
    ];
    let timeout = std::time::Duration::from_secs(ATTEMPT_TIMEOUT_SECS);
    match sender.post(&endpoint.url, &headers, &delivery.body, timeout).await {
        Ok(response) => DeliveryAttempt {
            at: now,
            status_code: Some(response.status),
            latency_ms: response.latency_ms,
            error: None,
        },
        Err(e) => DeliveryAttempt { at: now, status_code: None, latency_ms: elapsed(), error: Some(e.message) },
    }
}

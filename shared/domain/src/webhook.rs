//! Customer webhooks: endpoints an organization registers to receive signed JSON events
//! about itself, and the deliveries of those events with their retries.
//!
//! Everything here is pure: the event body, the signature (Stripe's scheme, see
//! [`crate::billing::signature`]), the retry schedule, the URL policy and the address
//! classification that keeps webhooks from reaching private networks (server-side request
//! forgery). Resolving host names and sending happen in the adapters and the application.

use crate::id::random_base62;
use crate::stored_enum::stored_enum;
use crate::text::{optional_text, DESCRIPTION_MAX};
use crate::{DomainError, Id};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Prefix of endpoint ids.
pub const ENDPOINT_ID_PREFIX: &str = "wh";
/// Prefix of delivery ids.
pub const DELIVERY_ID_PREFIX: &str = "whd";
/// Prefix of signing secrets.
pub const SECRET_PREFIX: &str = "whsec_";
/// Endpoints an organization may register.
pub const MAX_ENDPOINTS_PER_ORG: u32 = 10;
/// The header carrying the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "Tollgate-Signature";
/// How long one attempt may take before it counts as failed.
pub const ATTEMPT_TIMEOUT_SECS: u64 = 10;
/// Retries stop this long after a delivery was created: it is then `failed`.
pub const RETRY_WINDOW_HOURS: i64 = 24;
/// Attempts kept in a delivery's log (the latest ones).
pub const ATTEMPT_LOG_MAX: usize = 20;
/// Longest URL accepted.
pub const URL_MAX: usize = 2048;
/// A delivery is kept this long (DynamoDB's `ttl`).
pub const DELIVERY_RETENTION_DAYS: i64 = 30;
/// Every event type an endpoint can subscribe to; `["*"]` subscribes to all of them.
pub const EVENT_TYPES: &[&str] = &[
    "quota.threshold_reached",
    "quota.exceeded",
    "invoice.payment_failed",
    "subscription.updated",
    "trial.ending",
    "api_key.expiring",
    "webhook.test",
];
/// The event type of the test event (`POST /api/user/webhooks/{id}/test`).
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// Delays after each failed attempt (seconds): the `n`th retry waits `RETRY_DELAYS[n-1]`,
/// ±20 %; past the table every retry waits its last value.
pub const RETRY_DELAYS_SECS: &[i64] = &[10, 60, 300, 1800, 3600, 7200, 14_400, 28_800];

/// An endpoint registered by an organization.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// `wh_...`
    pub id: Id,
    pub org_id: Id,
    pub url: String,
    /// Subscribed event types, or exactly `["*"]`.
    pub events: Vec<String>,
    pub description: Option<String>,
    /// `whsec_` + 32 base62: the HMAC key, needed in clear to sign, so stored as is. Shown to
    /// the customer only when created or rotated, never logged (`Debug` hides it).
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("description", &self.description)
            .field("secret", &"..")
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

impl WebhookEndpoint {
    /// A new endpoint with a fresh id and secret. The URL's shape is checked here (see
    /// [`check_url`]); its addresses are the caller's to check (they need DNS).
    pub fn new(
        org_id: &Id,
        url: &str,
        events: &[String],
        description: Option<&str>,
        allow_insecure: bool,
        now: DateTime<Utc>,
    ) -> Result<WebhookEndpoint, WebhookInputError> {
        let url = check_url(url, allow_insecure)?.as_str().to_string();
        Ok(WebhookEndpoint {
            id: Id::generate(ENDPOINT_ID_PREFIX),
            org_id: org_id.clone(),
            url,
            events: validate_events(events)?,
            description: optional_text("description", description, DESCRIPTION_MAX)?,
            secret: generate_secret(),
            created_at: now,
            updated_at: now,
        })
    }

    /// `raw` as an endpoint id, if it can be one: checked before any I/O.
    pub fn parse_id(raw: &str) -> Option<Id> {
        Id::is_plausible(raw, ENDPOINT_ID_PREFIX).then(|| Id::from_string(raw))
    }

    /// Whether the endpoint receives events of `event_type`. The test event goes only to
    /// the endpoint it names, whatever its subscriptions (the caller checks that).
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        event_type == TEST_EVENT_TYPE || self.events.iter().any(|e| e == "*" || e == event_type)
    }
}

/// A fresh signing secret: `whsec_` and 32 base62 characters (about 190 bits).
pub fn generate_secret() -> String {
    format!("{SECRET_PREFIX}{}", random_base62(32))
}

/// Why a webhook's input was refused (HTTP 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookInputError {
    /// The URL is not allowed: not `https://` (or `http://` with insecure URLs allowed),
    /// malformed, with credentials, or its host is or resolves to a refused address
    /// (422 `invalid_webhook_url`).
    #[error("invalid webhook URL: {0}")]
    InvalidUrl(String),
    /// Another field is invalid: an unknown event type, an empty list, a too long
    /// description (422 `invalid_field`).
    #[error(transparent)]
    Field(#[from] DomainError),
}

/// The events list as stored: each type known, no duplicates, not empty; or exactly `["*"]`.
pub fn validate_events(events: &[String]) -> Result<Vec<String>, DomainError> {
    validate_event_list(events, "events", EVENT_TYPES)
}

/// An events list of a channel (a webhook's, Slack's) as stored: each type one of `known`,
/// no duplicates, not empty; or exactly `["*"]` (every type). `field` names it in errors.
pub fn validate_event_list(events: &[String], field: &'static str, known: &[&str]) -> Result<Vec<String>, DomainError> {
    let invalid = |reason: String| DomainError::InvalidField { field, reason };
    if events.is_empty() {
        return Err(invalid("at least one event type, or [\"*\"] for all of them".into()));
    }
    if events.iter().any(|e| e == "*") {
        return if events.len() == 1 {
            Ok(vec!["*".into()])
        } else {
            Err(invalid("\"*\" stands for every event type and must be alone".into()))
        };
    }
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for e in events {
        if !known.contains(&e.as_str()) {
            return Err(invalid(format!("unknown event type {e:?}; known: {}", known.join(", "))));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    Ok(out)
}

/// The URL if its shape is allowed: `https://` (also `http://` when `allow_insecure`), a
/// host, no credentials, at most [`URL_MAX`] characters; an IP literal host must be allowed
/// by [`classify`]. Names are resolved and checked by the caller ([`check_addresses`]).
pub fn check_url(raw: &str, allow_insecure: bool) -> Result<url::Url, WebhookInputError> {
    let refuse = |why: &str| WebhookInputError::InvalidUrl(why.to_string());
    let raw = raw.trim();
    if raw.len() > URL_MAX {
        return Err(refuse("the URL is too long"));
    }
    let url = url::Url::parse(raw).map_err(|e| WebhookInputError::InvalidUrl(format!("not a URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        _ => return Err(refuse("the URL must start with https://")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("the URL must not carry credentials"));
    }
    match url.host() {
        None => return Err(refuse("the URL has no host")),
        Some(url::Host::Ipv4(ip)) => check_address(IpAddr::V4(ip), allow_insecure)?,
        Some(url::Host::Ipv6(ip)) => check_address(IpAddr::V6(ip), allow_insecure)?,
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if (name == "localhost" || name.ends_with(".localhost")) && !allow_insecure {
                return Err(refuse("the host is a loopback name"));
            }
        }
    }
    Ok(url)
}

/// Whether every address a host resolved to is allowed (none may be refused, or a
/// resolver could pick the private one); at least one is needed.
pub fn check_addresses(addresses: &[IpAddr], allow_insecure: bool) -> Result<(), WebhookInputError> {
    if addresses.is_empty() {
        return Err(WebhookInputError::InvalidUrl("the host does not resolve".into()));
    }
    addresses.iter().try_for_each(|ip| check_address(*ip, allow_insecure))
}

fn check_address(ip: IpAddr, allow_insecure: bool) -> Result<(), WebhookInputError> {
    match classify(ip) {
        AddressClass::Public => Ok(()),
        AddressClass::Loopback if allow_insecure => Ok(()),
        class => Err(WebhookInputError::InvalidUrl(format!("the host is or resolves to a {} address", class.as_str()))),
    }
}

/// What kind of address a webhook's host is: only `Public` ones are reached, and `Loopback`
/// ones when insecure URLs are allowed (local development).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    Loopback,
    /// RFC 1918, IPv6 unique-local (fc00::/7).
    Private,
    /// 169.254/16 (cloud metadata services), fe80::/10.
    LinkLocal,
    /// 100.64/10, carrier-grade NAT.
    SharedCgnat,
    Multicast,
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32.
    Documentation,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// Other special-purpose ranges: 192.0.0/24, 198.18/15 (benchmarking), 240/4 (reserved),
    /// 64:ff9b:1::/48, 2001::/23 IETF protocol assignments, discard-only 100::/64.
    Reserved,
}

impl AddressClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressClass::Public => "public",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::SharedCgnat => "shared (CGNAT)",
            AddressClass::Multicast => "multicast",
            AddressClass::Broadcast => "broadcast",
            AddressClass::Documentation => "documentation",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Reserved => "reserved",
        }
    }
}

/// The class of `ip`. IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible IPv6 addresses are
/// classified as their IPv4 address, and NAT64 (`64:ff9b::/96`) as its embedded one.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    if a == 0 {
        AddressClass::Unspecified
    } else if a == 127 {
        AddressClass::Loopback
    } else if a == 10 || (a == 172 && (16..=31).contains(&b)) || (a == 192 && b == 168) {
        AddressClass::Private
    } else if a == 169 && b == 254 {
        AddressClass::LinkLocal
    } else if a == 100 && (64..=127).contains(&b) {
        AddressClass::SharedCgnat
    } else if ip.is_broadcast() {
        AddressClass::Broadcast
    } else if (224..=239).contains(&a) {
        AddressClass::Multicast
    } else if (a == 192 && b == 0 && c == 2) || (a == 198 && b == 51 && c == 100) || (a == 203 && b == 0 && c == 113) {
        AddressClass::Documentation
    } else if (a == 192 && b == 0 && c == 0) || (a == 198 && (18..=19).contains(&b)) || a >= 240 {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let seg = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    if ip.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) embed an IPv4 address.
    if seg[..6] == [0; 6] || (seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0; 4]) {
        return classify_v4(Ipv4Addr::new((seg[6] >> 8) as u8, seg[6] as u8, (seg[7] >> 8) as u8, seg[7] as u8));
    }
    match seg[0] {
        s if s & 0xfe00 == 0xfc00 => AddressClass::Private,
        s if s & 0xffc0 == 0xfe80 => AddressClass::LinkLocal,
        // fec0::/10, the deprecated site-local range.
        s if s & 0xffc0 == 0xfec0 => AddressClass::Private,
        s if s & 0xff00 == 0xff00 => AddressClass::Multicast,
        0x2001 if seg[1] == 0x0db8 => AddressClass::Documentation,
        0x2001 if seg[1] < 0x0200 => AddressClass::Reserved,
        0x0064 if seg[1] == 0xff9b => AddressClass::Reserved,
        0x0100 if seg[1..4] == [0; 3] => AddressClass::Reserved,
        // 2002::/16 (6to4) embeds an IPv4 address.
        0x2002 => classify_v4(Ipv4Addr::new((seg[1] >> 8) as u8, seg[1] as u8, (seg[2] >> 8) as u8, seg[2] as u8)),
        s if s & 0xe000 == 0x2000 => AddressClass::Public,
        _ => AddressClass::Reserved,
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet: an attempt is due at `next_attempt_at`.
    Pending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Every attempt failed for 24 hours: no more attempts.
    Failed,
}

stored_enum!(DeliveryStatus { Pending => "pending", Succeeded => "succeeded", Failed => "failed" });

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    pub at: DateTime<Utc>,
    /// The endpoint's HTTP status; None when it did not answer.
    pub status_code: Option<u16>,
    pub latency_ms: u32,
    /// Why it failed when there is no status (timeout, connection refused, refused address).
    pub error: Option<String>,
}

/// The delivery of one event to one endpoint, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// Derived from the event and the endpoint ([`delivery_id`]): one delivery per pair.
    pub id: Id,
    pub endpoint_id: Id,
    pub org_id: Id,
    pub event_id: String,
    pub event_type: String,
    /// The exact JSON sent, the same on every attempt.
    pub body: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<u32>,
    /// When the next attempt is due (None once succeeded or failed).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The latest attempts, oldest first, at most [`ATTEMPT_LOG_MAX`].
    pub attempt_log: Vec<DeliveryAttempt>,
}

/// The id of the delivery of `event_id` to `endpoint_id`: `whd_` + 32 hex characters of a
/// SHA-256 of both, so a redelivered notification finds its delivery instead of making one.
pub fn delivery_id(event_id: &str, endpoint_id: &Id) -> Id {
    let digest = Sha256::digest(format!("{event_id}\n{endpoint_id}").as_bytes());
    Id::from_string(format!("{DELIVERY_ID_PREFIX}_{}", &hex::encode(digest)[..32]))
}

/// The JSON body of an event: `{"id", "type", "created" (unix seconds), "data"}`.
pub fn event_body(id: &str, event_type: &str, created: DateTime<Utc>, data: &serde_json::Value) -> String {
    serde_json::json!({ "id": id, "type": event_type, "created": created.timestamp(), "data": data }).to_string()
}

/// The `Tollgate-Signature` value of `body` sent at `timestamp`: Stripe's scheme,
/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, the key being the
/// whole `whsec_...` secret.
pub fn signature_header(secret: &str, timestamp: i64, body: &str) -> String {
    crate::billing::signature::sign(secret, timestamp, body.as_bytes())
}

impl WebhookDelivery {
    /// A new pending delivery of an event to `endpoint`, created at `now`. Its first attempt
    /// is due at `first_attempt_at` (the dispatcher attempts it at once and moves it; if it
    /// stops before, the retry job picks it up then).
    pub fn new(
        endpoint: &WebhookEndpoint,
        event_id: &str,
        event_type: &str,
        body: String,
        now: DateTime<Utc>,
        first_attempt_at: DateTime<Utc>,
    ) -> WebhookDelivery {
        WebhookDelivery {
            id: delivery_id(event_id, &endpoint.id),
            endpoint_id: endpoint.id.clone(),
            org_id: endpoint.org_id.clone(),
            event_id: event_id.to_string(),
            event_type: event_type.to_string(),
            body,
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_status_code: None,
            last_error: None,
            last_latency_ms: None,
            next_attempt_at: Some(first_attempt_at),
            created_at: now,
            updated_at: now,
            attempt_log: Vec::new(),
        }
    }

    /// When retries stop.
    pub fn deadline(&self) -> DateTime<Utc> {
        self.created_at + Duration::hours(RETRY_WINDOW_HOURS)
    }

    /// The delivery after one more attempt: `succeeded` on a 2xx; otherwise `pending` with
    /// the next attempt after [`retry_delay`] (`jitter` in `[-1, 1]` scales the ±20 %), or
    /// `failed` if that is past [`WebhookDelivery::deadline`].
    pub fn after_attempt(&self, attempt: DeliveryAttempt, jitter: f64) -> WebhookDelivery {
        let mut next = self.clone();
        next.attempts += 1;
        next.last_status_code = attempt.status_code;
        next.last_error = attempt.error.clone();
        next.last_latency_ms = Some(attempt.latency_ms);
        next.updated_at = attempt.at;
        let ok = attempt.status_code.is_some_and(|s| (200..300).contains(&s));
        if ok {
            next.status = DeliveryStatus::Succeeded;
            next.next_attempt_at = None;
        } else {
            let at = attempt.at + retry_delay(next.attempts, jitter);
            if at > self.deadline() {
                next.status = DeliveryStatus::Failed;
                next.next_attempt_at = None;
            } else {
                next.status = DeliveryStatus::Pending;
                next.next_attempt_at = Some(at);
            }
        }
        next.attempt_log.push(attempt);
        if next.attempt_log.len() > ATTEMPT_LOG_MAX {
            let excess = next.attempt_log.len() - ATTEMPT_LOG_MAX;
            next.attempt_log.drain(..excess);
        }
        next
    }
}

/// The wait after `failed_attempts` failed attempts (1 for the first retry): 10 s, 1 min,
/// 5 min, 30 min, 1 h, 2 h, 4 h, 8 h, then 8 h, each scaled by `1 + 0.2 * jitter` (`jitter`
/// clamped to `[-1, 1]`).
pub fn retry_delay(failed_attempts: u32, jitter: f64) -> Duration {
    let i = (failed_attempts.max(1) as usize - 1).min(RETRY_DELAYS_SECS.len() - 1);
    let base_ms = RETRY_DELAYS_SECS[i] as f64 * 1000.0;
    Duration::milliseconds((base_ms * (1.0 + 0.2 * jitter.clamp(-1.0, 1.0))).round() as i64)
}

/// A random jitter in `[-1, 1]` for [`retry_delay`].
pub fn random_jitter() -> f64 {
    use rand::Rng;
    rand::thread_rng().gen_range(-1.0..=1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_are_classified() {
        for (addr, class) in [
            ("8.8.8.8", AddressClass::Public),
            ("1.1.1.1", AddressClass::Public),
            ("127.0.0.1", AddressClass::Loopback),
            ("127.9.9.9", AddressClass::Loopback),
            ("10.0.0.1", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("172.31.255.255", AddressClass::Private),
            ("172.32.0.1", AddressClass::Public),
            ("192.168.1.1", AddressClass::Private),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("100.64.0.1", AddressClass::SharedCgnat),
            ("100.127.255.255", AddressClass::SharedCgnat),
            ("100.128.0.1", AddressClass::Public),
            ("224.0.0.1", AddressClass::Multicast),
            ("255.255.255.255", AddressClass::Broadcast),
            ("192.0.2.5", AddressClass::Documentation),
            ("198.51.100.5", AddressClass::Documentation),
            ("203.0.113.5", AddressClass::Documentation),
            ("0.0.0.0", AddressClass::Unspecified),
            ("240.0.0.1", AddressClass::Reserved),
            ("198.18.0.1", AddressClass::Reserved),
            ("::1", AddressClass::Loopback),
            ("::", AddressClass::Unspecified),
            ("fc00::1", AddressClass::Private),
            ("fd12:3456::1", AddressClass::Private),
            ("fe80::1", AddressClass::LinkLocal),
            ("ff02::1", AddressClass::Multicast),
            ("2001:db8::1", AddressClass::Documentation),
            ("2606:4700:4700::1111", AddressClass::Public),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("::ffff:10.0.0.1", AddressClass::Private),
            ("::ffff:169.254.169.254", AddressClass::LinkLocal),
            ("::ffff:8.8.8.8", AddressClass::Public),
            ("::10.0.0.1", AddressClass::Private),
            ("64:ff9b::a9fe:a9fe", AddressClass::LinkLocal),
            ("2002:a00:1::", AddressClass::Private),
        ] {
            assert_eq!(classify(ip(addr)), class, "{addr}");
        }
    }

    #[test]
    fn the_url_policy() {
        let ok = |u: &str, insecure: bool| check_url(u, insecure).is_ok();
        assert!(ok("https://hooks.example.com/x?y=1", false));
        assert!(ok("https://8.8.8.8/hook", false));
        assert!(!ok("http://hooks.example.com/x", false), "http only when insecure URLs are allowed");
        assert!(ok("http://hooks.example.com/x", true));
        assert!(!ok("ftp://hooks.example.com/x", true));
        assert!(!ok("https://user:pw@hooks.example.com/", false), "credentials");
        assert!(!ok("https://10.0.0.1/x", false));
        assert!(!ok("https://10.0.0.1/x", true), "private ranges stay refused");
        assert!(!ok("https://169.254.169.254/", true));
        assert!(!ok("https://[::ffff:169.254.169.254]/", true));
        assert!(!ok("http://127.0.0.1/", false));
        assert!(ok("http://127.0.0.1:8080/", true), "loopback when insecure URLs are allowed");
        assert!(ok("http://[::1]:8080/", true));
        assert!(!ok("https://localhost/", false));
        assert!(ok("http://localhost:9/", true));
        assert!(!ok("https://0x7f000001/", false), "the URL parser normalises numeric hosts");
        assert!(!ok("https://2130706433/", false));
        assert!(!ok("not a url", true));
        assert!(!ok(&format!("https://example.com/{}", "a".repeat(URL_MAX)), false));
        assert!(
            matches!(check_url("https://10.0.0.1/", true), Err(WebhookInputError::InvalidUrl(m)) if m.contains("private"))
        );

        assert!(check_addresses(&[ip("8.8.8.8")], false).is_ok());
        assert!(check_addresses(&[ip("8.8.8.8"), ip("10.0.0.1")], false).is_err(), "one private address is enough");
        assert!(check_addresses(&[], true).is_err());
        assert!(check_addresses(&[ip("127.0.0.1")], true).is_ok());
        assert!(check_addresses(&[ip("127.0.0.1")], false).is_err());
    }

    #[test]
    fn event_types_are_validated() {
        let v = |e: &[&str]| validate_events(&e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(v(&["*"]).unwrap(), vec!["*"]);
        assert_eq!(
            v(&["quota.exceeded", "quota.exceeded", "trial.ending"]).unwrap(),
            vec!["quota.exceeded", "trial.ending"]
        );
        assert!(v(&[]).is_err());
        assert!(v(&["*", "quota.exceeded"]).is_err());
        assert!(v(&["quota.nope"]).is_err());
        assert!(v(&["dunning.reminder"]).is_err(), "not a webhook event");
    }

    #[test]
    fn endpoints_have_fresh_ids_and_secrets() {
        let org = Id::generate("org");
        let e = WebhookEndpoint::new(&org, "https://example.com/h", &["*".into()], Some("mine"), false, Utc::now())
            .unwrap();
        assert!(WebhookEndpoint::parse_id(e.id.as_str()).is_some());
        assert!(e.secret.starts_with(SECRET_PREFIX) && e.secret.len() == SECRET_PREFIX.len() + 32);
        assert!(!format!("{e:?}").contains(&e.secret), "Debug hides the secret");
        assert!(e.subscribes_to("quota.exceeded"));
        let only = WebhookEndpoint { events: vec!["trial.ending".into()], ..e.clone() };
        assert!(only.subscribes_to("trial.ending") && !only.subscribes_to("quota.exceeded"));
        let bad = WebhookEndpoint::new(&org, "https://example.com/h", &["x".into()], None, false, Utc::now());
        assert!(matches!(bad, Err(WebhookInputError::Field(_))));
    }

    #[test]
    fn delivery_ids_follow_from_event_and_endpoint() {
        let (a, b) = (Id::generate("wh"), Id::generate("wh"));
        assert_eq!(delivery_id("evt_1", &a), delivery_id("evt_1", &a));
        assert_ne!(delivery_id("evt_1", &a), delivery_id("evt_1", &b));
        assert_ne!(delivery_id("evt_1", &a), delivery_id("evt_2", &a));
        assert!(Id::is_plausible(delivery_id("evt_1", &a).as_str(), DELIVERY_ID_PREFIX));
    }

    #[test]
    fn the_signature_is_stripes_scheme() {
        let body = event_body(
            "evt_1",
            "webhook.test",
            DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            &serde_json::json!({"a": 1}),
        );
        assert_eq!(body, r#"{"created":1700000000,"data":{"a":1},"id":"evt_1","type":"webhook.test"}"#);
        let header = signature_header("whsec_abc", 1_700_000_100, &body);
        assert!(header.starts_with("t=1700000100,v1="), "{header}");
        assert_eq!(
            crate::billing::signature::verify("whsec_abc", Some(&header), body.as_bytes(), 1_700_000_100),
            Ok(())
        );
        // A known vector: HMAC-SHA256("whsec_abc", "1.{}").
        assert_eq!(
            signature_header("whsec_abc", 1, "{}"),
            format!("t=1,v1={}", {
                use hmac::Mac;
                let mut m = hmac::Hmac::<Sha256>::new_from_slice(b"whsec_abc").unwrap();
                m.update(b"1.{}");
                hex::encode(m.finalize().into_bytes())
            })
        );
    }

    #[test]
    fn the_retry_schedule_backs_off_with_jitter_and_ends_after_a_day() {
        let secs = |n, j| retry_delay(n, j).num_milliseconds() as f64 / 1000.0;
        assert_eq!(secs(1, 0.0), 10.0);
        assert_eq!(secs(2, 0.0), 60.0);
        assert_eq!(secs(3, 0.0), 300.0);
        assert_eq!(secs(8, 0.0), 28_800.0);
        assert_eq!(secs(20, 0.0), 28_800.0);
        assert_eq!(secs(1, 1.0), 12.0);
        assert_eq!(secs(1, -1.0), 8.0);
        assert_eq!(secs(1, 7.0), 12.0, "clamped");
        for _ in 0..100 {
            let j = random_jitter();
            assert!((-1.0..=1.0).contains(&j));
        }

        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let endpoint =
            WebhookEndpoint::new(&Id::generate("org"), "https://example.com/", &["*".into()], None, false, start)
                .unwrap();
        let mut d = WebhookDelivery::new(&endpoint, "evt_1", "quota.exceeded", "{}".into(), start, start);
        let mut now = start;
        let mut attempts = 0;
        while d.status == DeliveryStatus::Pending {
            let fail = DeliveryAttempt { at: now, status_code: Some(500), latency_ms: 3, error: None };
            d = d.after_attempt(fail, 0.0);
            attempts += 1;
            if let Some(next) = d.next_attempt_at {
                assert!(next <= d.deadline());
                now = next;
            }
        }
        assert_eq!(d.status, DeliveryStatus::Failed);
        // At 0 s, 10 s, 70 s, 6 min, 36 min, 1.6 h, 3.6 h, 7.6 h, 15.6 h, 23.6 h; the next one
        // would come after the 24 hours.
        assert_eq!(attempts, 10, "9 retries fit in 24 hours");
        assert_eq!(d.attempts, 10);
        assert_eq!(d.last_status_code, Some(500));
        assert!(d.attempt_log.len() <= ATTEMPT_LOG_MAX);

        let mut d = WebhookDelivery::new(&endpoint, "evt_2", "quota.exceeded", "{}".into(), start, start);
        d = d.after_attempt(
            DeliveryAttempt { at: start, status_code: None, latency_ms: 10_000, error: Some("timeout".into()) },
            0.0,
        );
        assert_eq!((d.status, d.next_attempt_at), (DeliveryStatus::Pending, Some(start + Duration::seconds(10))));
        d = d.after_attempt(DeliveryAttempt { at: start, status_code: Some(204), latency_ms: 5, error: None }, 0.0);
        assert_eq!((d.status, d.next_attempt_at, d.attempts), (DeliveryStatus::Succeeded, None, 2));
        assert_eq!(d.attempt_log.len(), 2);
        for i in 0..30 {
            d = d.after_attempt(DeliveryAttempt { at: start, status_code: Some(500), latency_ms: i, error: None }, 0.0);
        }
        assert_eq!(d.attempt_log.len(), ATTEMPT_LOG_MAX, "the log keeps the latest attempts");
        assert_eq!(d.attempt_log.last().unwrap().latency_ms, 29);
    }

    #[test]
    fn the_status_is_stored_as_its_serde_name() {
        crate::stored_enum::assert_text_is_serde_name::<DeliveryStatus>();
    }
}

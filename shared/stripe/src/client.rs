//! A small HTTP client for Stripe's API: the request (method, path, form), the headers every
//! call carries (the secret key, the pinned API version, our user agent), one attempt's
//! answer read as an object or as Stripe's error, and the repeat of a repeatable request after
//! a transient failure.

use crate::config::{StripeConfig, StripeConfigError};
use crate::error::{ErrorBody, StripeError};
use crate::form::Form;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;

/// The API version the adapter reads, sent with every request (`Stripe-Version`) so that the
/// account's default version does not matter: the one the adapter and the Stripe fake were
/// written against (async-stripe 1.0.0-rc.10's, the client the adapter used before).
pub(crate) const API_VERSION: &str = "2026-09-30.endive";
/// Our user agent (Stripe's "app info": the application and its version).
const USER_AGENT: &str = concat!("Stripe/v1 tollgate/", env!("CARGO_PKG_VERSION"));
/// How long one attempt may take, from sending to the end of the answer.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts of a request that is safe to repeat (a read, or a create with an idempotency key)
/// when the failure is transient (no answer, 409, 429, 5xx).
const ATTEMPTS: u32 = 3;

/// How a request may be repeated.
pub(crate) enum Call {
    /// A read: repeated on a transient failure.
    Read,
    /// A create, with its idempotency key: repeated on a transient failure (Stripe answers a
    /// repeat with the first attempt's object).
    Create(String),
    /// A change: sent once (a repeat after a lost answer could apply it twice or fail).
    Change,
    /// A create that Stripe deduplicates by an identifier among its parameters (a meter
    /// event): repeated on a transient failure, without an idempotency key.
    Identified,
}

/// One call of Stripe's API: `GET` with the form as the query string, or `POST` with it as the
/// body. `path` follows `/v1` (`/customers/cus_1`), its ids encoded with [`id`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub method: Method,
    pub path: String,
    pub form: Form,
}

impl Request {
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Request { method: Method::GET, path: path.into(), form: Form::new() }
    }

    pub(crate) fn post(path: impl Into<String>) -> Self {
        Request { method: Method::POST, path: path.into(), form: Form::new() }
    }

    /// The request with these parameters.
    pub(crate) fn form(self, form: Form) -> Self {
        Request { form, ..self }
    }

    /// Whether a segment of the path is one a URL would drop or resolve (`""`, `.`, `..`):
    /// an id that cannot be an object's.
    fn has_bad_segment(&self) -> bool {
        self.path.split('/').skip(1).any(|segment| matches!(segment, "" | "%2E" | "%2E%2E"))
    }
}

/// An id as a path segment: letters, digits, `_` and `-` as they are (every id of Stripe's),
/// anything else percent-encoded, `.` included (so that no id can climb the path).
pub(crate) fn id(raw: &str) -> String {
    let mut encoded = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// The HTTP client for one Stripe account. Cheap to clone (reqwest's connection pool is
/// shared); `Debug` never shows the secret key.
#[derive(Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    /// `https://api.stripe.com/v1` (no trailing `/`: paths start with one).
    base: String,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("base", &self.base).field("api_version", &API_VERSION).finish()
    }
}

impl Client {
    /// A client for `config`, with the workspace's outbound TLS configuration.
    pub(crate) fn new(config: &StripeConfig) -> Result<Self, StripeConfigError> {
        let mut auth = HeaderValue::try_from(format!("Bearer {}", config.secret_key))
            .map_err(|_| StripeConfigError("STRIPE_SECRET_KEY cannot be sent in a header".into()))?;
        // Kept out of reqwest's debug output.
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert("stripe-version", HeaderValue::from_static(API_VERSION));
        let http = tollgate_outbound::https::client_builder()
            .default_headers(headers)
            .user_agent(USER_AGENT)
            .timeout(ATTEMPT_TIMEOUT)
            // Stripe does not redirect; an answer that does is not Stripe's to follow.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StripeConfigError(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client { http, base: format!("{}v1", config.client_url()) })
    }

    /// Sends `request` and reads its answer as a `T`; a repeatable one is tried again after a
    /// transient failure, with a short pause that doubles.
    #[tracing::instrument(name = "stripe", skip_all, fields(method = %request.method, path = %request.path))]
    pub(crate) async fn send<T: DeserializeOwned>(&self, request: &Request, call: &Call) -> Result<T, StripeError> {
        if request.has_bad_segment() {
            return Err(StripeError::BadId);
        }
        let key = match call {
            Call::Create(key) => Some(key.as_str()),
            Call::Read | Call::Change | Call::Identified => None,
        };
        let repeatable = !matches!(call, Call::Change);
        let mut attempt = 0;
        loop {
            match self.attempt(request, key).await {
                Err(e) if repeatable && attempt + 1 < ATTEMPTS && transient(&e) => {
                    attempt += 1;
                    tracing::debug!(attempt, error = %short(&e), "Stripe request failed; trying again");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
                result => return result,
            }
        }
    }

    /// One attempt: the answer's object, or Stripe's error.
    async fn attempt<T: DeserializeOwned>(&self, request: &Request, key: Option<&str>) -> Result<T, StripeError> {
        let mut url = format!("{}{}", self.base, request.path);
        let mut builder = if request.method == Method::GET {
            if !request.form.is_empty() {
                url = format!("{url}?{}", request.form.encode());
            }
            self.http.get(url)
        } else {
            self.http
                .request(request.method.clone(), url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(request.form.encode())
        };
        if let Some(key) = key {
            builder = builder.header("idempotency-key", key);
        }
        let response = builder.send().await.map_err(StripeError::Network)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(StripeError::Network)?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body).map_err(|source| StripeError::Unreadable { status, source });
        }
        match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(parsed) => Err(StripeError::Api { status, error: parsed.error }),
            Err(source) => Err(StripeError::Unreadable { status, source }),
        }
    }
}

/// Whether a failure may pass if the request is sent again: no answer, or an answer that says
/// "later" (a lock conflict, rate limiting, Stripe's own failure), whatever its body.
pub(crate) fn transient(error: &StripeError) -> bool {
    match error {
        StripeError::Network(_) => true,
        StripeError::Api { status, .. } | StripeError::Unreadable { status, .. } => {
            *status >= 500 || matches!(status, 409 | 429)
        }
        StripeError::BadId => false,
    }
}

/// An error for a log line: the status and code, never the error object (which can hold a
/// payment method's billing details).
pub(crate) fn short(error: &StripeError) -> String {
    match error {
        StripeError::Api { status, error } => format!("{status} {}", error.code.as_deref().unwrap_or(&error.kind)),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> StripeError {
        let body: ErrorBody = serde_json::from_str(r#"{"error":{"type":"api_error","message":"x"}}"#).unwrap();
        StripeError::Api { status, error: body.error }
    }

    #[test]
    fn only_failures_that_may_pass_are_tried_again() {
        for status in [409, 429, 500, 503] {
            assert!(transient(&api(status)), "{status}");
        }
        for status in [400, 402, 404] {
            assert!(!transient(&api(status)), "{status}");
        }
        let unreadable = |status| StripeError::Unreadable {
            status,
            source: serde_json::from_str::<ErrorBody>("<html>").unwrap_err(),
        };
        assert!(transient(&unreadable(502)));
        assert!(!transient(&unreadable(200)));
        assert!(!transient(&StripeError::BadId));
    }

    #[test]
    fn ids_cannot_leave_their_path_segment() {
        assert_eq!(id("cus_Q1-x"), "cus_Q1-x");
        assert_eq!(id("pm_1/../customers"), "pm_1%2F%2E%2E%2Fcustomers");
        assert_eq!(id("a?b#c d"), "a%3Fb%23c%20d");
        let bad = |raw: &str| Request::get(format!("/payment_methods/{}", id(raw))).has_bad_segment();
        assert!(bad(""));
        assert!(bad("."));
        assert!(bad(".."));
        assert!(!bad("..."));
        assert!(!bad("pm_1"));
        assert!(!Request::post(format!("/invoices/{}/finalize", id("in_1"))).has_bad_segment());
    }

    #[test]
    fn a_log_line_has_the_status_and_code_only() {
        let body: ErrorBody = serde_json::from_str(
            r#"{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined.",
                "payment_method":{"billing_details":{"email":"ada@example.com"}}}}"#,
        )
        .unwrap();
        assert_eq!(short(&StripeError::Api { status: 402, error: body.error }), "402 card_declined");
        assert_eq!(short(&api(500)), "500 api_error");
    }

    /// A loopback server that answers `answers` in turn, each to one connection, and hands
    /// back each request as it arrived (head and body).
    async fn server(answers: Vec<&'static str>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            for answer in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // The head, then as many body bytes as Content-Length says.
                loop {
                    let n = socket.read(&mut buf).await.unwrap();
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        if body.len() >= length {
                            break;
                        }
                    }
                }
                seen.push(String::from_utf8(request).unwrap());
                let (status, body) = answer.split_once(' ').unwrap();
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(response.as_bytes()).await.unwrap();
            }
            seen
        });
        (base, task)
    }

    #[tokio::test]
    async fn a_create_carries_the_key_the_version_the_agent_and_its_idempotency_key_and_is_repeated() {
        let (base, server) = server(vec![
            r#"500 {"error":{"type":"api_error","message":"try again"}}"#,
            r#"200 {"id":"cus_1","object":"customer"}"#,
        ])
        .await;
        let client = Client::new(&StripeConfig { api_base: base, ..StripeConfig::new("sk_test_123") }).unwrap();
        let request =
            Request::post("/customers").form(Form::new().text("email", "a@b.c").map("metadata", &[("org_id", "o1")]));
        let customer: crate::objects::Customer =
            client.send(&request, &Call::Create("customer-o1".into())).await.unwrap();
        assert_eq!(customer.id, "cus_1");
        let seen = server.await.unwrap();
        assert_eq!(seen.len(), 2, "tried again after the 500");
        for request in &seen {
            let lower = request.to_ascii_lowercase();
            assert!(request.starts_with("POST /v1/customers HTTP/1.1\r\n"), "{request}");
            assert!(lower.contains("\r\nauthorization: bearer sk_test_123\r\n"), "{request}");
            assert!(lower.contains(&format!("\r\nstripe-version: {API_VERSION}\r\n")), "{request}");
            assert!(lower.contains("\r\nuser-agent: stripe/v1 tollgate/"), "{request}");
            assert!(lower.contains("\r\nidempotency-key: customer-o1\r\n"), "{request}");
            assert!(lower.contains("\r\ncontent-type: application/x-www-form-urlencoded\r\n"), "{request}");
            assert!(request.ends_with("\r\n\r\nemail=a%40b.c&metadata%5Borg_id%5D=o1"), "{request}");
        }
    }

    #[tokio::test]
    async fn a_read_sends_its_form_as_the_query_and_a_change_is_sent_once() {
        let (base, server) = server(vec![
            r#"200 {"object":"list","data":[],"has_more":false,"url":"/v1/payment_methods"}"#,
            r#"409 {"error":{"type":"invalid_request_error","code":"lock_timeout","message":"busy"}}"#,
        ])
        .await;
        let client =
            Client::new(&StripeConfig { api_base: format!("{base}/v1/"), ..StripeConfig::new("sk_test_1") }).unwrap();
        let list = Request::get("/payment_methods").form(Form::new().text("customer", "cus_1").text("type", "card"));
        let page: crate::objects::List<crate::objects::Ref> = client.send(&list, &Call::Read).await.unwrap();
        assert!(page.data.is_empty() && !page.has_more);
        let change = Request::post(format!("/customers/{}", id("cus_1"))).form(Form::new().bool("x", true));
        let refused = client.send::<serde::de::IgnoredAny>(&change, &Call::Change).await.unwrap_err();
        assert!(
            matches!(&refused, StripeError::Api { status: 409, error } if error.code.as_deref() == Some("lock_timeout"))
        );
        let seen = server.await.unwrap();
        assert!(seen[0].starts_with("GET /v1/payment_methods?customer=cus_1&type=card HTTP/1.1\r\n"), "{}", seen[0]);
        assert!(!seen[0].to_ascii_lowercase().contains("idempotency-key"));
        assert!(seen[1].starts_with("POST /v1/customers/cus_1 HTTP/1.1\r\n"), "{}", seen[1]);
        assert_eq!(seen.len(), 2, "the change was not repeated");
    }

    #[tokio::test]
    async fn an_id_that_cannot_be_one_is_not_sent() {
        let client =
            Client::new(&StripeConfig { api_base: "http://127.0.0.1:9".into(), ..StripeConfig::new("sk_test_1") })
                .unwrap();
        let request = Request::get(format!("/customers/{}", id("..")));
        assert!(matches!(client.send::<serde::de::IgnoredAny>(&request, &Call::Read).await, Err(StripeError::BadId)));
    }

    #[test]
    fn debug_never_shows_the_secret_key() {
        let client = Client::new(&StripeConfig::new("sk_live_51VerySecretPart")).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("VerySecret"), "{shown}");
    }
}

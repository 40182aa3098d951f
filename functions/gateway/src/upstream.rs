//! Forwarding a call to its upstream (or the built-in echo handler).

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use std::time::Duration;
use tollgate_domain::BUILTIN_ECHO;
use tollgate_http::ApiError;
use tollgate_http::ErrorCode;

/// Headers that describe one connection, not the message (RFC 9110 section 7.6.1), plus
/// `content-length`, which the HTTP library recomputes for the relayed body. Dropped in
/// both directions.
const HOP_BY_HOP_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];
/// Also dropped from requests: the consumer's credentials, and the host the client library
/// sets for the upstream.
const DROPPED_REQUEST_ONLY_HEADERS: &[&str] = &["host", "authorization", "x-api-key"];

/// Largest upstream answer relayed (Lambda's response limit is 6 MB).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// Who is calling, passed to the upstream in `X-Tollgate-*` headers (documented in the README).
#[derive(Debug, Clone)]
pub struct Identity {
    pub request_id: String,
    pub org_id: Option<String>,
    pub key_id: Option<String>,
    pub plan_id: Option<String>,
    pub client_ip: Option<String>,
}

/// One call to forward.
pub struct Outgoing<'a> {
    pub method: &'a Method,
    pub upstream_url: &'a str,
    /// Appended to the upstream URL: the `{*rest}` capture, or the whole path after /api/v1.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    pub identity: Identity,
}

/// The HTTP client to upstreams, with the gateway's timeouts.
pub struct Upstream {
    client: reqwest::Client,
}

impl Upstream {
    pub fn new(timeout: Duration) -> Self {
        let client = tollgate_outbound::https::client_builder()
            .connect_timeout(Duration::from_secs(3).min(timeout))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("static client configuration");
        Upstream { client }
    }

    pub async fn forward(&self, out: Outgoing<'_>) -> Result<Response<Body>, ApiError> {
        if out.upstream_url == BUILTIN_ECHO {
            return Ok(echo(&out));
        }
        let url = crate::forward_path::upstream_url(out.upstream_url, out.path, out.query)?;
        let mut headers = forwarded_headers(out.headers);
        identity_headers(&mut headers, &out.identity);
        let resp = self
            .client
            .request(out.method.clone(), url)
            .headers(headers)
            .body(out.body)
            .send()
            .await
            .map_err(upstream_error)?;
        let status = resp.status();
        let mut headers = resp.headers().clone();
        for h in HOP_BY_HOP_HEADERS {
            headers.remove(*h);
        }
        if resp.content_length().is_some_and(|l| l as usize > MAX_RESPONSE_BYTES) {
            return Err(too_large());
        }
        let body = resp.bytes().await.map_err(upstream_error)?;
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        let mut out = Response::new(Body::from(body));
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

fn too_large() -> ApiError {
    ApiError::Rejected {
        code: ErrorCode::UpstreamUnavailable,
        message: "the upstream answer is larger than 6 MB".into(),
    }
}

fn upstream_error(e: reqwest::Error) -> ApiError {
    if e.is_timeout() {
        ApiError::Rejected { code: ErrorCode::UpstreamTimeout, message: "the upstream did not answer in time".into() }
    } else {
        tracing::warn!(error = %e, "upstream call failed");
        ApiError::Rejected { code: ErrorCode::UpstreamUnavailable, message: "the upstream could not be reached".into() }
    }
}

fn forwarded_headers(incoming: &HeaderMap) -> HeaderMap {
    let mut headers = incoming.clone();
    // Headers named in `Connection` are hop-by-hop too.
    let named: Vec<String> = incoming
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let dropped = HOP_BY_HOP_HEADERS.iter().chain(DROPPED_REQUEST_ONLY_HEADERS).copied();
    for h in dropped.chain(named.iter().map(String::as_str)) {
        headers.remove(h);
    }
    headers.retain_names_not_starting_with("x-tollgate-");
    headers
}

trait RetainNames {
    fn retain_names_not_starting_with(&mut self, prefix: &str);
}

impl RetainNames for HeaderMap {
    /// Drops any client-sent header that could impersonate the gateway's identity headers.
    fn retain_names_not_starting_with(&mut self, prefix: &str) {
        let doomed: Vec<HeaderName> = self.keys().filter(|k| k.as_str().starts_with(prefix)).cloned().collect();
        for k in doomed {
            self.remove(k);
        }
    }
}

fn identity_headers(headers: &mut HeaderMap, id: &Identity) {
    let mut set = |name: &'static str, value: Option<&str>| {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, v);
        }
    };
    set("x-tollgate-request-id", Some(&id.request_id));
    set("x-tollgate-org-id", id.org_id.as_deref());
    set("x-tollgate-key-id", id.key_id.as_deref());
    set("x-tollgate-plan-id", id.plan_id.as_deref());
    set("x-forwarded-for", id.client_ip.as_deref());
}

/// What the built-in echo answers: the call as it would have been forwarded. Fields in
/// alphabetical order, as the keys of the headers map (the answer's bytes stay stable).
#[derive(serde::Serialize)]
struct Echoed<'a> {
    body: std::borrow::Cow<'a, str>,
    headers: std::collections::BTreeMap<&'a str, &'a str>,
    method: &'a str,
    path: &'a str,
    query: &'a str,
}

/// The built-in echo upstream: answers with what it would have forwarded. Serialised
/// straight from borrowed parts (no JSON value built first): it is the benchmark's upstream.
fn echo(out: &Outgoing<'_>) -> Response<Body> {
    let mut headers = forwarded_headers(out.headers);
    identity_headers(&mut headers, &out.identity);
    let echoed = Echoed {
        body: String::from_utf8_lossy(&out.body),
        // A repeated header name keeps its last value.
        headers: headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v))).collect(),
        method: out.method.as_str(),
        path: out.path,
        query: out.query.unwrap_or(""),
    };
    let body = serde_json::to_vec(&echoed).expect("strings serialise");
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
    *resp.status_mut() = StatusCode::OK;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_hop_by_hop_headers_are_not_forwarded() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-api-key", "sk_live_secret"),
            ("authorization", "Bearer sk_live_secret"),
            ("connection", "close, x-custom-hop"),
            ("x-custom-hop", "1"),
            ("x-tollgate-org-id", "org_forged"),
            ("accept", "application/json"),
        ] {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let mut f = forwarded_headers(&h);
        identity_headers(
            &mut f,
            &Identity {
                request_id: "req_1".into(),
                org_id: Some("org_real".into()),
                key_id: None,
                plan_id: None,
                client_ip: None,
            },
        );
        assert!(f.get("x-api-key").is_none() && f.get("authorization").is_none());
        assert!(f.get("connection").is_none() && f.get("x-custom-hop").is_none());
        assert_eq!(f["x-tollgate-org-id"], "org_real");
        assert_eq!(f["accept"], "application/json");
    }
    #[tokio::test]
    async fn the_echo_answers_the_call_as_it_would_forward_it() {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("sk_live_secret"));
        h.append("accept", HeaderValue::from_static("text/plain"));
        h.append("accept", HeaderValue::from_static("application/json"));
        let identity = Identity {
            request_id: "req_1".into(),
            org_id: Some("org_1".into()),
            key_id: None,
            plan_id: None,
            client_ip: Some("10.0.0.1".into()),
        };
        let out = Outgoing {
            method: &Method::POST,
            upstream_url: BUILTIN_ECHO,
            path: "/a/b",
            query: Some("x=1"),
            headers: &h,
            body: Bytes::from_static(b"{\"qty\":2}"),
            identity,
        };
        let answer = echo(&out);
        assert_eq!(answer.headers()["content-type"], "application/json");
        let body = axum::body::to_bytes(answer.into_body(), 1 << 20).await.unwrap();
        // Keys in alphabetical order; a repeated header keeps its last value.
        let expected = serde_json::json!({
            "body": "{\"qty\":2}",
            "headers": {
                "accept": "application/json",
                "x-forwarded-for": "10.0.0.1",
                "x-tollgate-org-id": "org_1",
                "x-tollgate-request-id": "req_1",
            },
            "method": "POST",
            "path": "/a/b",
            "query": "x=1",
        });
        assert_eq!(std::str::from_utf8(&body).unwrap(), expected.to_string());
    }
}

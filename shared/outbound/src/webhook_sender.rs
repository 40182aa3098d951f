//! The `WebhookSender` adapter: reqwest (rustls), one request per attempt, no redirects
//! followed, no proxy from the environment. Before each request the host is resolved and
//! every address checked against the URL policy (`tollgate_domain::webhook`), and the
//! connection goes to those checked addresses only (the client's resolver is pinned to
//! them), so a DNS answer that changes between the check and the connection cannot point
//! the request at a private address.

use async_trait::async_trait;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tollgate_domain::webhook::{check_addresses, check_url};
use tollgate_domain::{PortError, WebhookResponse, WebhookSender};

/// Sends webhooks over HTTPS (and `http://` to loopback when insecure URLs are allowed).
#[derive(Debug, Clone, Copy)]
pub struct ReqwestWebhookSender {
    allow_insecure: bool,
}

impl ReqwestWebhookSender {
    /// A sender applying the URL policy with `allow_insecure` (`ALLOW_INSECURE_WEBHOOK_URLS`).
    pub fn new(allow_insecure: bool) -> Self {
        ReqwestWebhookSender { allow_insecure }
    }
}

#[async_trait]
impl WebhookSender for ReqwestWebhookSender {
    #[tracing::instrument(skip_all, fields(body_len = body.len()), err(level = "debug"))]
    async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &str,
        timeout: Duration,
    ) -> Result<WebhookResponse, PortError> {
        let parsed = check_url(url, self.allow_insecure).map_err(|e| PortError::new(e.to_string()))?;
        let port = parsed.port_or_known_default().unwrap_or(443);
        let mut client = crate::https::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout);
        if let Some(url::Host::Domain(host)) = parsed.host() {
            let resolved: Vec<SocketAddr> = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
                .await
                .map_err(|_| PortError::new("DNS resolution timed out"))?
                .map_err(|_| PortError::new(format!("the host {host} does not resolve")))?
                .collect();
            let ips: Vec<IpAddr> = resolved.iter().map(SocketAddr::ip).collect();
            check_addresses(&ips, self.allow_insecure).map_err(|e| PortError::new(e.to_string()))?;
            client = client.resolve_to_addrs(host, &resolved);
        }
        let client = client.build().map_err(|e| PortError::with_source("cannot build the HTTP client", e))?;
        let mut request = client.post(parsed).body(body.to_string());
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let started = Instant::now();
        // Errors are described without the URL (reqwest's own messages carry it, and a
        // customer's URL may hold a token).
        let response = request.send().await.map_err(|e| {
            let what = if e.is_timeout() {
                format!("no answer within {} s", timeout.as_secs())
            } else if e.is_connect() {
                "the connection failed".to_string()
            } else {
                "the request failed".to_string()
            };
            PortError::new(what)
        })?;
        let latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        Ok(WebhookResponse { status: response.status().as_u16(), latency_ms })
    }
}

//! The `OidcHttp` adapter: reqwest (rustls), for sign-in with an OpenID Connect or OAuth2
//! provider (discovery, the provider's keys, the token endpoint, GitHub's user API). The
//! provider's URLs come from configuration and its discovery
//! document, not from users, so no address policy applies.

use async_trait::async_trait;
use std::time::Duration;
use tollgate_domain::{OidcHttp, OidcResponse, PortError};

/// Requests to an OpenID Connect provider, 10 seconds at most each, no redirects followed.
#[derive(Debug, Clone)]
pub struct ReqwestOidcHttp {
    client: reqwest::Client,
}

impl ReqwestOidcHttp {
    pub fn new() -> Result<Self, PortError> {
        let client = crate::https::client_builder()
            // GitHub's API refuses requests without a User-Agent.
            .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .map_err(|e| PortError::new(format!("http client: {e}")))?;
        Ok(ReqwestOidcHttp { client })
    }
}

async fn answer(result: Result<reqwest::Response, reqwest::Error>) -> Result<OidcResponse, PortError> {
    let response = result.map_err(|e| PortError::new(format!("oidc provider: {e}")))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|e| PortError::new(format!("oidc provider: {e}")))?;
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Ok(OidcResponse { status, body })
}

#[async_trait]
impl OidcHttp for ReqwestOidcHttp {
    async fn get(&self, url: &str) -> Result<OidcResponse, PortError> {
        answer(self.client.get(url).header("accept", "application/json").send().await).await
    }

    async fn post_form(&self, url: &str, form: &[(String, String)]) -> Result<OidcResponse, PortError> {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let request = self
            .client
            .post(url)
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        answer(request.send().await).await
    }

    async fn get_with_token(&self, url: &str, access_token: &str) -> Result<OidcResponse, PortError> {
        let request = self.client.get(url).header("accept", "application/json").bearer_auth(access_token);
        answer(request.send().await).await
    }
}

//! The HTTP surface: Stripe's `/v1` API behind its API-key check and idempotency keys, the
//! hosted checkout and invoice pages, and a few `/_fake` helpers.

mod checkout;
mod customers;
mod events;
mod fake;
mod invoices;
mod meters;
mod payment_methods;
mod products;
mod subscriptions;
mod test_clocks;

use std::sync::Arc;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{FromRequest, OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::app::{lock, App, Idempotent};
use crate::error::{ApiError, ApiResult};
use crate::form;
use crate::ids::new_id;
use crate::objects;
use crate::params::Params;
use crate::state::Origin;

/// Request bodies larger than this are refused (Stripe's requests are small).
const BODY_LIMIT: usize = 1 << 20;

/// The shared state handlers extract.
pub type AppState = State<Arc<App>>;

/// The whole router.
pub fn router(app: Arc<App>) -> Router {
    let v1 = Router::new()
        .route("/customers", post(customers::create))
        .route("/customers/{id}", get(customers::retrieve).post(customers::update))
        .route("/customers/{id}/payment_methods", get(payment_methods::list_for_customer))
        .route("/products", post(products::create_product))
        .route("/products/{id}", get(products::retrieve_product).post(products::update_product))
        .route("/prices", post(products::create_price))
        .route("/prices/{id}", get(products::retrieve_price).post(products::update_price))
        .route("/billing/meters", post(meters::create))
        .route("/billing/meters/{id}", get(meters::retrieve))
        .route("/billing/meters/{id}/deactivate", post(meters::deactivate))
        .route("/billing/meters/{id}/event_summaries", get(meters::event_summaries))
        .route("/billing/meter_events", post(meters::create_event))
        .route("/checkout/sessions", post(checkout::create))
        .route("/checkout/sessions/{id}", get(checkout::retrieve))
        .route("/subscriptions", post(subscriptions::create))
        .route(
            "/subscriptions/{id}",
            get(subscriptions::retrieve).post(subscriptions::update).delete(subscriptions::cancel),
        )
        .route("/payment_methods", get(payment_methods::list))
        .route("/payment_methods/{id}", get(payment_methods::retrieve))
        .route("/payment_methods/{id}/attach", post(payment_methods::attach))
        .route("/payment_methods/{id}/detach", post(payment_methods::detach))
        .route("/invoices", get(invoices::list).post(invoices::create))
        .route("/invoices/create_preview", post(invoices::create_preview))
        .route("/invoices/{id}", get(invoices::retrieve))
        .route("/invoices/{id}/finalize", post(invoices::finalize))
        .route("/invoices/{id}/pay", post(invoices::pay))
        .route("/invoiceitems", post(invoices::create_item))
        .route("/test_helpers/test_clocks", post(test_clocks::create))
        .route("/test_helpers/test_clocks/{id}", get(test_clocks::retrieve))
        .route("/test_helpers/test_clocks/{id}/advance", post(test_clocks::advance))
        .route("/events", get(events::list))
        .route("/events/{id}", get(events::retrieve))
        .fallback(unrecognized)
        .method_not_allowed_fallback(unrecognized)
        .layer(middleware::from_fn_with_state(app.clone(), api_layer));
    Router::new()
        .nest("/v1", v1)
        .route("/checkout/{id}", get(checkout::page).post(checkout::submit))
        .route("/invoices/{id}", get(invoices::hosted_page))
        .route("/invoices/{id}/pdf", get(invoices::pdf))
        .route("/_fake/health", get(fake::health))
        .route("/_fake/reset", post(fake::reset))
        .route("/_fake/config", post(fake::config))
        .fallback(unrecognized)
        .with_state(app)
}

async fn unrecognized(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::unrecognized_url(method.as_str(), uri.path())
}

/// The request's parameters: the query string and the form body, parsed together.
pub struct Form(pub Value);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let query = req.uri().query().unwrap_or_default().to_string();
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid(format!("Invalid request body: {e}")))?;
        let body = std::str::from_utf8(&bytes).map_err(|_| ApiError::invalid("Invalid request body: not UTF-8"))?;
        let joined = [query.as_str(), body].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join("&");
        form::parse(&joined).map(Form).map_err(|e| ApiError::invalid(e.to_string()))
    }
}

/// Answers `value` with the request's `expand[]` applied.
pub fn respond(s: &crate::state::State, value: Value, p: &Params) -> ApiResult<Json<Value>> {
    let expand = p.strings("expand")?;
    objects::expand(s, value, &expand).map(Json)
}

/// Escapes text for the hosted HTML pages.
pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Decodes standard base64 (for `Authorization: Basic`, which curl's `-u sk_test_...:` sends).
fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = input.trim_end_matches('=').bytes().collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let produced = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend(n.to_be_bytes()[1..=produced].iter());
    }
    Some(out)
}

/// The API key of a request: `Authorization: Bearer sk_test_...` (or Basic with the key as
/// the user name). Only test-mode secret keys are accepted.
fn check_key(headers: &HeaderMap) -> ApiResult<()> {
    let missing = || {
        ApiError::unauthorized("You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.")
    };
    let header = headers.get("authorization").and_then(|v| v.to_str().ok()).ok_or_else(missing)?;
    let key = if let Some(token) = header.strip_prefix("Bearer ") {
        token.trim().to_string()
    } else if let Some(basic) = header.strip_prefix("Basic ") {
        let decoded = base64_decode(basic.trim()).and_then(|b| String::from_utf8(b).ok()).ok_or_else(missing)?;
        decoded.split(':').next().unwrap_or_default().to_string()
    } else {
        return Err(missing());
    };
    if key.is_empty() {
        return Err(missing());
    }
    let valid = (key.starts_with("sk_test_") || key.starts_with("rk_test_")) && key.len() > 8;
    if !valid {
        let shown: String = key.chars().take(8).collect();
        let tail: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(ApiError::unauthorized(format!(
            "Invalid API Key provided: {shown}*********{tail}. The Stripe fake accepts test-mode secret keys only (sk_test_...)."
        )));
    }
    Ok(())
}

/// The `/v1` layer: a request id, the API key check, and idempotency keys on POST.
async fn api_layer(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let request_id = new_id("req_");
    let mut response = match check_key(req.headers()) {
        Err(e) => e.into_response(),
        Ok(()) => {
            let key = (req.method() == Method::POST)
                .then(|| req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string))
                .flatten()
                .filter(|k| !k.is_empty());
            req.extensions_mut().insert(Origin { request_id: Some(request_id.clone()), idempotency_key: key.clone() });
            match key {
                None => next.run(req).await,
                Some(key) => idempotent(&app, key, req, next).await,
            }
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", v);
    }
    response
}

/// Runs a POST with an `Idempotency-Key`: the first request runs and its response is kept;
/// a later one with the same key and the same parameters gets that response again
/// (`Idempotent-Replayed: true`), with other parameters an `idempotency_error`. As at
/// Stripe, only requests that ran are kept: a 400 for bad parameters is not.
async fn idempotent(app: &App, key: String, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        return ApiError::invalid("Invalid request body").into_response();
    };
    // The parameters as a set: a client may send the same ones in another order (a map's
    // iteration order), which Stripe takes as the same request.
    let mut pairs: Vec<&[u8]> = bytes.split(|&b| b == b'&').filter(|p| !p.is_empty()).collect();
    pairs.sort_unstable();
    let fingerprint = hex::encode(Sha256::digest(
        format!("{} {}\n", parts.method, parts.uri)
            .as_bytes()
            .iter()
            .chain(pairs.join(&b'&').iter())
            .copied()
            .collect::<Vec<u8>>(),
    ));
    {
        let mut keys = lock(&app.idempotency);
        match keys.get(&key) {
            Some(Idempotent::InFlight) => return ApiError::idempotency_in_flight(&key).into_response(),
            Some(Idempotent::Done { fingerprint: fp, .. }) if *fp != fingerprint => {
                return ApiError::idempotency(format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request.")).into_response();
            }
            Some(Idempotent::Done { status, body, .. }) => {
                let mut response = (
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::OK),
                    [("content-type", "application/json"), ("idempotent-replayed", "true")],
                    body.clone(),
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert("idempotency-key", HeaderValue::from_str(&key).unwrap_or(HeaderValue::from_static("")));
                return response;
            }
            None => {
                keys.insert(key.clone(), Idempotent::InFlight);
            }
        }
    }
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let ran = parts.status.is_success() || parts.status == StatusCode::PAYMENT_REQUIRED;
    {
        let mut keys = lock(&app.idempotency);
        if ran {
            keys.insert(key, Idempotent::Done { fingerprint, status: parts.status.as_u16(), body: body.to_vec() });
        } else {
            keys.remove(&key);
        }
    }
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_decoded() {
        assert_eq!(base64_decode("c2tfdGVzdF94eXo6").as_deref(), Some(&b"sk_test_xyz:"[..]));
        assert_eq!(base64_decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode("!!!!"), None);
    }

    #[test]
    fn only_test_secret_keys_pass() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("authorization", HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(check_key(&with("Bearer sk_test_abc")).is_ok());
        assert!(check_key(&with("Basic c2tfdGVzdF94eXo6")).is_ok());
        assert!(check_key(&with("Bearer sk_live_abc")).is_err());
        assert!(check_key(&with("Bearer ")).is_err());
        assert!(check_key(&HeaderMap::new()).is_err());
    }
}

//! Running a route group as a Lambda function behind API Gateway (HTTP API, payload 2.0),
//! with one EMF metrics line per answer.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use tollgate_http::metrics::Decision;
use tollgate_http::middleware::REQUEST_ID_HEADER;
use tollgate_http::ClientAddr;

/// Copies what API Gateway knows about the caller into what the handlers read: the source
/// IP as `ClientAddr`, and API Gateway's request id as `x-request-id` so logs correlate.
pub async fn api_gateway_context(mut req: Request, next: Next) -> Response {
    let (ip, request_id) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => (ctx.http.source_ip.clone(), ctx.request_id.clone()),
        _ => (None, None),
    };
    if let Some(ip) = ip.and_then(|ip| ip.parse().ok()) {
        req.extensions_mut().insert(ClientAddr(ip));
    }
    if let Some(id) = request_id.and_then(|id| id.parse().ok()) {
        req.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
    next.run(req).await
}

/// Reports every answer as an EMF line ([`crate::emf::http_request_line`]): status class,
/// latency, and the gateway's decision when the answer carries one.
pub async fn request_metrics(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let decision = resp.extensions().get::<Decision>().copied();
    crate::emf::http_request(resp.status().as_u16(), started.elapsed(), decision);
    resp
}

/// Adds the API Gateway context layer and the request metrics to a finished router.
pub fn with_api_gateway_context(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(api_gateway_context)).layer(axum::middleware::from_fn(request_metrics))
}

/// Serves the router as the Lambda function's handler until the runtime stops it.
pub async fn serve(router: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(with_api_gateway_context(router)).await
}

//! The dashboard: the built single-page app (`dashboard/dist`) served at `/`.
//!
//! - A file of the build is served as it is; hashed files under `/assets/` with
//!   `Cache-Control: public, max-age=31536000, immutable`, everything else (index.html
//!   first) with `no-cache`.
//! - Any other `GET`/`HEAD` path is a page of the app (a deep link such as `/keys`):
//!   index.html. A path whose last segment looks like a file name (`/x.js`) that the build
//!   does not have is a 404, not the page.
//! - `/api/...`, `/health` and `/metrics` never fall back to the app: an unknown route there
//!   keeps its JSON 404 (`not_found`), as does any method but `GET` and `HEAD`.
//! - Every answer of the app carries a strict Content-Security-Policy (no inline script,
//!   no framing) and `X-Content-Type-Options: nosniff`.
//!
//! The folder is `DASHBOARD_DIR` (default `dashboard/dist`, relative to the working
//! directory); files are read on each request, so a rebuild needs no restart. Without an
//! `index.html` there the server serves the API only and says so once in its log.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tollgate_http::ApiError;

/// The environment variable naming the folder of the built app.
pub const DASHBOARD_DIR_ENV: &str = "DASHBOARD_DIR";

/// The folder used when `DASHBOARD_DIR` is unset (relative to the working directory).
pub const DEFAULT_DASHBOARD_DIR: &str = "dashboard/dist";

/// The policy of every dashboard answer: only this origin's scripts, styles, images and
/// API; no inline script; no plugins; never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; \
form-action 'self'; frame-ancestors 'none'";

/// `Cache-Control` of the hashed build files under `/assets/`.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The built app in a folder that holds an `index.html`.
#[derive(Debug, Clone)]
pub struct Dashboard {
    dir: Arc<PathBuf>,
}

impl Dashboard {
    /// The app in `dir`, if `dir/index.html` exists.
    pub fn open(dir: impl Into<PathBuf>) -> Option<Self> {
        let dir = dir.into();
        dir.join("index.html").is_file().then(|| Dashboard { dir: Arc::new(dir) })
    }

    /// The app in `DASHBOARD_DIR` (or `dashboard/dist`); logs one line either way.
    pub fn from_env() -> Option<Self> {
        let dir = std::env::var_os(DASHBOARD_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DASHBOARD_DIR));
        match Self::open(&dir) {
            Some(dashboard) => {
                tracing::info!(dir = %dir.display(), "serving the dashboard at /");
                Some(dashboard)
            }
            None => {
                tracing::info!(
                    dir = %dir.display(),
                    "no dashboard build (index.html) found: serving the API only (build it: cd dashboard && npm ci && npm run build, or set DASHBOARD_DIR)"
                );
                None
            }
        }
    }

    /// The folder served.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `/` and every path no other route matches (the routers' own routes win: a static or
    /// parameterised route beats the catch-all). It is a catch-all route rather than the
    /// router's fallback because `tollgate_http::finish_router` installs its own fallback
    /// (the JSON 404) on the final router; the reserved paths answer that same 404 here.
    pub fn routes(&self) -> Router {
        let root = self.clone();
        let rest = self.clone();
        Router::new()
            .route("/", any(move |req: Request| async move { root.answer(req).await }))
            .route("/{*path}", any(move |req: Request| async move { rest.answer(req).await }))
    }

    async fn answer(&self, req: Request) -> Response {
        let path = req.uri().path();
        if is_reserved(path) || !(req.method() == Method::GET || req.method() == Method::HEAD) {
            return ApiError::NotFound("route".into()).into_response();
        }
        let relative = path.trim_start_matches('/');
        if let Some(file) = safe_relative(relative) {
            if let Ok(bytes) = tokio::fs::read(self.dir.join(&file)).await {
                let cache = if relative.starts_with("assets/") { IMMUTABLE } else { "no-cache" };
                return file_response(bytes, content_type(&file), cache);
            }
        }
        let last = relative.rsplit('/').next().unwrap_or("");
        if relative.starts_with("assets/") || last.contains('.') {
            // A file the build does not have: not the app's page.
            return with_security_headers(StatusCode::NOT_FOUND.into_response());
        }
        match tokio::fs::read(self.dir.join("index.html")).await {
            Ok(bytes) => file_response(bytes, "text/html; charset=utf-8", "no-cache"),
            Err(e) => {
                tracing::error!(error = %e, dir = %self.dir.display(), "the dashboard's index.html cannot be read");
                ApiError::NotFound("route".into()).into_response()
            }
        }
    }
}

/// Paths that belong to the API and the operators, never to the app.
fn is_reserved(path: &str) -> bool {
    path == "/api"
        || path.starts_with("/api/")
        || path == "/health"
        || path.starts_with("/health/")
        || path == "/metrics"
        || path.starts_with("/metrics/")
}

/// A path inside the folder: plain segments only (letters, digits, `-`, `_`, `.`, none
/// starting with a dot), so nothing escapes it and nothing hidden is served.
fn safe_relative(relative: &str) -> Option<PathBuf> {
    if relative.is_empty() {
        return Some(PathBuf::from("index.html"));
    }
    let mut out = PathBuf::new();
    for segment in relative.split('/') {
        let plain = !segment.is_empty()
            && !segment.starts_with('.')
            && segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !plain {
            return None;
        }
        out.push(segment);
    }
    Some(out)
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file_response(bytes: Vec<u8>, content_type: &'static str, cache: &'static str) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    with_security_headers(resp)
}

fn with_security_headers(mut resp: Response) -> Response {
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_segments_are_files() {
        assert_eq!(safe_relative(""), Some(PathBuf::from("index.html")));
        assert_eq!(safe_relative("assets/index-AbC_1.js"), Some(PathBuf::from("assets/index-AbC_1.js")));
        for bad in ["../etc/passwd", "assets/../../x", ".env", "a//b", "a/%2e%2e/b", "a\\b", "assets/"] {
            assert_eq!(safe_relative(bad), None, "{bad}");
        }
    }

    #[test]
    fn api_health_and_metrics_are_reserved() {
        for p in ["/api", "/api/", "/api/nope", "/health", "/metrics"] {
            assert!(is_reserved(p), "{p}");
        }
        for p in ["/", "/keys", "/apix", "/healthy"] {
            assert!(!is_reserved(p), "{p}");
        }
    }
}

//! The refresh-token cookie.

use crate::Settings;
use axum::http::{header, HeaderMap, HeaderValue};

pub const REFRESH_COOKIE: &str = "tollgate_refresh";
/// The cookie is sent to both `/api/user/auth/...` and `/api/admin/auth/...`.
const COOKIE_PATH: &str = "/api";

/// `Set-Cookie` for a new refresh token: HttpOnly, SameSite=Strict, Secure (configurable
/// for plain-http development), expiring with the token.
pub fn set_refresh_cookie(settings: &Settings, token: &str) -> HeaderValue {
    let secure = if settings.cookie_secure { "; Secure" } else { "" };
    let max_age = settings.refresh_token_ttl.num_seconds();
    HeaderValue::from_str(&format!(
        "{REFRESH_COOKIE}={token}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("token is base62")
}

/// `Set-Cookie` that removes the refresh cookie.
pub fn clear_refresh_cookie(settings: &Settings) -> HeaderValue {
    let secure = if settings.cookie_secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{REFRESH_COOKIE}=; Path={COOKIE_PATH}; Max-Age=0; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("static cookie")
}

/// The refresh token from the request's cookies, if any.
pub fn refresh_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == REFRESH_COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_round_trip() {
        let s = Settings::default();
        let v = set_refresh_cookie(&s, "abc123");
        let v = v.to_str().unwrap();
        assert!(v.contains("HttpOnly") && v.contains("Secure") && v.contains("SameSite=Strict"));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=b; tollgate_refresh=abc123; c=d"));
        assert_eq!(refresh_cookie(&h).as_deref(), Some("abc123"));
    }
}

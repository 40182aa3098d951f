//! The path a call forwards, and the upstream URL built from it. A key holder must never
//! reach a path of the upstream host outside the endpoint's base (`/base/v1` of
//! `http://host/base/v1`), however the request path is spelled.
//!
//! Two guards, either of which would be enough on its own:
//! 1. [`check`] refuses (400 `invalid_path`) any path with a dot segment (`.` or `..`, plain or
//!    percent-encoded in any case, also before a `;` parameter as some servers read
//!    `..;`) or an encoded slash or backslash (`%2F`, `%5C`) or a raw backslash, before the
//!    catalog is consulted: HTTP clients and servers resolve each of these as a step up.
//! 2. [`upstream_url`] appends the path to the base and checks that the URL it parsed still
//!    lies under the base path.

use reqwest::Url;
use tollgate_http::ApiError;
use tollgate_http::ErrorCode;

fn invalid_path(why: &str) -> ApiError {
    ApiError::InvalidPath(format!("the path {why}; dot segments and encoded slashes are not allowed"))
}

/// Percent-decodes one path segment (invalid escapes are kept as they are).
fn decode(segment: &str) -> Vec<u8> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Refuses a request path (the part after `/api/v1`) that could climb out of a base path.
pub fn check(path: &str) -> Result<(), ApiError> {
    for segment in path.split('/') {
        let decoded = decode(segment);
        if decoded.iter().any(|b| *b == b'/' || *b == b'\\') {
            return Err(invalid_path("has an encoded slash or a backslash"));
        }
        let before_params = decoded.split(|b| *b == b';').next().unwrap_or_default();
        if before_params == b"." || before_params == b".." {
            return Err(invalid_path("has a dot segment"));
        }
    }
    Ok(())
}

/// `base` + `/` + `path` (+ `?query`), refused with 400 `invalid_path` if the parsed URL is
/// not under the base's path. `path` has passed [`check`]; this is the second guard.
pub fn upstream_url(base: &str, path: &str, query: Option<&str>) -> Result<Url, ApiError> {
    let base_url = Url::parse(base).map_err(|e| {
        tracing::error!(error = %e, upstream = %base, "endpoint upstream URL does not parse");
        ApiError::Rejected {
            code: ErrorCode::UpstreamUnavailable,
            message: "the endpoint's upstream URL is invalid".into(),
        }
    })?;
    let base_path = base_url.path().trim_end_matches('/').to_string();
    let joined = format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'));
    let mut url = Url::parse(&joined).map_err(|_| invalid_path("does not form a valid URL"))?;
    url.set_query(query.filter(|q| !q.is_empty()));
    let under_base = url.path() == base_path || url.path().starts_with(&format!("{base_path}/"));
    let same_origin = url.origin() == base_url.origin();
    if !under_base || !same_origin {
        return Err(invalid_path("leaves the endpoint's upstream base"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_and_encoded_slashes_are_refused_in_any_spelling() {
        for bad in [
            "/svc/../../../secret",
            "/svc/ok/../../../../secret",
            "/svc/%2e%2e/%2e%2e/%2e%2e/secret",
            "/svc/%2E%2E/secret",
            "/svc/.%2e/secret",
            "/svc/%2e./secret",
            "/svc/./secret",
            "/svc/%2e/secret",
            "/svc/..",
            "/svc/..;/secret",
            "/svc/%2e%2e;jsessionid=1/secret",
            "/svc/a%2fb",
            "/svc/a%2F..%2Fsecret",
            "/svc/a%5c..%5csecret",
            "/svc/a\\..\\secret",
        ] {
            let e = check(bad).expect_err(bad);
            assert_eq!((e.status().as_u16(), e.code()), (400, "invalid_path"), "{bad}");
        }
        for good in ["/svc/a/b", "/svc/...", "/svc/.well-known/x", "/svc/a..b", "/svc/%41", "/", "/svc//x", "/svc/%zz"]
        {
            check(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
    }

    #[test]
    fn the_upstream_url_stays_under_the_base() {
        let u = upstream_url("http://127.0.0.1:9/base/v1", "items/7", Some("x=1")).unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:9/base/v1/items/7?x=1");
        let u = upstream_url("http://127.0.0.1:9/base/v1/", "/", None).unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:9/base/v1/");
        assert_eq!(upstream_url("http://h", "a", None).unwrap().as_str(), "http://h/a");
        // What `check` would refuse is refused here too, by construction.
        for bad in ["../secret", "a/../../secret", "%2e%2e/secret", "a\\..\\..\\secret"] {
            let e = upstream_url("http://127.0.0.1:9/base/v1", bad, None).expect_err(bad);
            assert_eq!(e.code(), "invalid_path", "{bad}");
        }
        // An `@` or a leading `//` in the path cannot change the host.
        let u = upstream_url("http://127.0.0.1:9/base", "//evil.example/x", None).unwrap();
        assert_eq!(u.host_str(), Some("127.0.0.1"));
        let u = upstream_url("http://127.0.0.1:9", "@evil.example/x", None).unwrap();
        assert_eq!(u.host_str(), Some("127.0.0.1"));
    }
}

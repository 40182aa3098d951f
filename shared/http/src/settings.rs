//! Settings shared by both deployment targets, read from the environment.

use chrono::Duration;

/// Behaviour knobs of the route handlers. Every field has an environment variable (see the
/// README's configuration reference) and a default suitable for production.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL put in links of mails (`PUBLIC_BASE_URL`).
    pub public_base_url: String,
    /// Whether the refresh cookie carries `Secure` (`COOKIE_SECURE`, default true; browsers
    /// accept Secure cookies from http://127.0.0.1 and localhost).
    pub cookie_secure: bool,
    /// Lifetime of access JWTs (15 minutes).
    pub access_token_ttl: Duration,
    /// Lifetime of refresh tokens (7 days).
    pub refresh_token_ttl: Duration,
    /// Window of the login throttle (`LOGIN_WINDOW_SECONDS`, 900).
    pub login_window: Duration,
    /// Failed logins allowed per account per window (`LOGIN_MAX_FAILURES_PER_ACCOUNT`, 5).
    pub login_max_failures_per_account: u32,
    /// Failed logins allowed per client IP per window (`LOGIN_MAX_FAILURES_PER_IP`, 20).
    pub login_max_failures_per_ip: u32,
    /// Longest grace period a rotated key's old secret may keep working (7 days).
    pub max_key_rotation_grace: Duration,
    /// Lifetime of email-verification tokens (48 hours) and reset tokens (1 hour).
    pub verify_email_ttl: Duration,
    pub reset_password_ttl: Duration,
    /// Whether webhook endpoints may use `http://` and loopback hosts (127.0.0.1, ::1,
    /// localhost) (`ALLOW_INSECURE_WEBHOOK_URLS`, default false): local development and
    /// tests only. Private, link-local and the other special ranges stay refused.
    pub allow_insecure_webhook_urls: bool,
    /// Whether every admin must use two-factor authentication (`ADMIN_REQUIRE_2FA`, default
    /// false): an admin without a confirmed enrolment gets 403 `mfa_enrollment_required` on
    /// every admin route but the 2FA enrolment ones (see `extract::AdminUser`).
    pub admin_require_2fa: bool,
    /// Sign-in with an OpenID Connect provider (`OIDC_PROVIDER`, `OIDC_ISSUER`, `OIDC_CLIENT_ID`,
    /// `OIDC_CLIENT_SECRET`, `OIDC_REDIRECT_URI`); without it the OIDC routes answer 503
    /// `oidc_not_configured`.
    pub oidc: Option<OidcSettings>,
    /// Origins other than the API's own that may call it from a browser with credentials
    /// (`CORS_ORIGINS`, comma-separated exact origins such as `https://app.example.com`;
    /// default none: no CORS headers at all). The dashboard served from the same origin as
    /// the API (CloudFront in AWS, the local server) needs none. `*` is refused: the
    /// dashboard sends cookies and `Authorization`, which browsers never allow with `*`.
    pub cors_origins: Vec<String>,
}

/// What kind of identity provider sign-in talks to (`OIDC_PROVIDER`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IdentityProvider {
    /// Any OpenID Connect issuer (`oidc`, the default): discovery, an ID token checked
    /// against the provider's keys, `nonce`.
    #[default]
    Oidc,
    /// GitHub (`github`), which speaks OAuth2 without OpenID Connect: the code is exchanged
    /// for an access token, and the user and their verified primary email are read from
    /// GitHub's API.
    GitHub,
}

/// The OpenID Connect client's registration at its provider.
#[derive(Clone)]
pub struct OidcSettings {
    pub provider: IdentityProvider,
    /// The issuer: discovery at `<issuer>/.well-known/openid-configuration`, and the `iss`
    /// every ID token must carry (no trailing slash). For GitHub, its web address
    /// (`https://github.com`, or a GitHub Enterprise Server's), where the authorization and
    /// token endpoints are.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Where the provider sends the browser back (the dashboard's page that calls
    /// `/api/user/auth/oidc/callback` with `code` and `state`).
    pub redirect_uri: String,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("provider", &self.provider)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

impl OidcSettings {
    /// GitHub's REST API beside its web address: `api.github.com` for `github.com`, `/api/v3`
    /// on a GitHub Enterprise Server (and on the tests' fake).
    pub fn github_api_url(&self) -> String {
        if self.issuer == "https://github.com" {
            "https://api.github.com".into()
        } else {
            format!("{}/api/v3", self.issuer)
        }
    }

    /// From the `OIDC_*` variables: all four set, or none (then `None`); `OIDC_PROVIDER` is
    /// `oidc` (default) or `github`.
    pub fn from_env() -> Result<Option<Self>, String> {
        let names = ["OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_REDIRECT_URI"];
        let values: Vec<Option<String>> = names
            .iter()
            .map(|n| std::env::var(n).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()))
            .collect();
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        if let Some(i) = values.iter().position(Option::is_none) {
            return Err(format!("{} must be set with the other OIDC_* variables", names[i]));
        }
        let mut v = values.into_iter().map(Option::unwrap_or_default);
        let issuer = v.next().unwrap_or_default().trim_end_matches('/').to_string();
        let provider = match std::env::var("OIDC_PROVIDER").unwrap_or_default().trim() {
            "" | "oidc" => IdentityProvider::Oidc,
            "github" => IdentityProvider::GitHub,
            other => return Err(format!("OIDC_PROVIDER must be oidc or github, not {other:?}")),
        };
        Ok(Some(OidcSettings {
            provider,
            issuer,
            client_id: v.next().unwrap_or_default(),
            client_secret: v.next().unwrap_or_default(),
            redirect_uri: v.next().unwrap_or_default(),
        }))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            public_base_url: "http://127.0.0.1:3000".into(),
            cookie_secure: true,
            access_token_ttl: Duration::minutes(15),
            refresh_token_ttl: Duration::days(7),
            login_window: Duration::minutes(15),
            login_max_failures_per_account: 5,
            login_max_failures_per_ip: 20,
            max_key_rotation_grace: Duration::days(7),
            verify_email_ttl: Duration::hours(48),
            reset_password_ttl: Duration::hours(1),
            allow_insecure_webhook_urls: false,
            admin_require_2fa: false,
            oidc: None,
            cors_origins: Vec::new(),
        }
    }
}

impl Settings {
    /// Defaults overridden by the environment. Invalid values are reported, not ignored.
    pub fn from_env() -> Result<Self, String> {
        let mut s = Settings::default();
        if let Ok(v) = std::env::var("PUBLIC_BASE_URL") {
            if !v.trim().is_empty() {
                s.public_base_url = v.trim().trim_end_matches('/').to_string();
            }
        }
        s.cookie_secure = parse_env("COOKIE_SECURE", s.cookie_secure)?;
        s.login_window = Duration::seconds(parse_env("LOGIN_WINDOW_SECONDS", s.login_window.num_seconds())?);
        s.login_max_failures_per_account =
            parse_env("LOGIN_MAX_FAILURES_PER_ACCOUNT", s.login_max_failures_per_account)?;
        s.login_max_failures_per_ip = parse_env("LOGIN_MAX_FAILURES_PER_IP", s.login_max_failures_per_ip)?;
        s.allow_insecure_webhook_urls = parse_env("ALLOW_INSECURE_WEBHOOK_URLS", s.allow_insecure_webhook_urls)?;
        s.admin_require_2fa = parse_env("ADMIN_REQUIRE_2FA", s.admin_require_2fa)?;
        s.oidc = OidcSettings::from_env()?;
        s.cors_origins = parse_cors_origins(&std::env::var("CORS_ORIGINS").unwrap_or_default())?;
        if s.login_window <= Duration::zero() {
            return Err("LOGIN_WINDOW_SECONDS must be positive".into());
        }
        Ok(s)
    }
}

/// `CORS_ORIGINS`: a comma-separated list of exact origins (`scheme://host[:port]`, no path,
/// no trailing slash); empty entries are skipped, so an empty or unset value is no origin.
pub fn parse_cors_origins(value: &str) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for origin in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if origin.contains('*') {
            return Err(format!(
                "CORS_ORIGINS={value:?}: list exact origins (https://app.example.com); a wildcard is refused because the dashboard sends credentials (cookies, Authorization)"
            ));
        }
        let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
        let valid = rest.is_some_and(|host| {
            !host.is_empty()
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        });
        if !valid {
            return Err(format!(
                "CORS_ORIGINS: {origin:?} is not an origin (scheme://host[:port], http or https, no path or trailing slash)"
            ));
        }
        if !origins.iter().any(|o| o == origin) {
            origins.push(origin.to_string());
        }
    }
    Ok(origins)
}

/// Parses an environment variable, or returns `default` when it is unset or empty.
pub fn parse_env<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| format!("{name}={v:?} is not valid")),
        _ => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cors_origins;

    #[test]
    fn cors_origins_are_exact_origins_and_never_a_wildcard() {
        assert_eq!(parse_cors_origins(""), Ok(vec![]));
        assert_eq!(parse_cors_origins(" , "), Ok(vec![]));
        assert_eq!(
            parse_cors_origins("https://app.example.com, http://127.0.0.1:5173,https://app.example.com"),
            Ok(vec!["https://app.example.com".to_string(), "http://127.0.0.1:5173".to_string()])
        );
        let wildcard = parse_cors_origins("*").unwrap_err();
        assert!(wildcard.contains("wildcard") && wildcard.contains("credentials"), "{wildcard}");
        assert!(parse_cors_origins("https://*.example.com").is_err());
        for bad in ["app.example.com", "https://app.example.com/", "https://app.example.com/x", "ftp://a.b", "https://"]
        {
            assert!(parse_cors_origins(bad).is_err(), "{bad}");
        }
    }
}

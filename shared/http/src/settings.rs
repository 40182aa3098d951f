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
        if s.login_window <= Duration::zero() {
            return Err("LOGIN_WINDOW_SECONDS must be positive".into());
        }
        Ok(s)
    }
}

/// Parses an environment variable, or returns `default` when it is unset or empty.
pub fn parse_env<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| format!("{name}={v:?} is not valid")),
        _ => Ok(default),
    }
}

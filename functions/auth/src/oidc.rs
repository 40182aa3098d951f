//! Sign-in with an OpenID Connect provider: `GET /api/user/auth/oidc/start` and
//! `GET /api/user/auth/oidc/callback`, the authorization code flow with PKCE (S256), `state`
//! and `nonce`. GitHub, which speaks OAuth2 without OpenID Connect, takes the same flow
//! without the ID token (`IdentityProvider::GitHub`): the code buys an access token, and the
//! user and their primary email (with GitHub's `verified` flag) come from its API.
//!
//! `start` stores a one-time record (an `ActionToken` of kind `OidcState`, valid 10 minutes)
//! keyed by the SHA-256 of `state`; the record holds a random flow secret from which the
//! `nonce` and the PKCE verifier are derived, so neither leaves the server except as the
//! provider needs it. The callback consumes the record once, exchanges the code with the
//! verifier at the token endpoint (`client_secret_post`), verifies the ID token (RS256
//! against the provider's JWKS; `iss`, `aud`, `exp`, `nonce`) and signs the user in. An
//! existing account is used only if the provider says its email is verified.

use crate::login::{ensure_active, start_session_with, TokenResponse};
use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tollgate_app::{new_user, NewUser};
use tollgate_domain::text::NAME_MAX;
use tollgate_domain::token::generate_secret_token;
use tollgate_domain::{ActionToken, ActionTokenKind, AuditEvent, Email, Id, OidcHttp, Role, TokenHash, User};
use tollgate_http::accounts::create_account;
use tollgate_http::extract::{ApiQuery, ClientIp};
use tollgate_http::{ApiError, AppState, ErrorBody, ErrorCode, IdentityProvider, OidcSettings};
use utoipa::IntoParams;

/// How long a sign-in may take between `start` and the callback.
const STATE_TTL_MINUTES: i64 = 10;
/// The prefix of the flow secret stored in the state record's `user_id`.
const FLOW_PREFIX: &str = "oidc_";

/// What the provider sends back to the redirect URI (the SPA passes it on).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    #[param(min_length = 1, max_length = 4096)]
    pub code: String,
    /// The `state` of the authorization request.
    #[param(min_length = 1, max_length = 256)]
    pub state: String,
}

/// The provider's endpoints, from its discovery document.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// The ID token's claims this sign-in reads (`iss`, `aud` and `exp` are checked by the
/// validation).
#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    nonce: Option<String>,
    email: Option<String>,
    #[serde(default, deserialize_with = "bool_or_string")]
    email_verified: bool,
    given_name: Option<String>,
    family_name: Option<String>,
    name: Option<String>,
}

/// `email_verified` is a boolean, but some providers send `"true"`.
fn bool_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    })
}

/// Starts a sign-in: redirects (302) to the provider's authorization endpoint with the
/// code flow's parameters (`response_type=code`, `scope=openid email profile`, `state`,
/// `nonce`, an S256 `code_challenge`; for GitHub `scope=read:user user:email` and no
/// `nonce`). The sign-in must finish within 10 minutes.
#[utoipa::path(get, path = "/api/user/auth/oidc/start", tag = "auth",
    responses(
        (status = 302, description = "To the provider's authorization endpoint (`Location`)"),
        (status = 502, description = "`oidc_provider_unavailable`: the provider's discovery document could not be read", body = ErrorBody),
        (status = 503, description = "`oidc_not_configured`: no OpenID Connect provider is configured", body = ErrorBody),
    ))]
pub async fn start(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (settings, http) = configured(&state)?;
    let authorization_endpoint = match settings.provider {
        IdentityProvider::Oidc => discover(http, settings).await?.authorization_endpoint,
        IdentityProvider::GitHub => format!("{}/login/oauth/authorize", settings.issuer),
    };
    let now = state.now();
    let state_param = generate_secret_token();
    let flow = generate_secret_token();
    let record = ActionToken {
        hash: TokenHash::of(&state_param),
        kind: ActionTokenKind::OidcState,
        user_id: Id::from_string(format!("{FLOW_PREFIX}{flow}")),
        created_at: now,
        expires_at: now + Duration::minutes(STATE_TTL_MINUTES),
    };
    state.store.create_action_token(&record).await?;
    let mut url = url::Url::parse(&authorization_endpoint)
        .map_err(|_| provider_unavailable("the authorization endpoint is not a URL"))?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &settings.client_id)
            .append_pair("redirect_uri", &settings.redirect_uri)
            .append_pair("state", &state_param)
            .append_pair("code_challenge", &pkce_challenge(&derive("pkce", &flow)))
            .append_pair("code_challenge_method", "S256");
        match settings.provider {
            IdentityProvider::Oidc => {
                query.append_pair("scope", "openid email profile").append_pair("nonce", &derive("nonce", &flow));
            }
            IdentityProvider::GitHub => {
                query.append_pair("scope", "read:user user:email");
            }
        }
    }
    Ok((StatusCode::FOUND, [(LOCATION, url.to_string())]).into_response())
}

/// Finishes a sign-in with the provider's `code` and `state`: the same tokens and refresh
/// cookie as the password login. An unknown email creates an account; an existing account is
/// signed in only if the provider says the email is verified. The `state` works once.
#[utoipa::path(get, path = "/api/user/auth/oidc/callback", tag = "auth", params(CallbackQuery),
    responses(
        (status = 200, description = "Signed in; refresh cookie set", body = TokenResponse),
        (status = 400, description = "`invalid_oidc_state`: unknown, expired or already used; `bad_request`", body = ErrorBody),
        (status = 401, description = "`invalid_id_token`: the provider refused the code, or its ID token failed verification", body = ErrorBody),
        (status = 403, description = "`account_suspended`", body = ErrorBody),
        (status = 409, description = "`email_not_verified`: an account has this email and the provider does not vouch for it; `email_taken`", body = ErrorBody),
        (status = 502, description = "`oidc_provider_unavailable`", body = ErrorBody),
        (status = 503, description = "`oidc_not_configured`", body = ErrorBody),
    ))]
pub async fn callback(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiQuery(q): ApiQuery<CallbackQuery>,
) -> Result<Response, ApiError> {
    let (settings, http) = configured(&state)?;
    let now = state.now();
    let invalid_state =
        || ApiError::rejected(ErrorCode::InvalidOidcState, "the sign-in has expired or was already used; start again");
    let record = state
        .store
        .consume_action_token(&TokenHash::of(&q.state), ActionTokenKind::OidcState, now)
        .await?
        .ok_or_else(invalid_state)?;
    let flow = record.user_id.as_str().strip_prefix(FLOW_PREFIX).ok_or_else(invalid_state)?.to_string();

    let verifier = derive("pkce", &flow);
    let claims = match settings.provider {
        IdentityProvider::Oidc => {
            let discovery = discover(http, settings).await?;
            let tokens = exchange(http, settings, &discovery.token_endpoint, &q.code, &verifier).await?;
            let id_token = tokens
                .get("id_token")
                .and_then(Value::as_str)
                .ok_or_else(|| provider_unavailable("the token endpoint sent no ID token"))?;
            verify_id_token(http, settings, &discovery, id_token, &derive("nonce", &flow)).await?
        }
        IdentityProvider::GitHub => github_identity(http, settings, &q.code, &verifier).await?,
    };
    let email = claims
        .email
        .as_deref()
        .and_then(|e| Email::parse(e).ok())
        .ok_or_else(|| invalid_token("the ID token has no usable email"))?;
    let link = json!({ "issuer": settings.issuer, "subject": claims.sub });

    let user = match state.store.find_user_by_email(&email).await? {
        Some(user) => {
            if !claims.email_verified {
                return Err(ApiError::rejected(
                    ErrorCode::EmailNotVerified,
                    "an account with this email exists and the provider has not verified the email: log in with the password",
                ));
            }
            ensure_active(&user)?;
            state
                .audit(
                    AuditEvent::new("user.oidc_linked", now)
                        .actor(&user.id)
                        .org(&user.default_org_id)
                        .target(user.id.to_string())
                        .ip(ip.clone())
                        .details(link),
                )
                .await;
            user
        }
        None => create_from_claims(&state, email, &claims, ip.clone(), link).await?,
    };
    Ok(start_session_with(&state, user, ip, "user.login", json!({ "method": "oidc" })).await?.into_response())
}

/// A new account for the token's email (verified as the provider says), with an unusable
/// random password (a password reset sets one) and the token's names.
async fn create_from_claims(
    state: &AppState,
    email: Email,
    claims: &IdClaims,
    ip: Option<String>,
    link: Value,
) -> Result<User, ApiError> {
    let password_hash = state.passwords.hash(generate_secret_token()).await?;
    let local = email.as_str().split('@').next().unwrap_or("user").to_string();
    let first_name = name(claims.given_name.as_deref().or(claims.name.as_deref()), &local);
    let last_name = name(claims.family_name.as_deref(), "-");
    let mut user = new_user(
        NewUser { email, password_hash, first_name, last_name, company_name: None, role: Role::User },
        state.now(),
    );
    user.email_verified = claims.email_verified;
    create_account(state, &user).await?;
    state
        .audit(
            AuditEvent::new("user.register", user.created_at)
                .actor(&user.id)
                .org(&user.default_org_id)
                .ip(ip)
                .details(json!({ "method": "oidc", "oidc": link })),
        )
        .await;
    Ok(user)
}

/// A claim as a name: trimmed, at most `NAME_MAX` characters, `fallback` when empty.
fn name(claim: Option<&str>, fallback: &str) -> String {
    let v = claim.map(str::trim).filter(|s| !s.is_empty()).unwrap_or(fallback);
    v.chars().filter(|c| !c.is_control()).take(NAME_MAX).collect()
}

/// The settings and the HTTP client, or 503 `oidc_not_configured`.
fn configured(state: &AppState) -> Result<(&OidcSettings, &dyn OidcHttp), ApiError> {
    match (&state.settings.oidc, &state.oidc) {
        (Some(settings), Some(http)) => Ok((settings, http.as_ref())),
        _ => Err(ApiError::rejected(
            ErrorCode::OidcNotConfigured,
            "sign-in with an identity provider is not configured on this deployment",
        )),
    }
}

/// `base64url(SHA-256(label ":" flow))`: 43 characters, a valid nonce and PKCE verifier.
fn derive(label: &str, flow: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{label}:{flow}").as_bytes()))
}

/// The S256 `code_challenge` of a verifier (RFC 7636).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn provider_unavailable(why: &str) -> ApiError {
    ApiError::rejected(ErrorCode::OidcProviderUnavailable, format!("the identity provider failed: {why}"))
}

fn invalid_token(why: &str) -> ApiError {
    ApiError::rejected(ErrorCode::InvalidIdToken, format!("the sign-in was refused: {why}"))
}

/// GETs a JSON document of the provider (2xx only).
async fn get_json(http: &dyn OidcHttp, url: &str, what: &str) -> Result<Value, ApiError> {
    json_answer(http.get(url).await, url, what)
}

/// A provider's answer as JSON: 2xx with a JSON body, else 502 `oidc_provider_unavailable`.
fn json_answer(
    answer: Result<tollgate_domain::OidcResponse, tollgate_domain::PortError>,
    url: &str,
    what: &str,
) -> Result<Value, ApiError> {
    match answer {
        Ok(r) if (200..300).contains(&r.status) && !r.body.is_null() => Ok(r.body),
        Ok(r) => {
            tracing::warn!(status = r.status, url, "oidc provider answered an error");
            Err(provider_unavailable(what))
        }
        Err(e) => {
            tracing::warn!(error = %e, url, "oidc provider did not answer");
            Err(provider_unavailable(what))
        }
    }
}

async fn discover(http: &dyn OidcHttp, settings: &OidcSettings) -> Result<Discovery, ApiError> {
    let url = format!("{}/.well-known/openid-configuration", settings.issuer);
    let body = get_json(http, &url, "discovery").await?;
    let discovery: Discovery =
        serde_json::from_value(body).map_err(|_| provider_unavailable("the discovery document is incomplete"))?;
    if discovery.issuer.trim_end_matches('/') != settings.issuer {
        return Err(provider_unavailable("the discovery document names another issuer"));
    }
    Ok(discovery)
}

/// Exchanges the code (with the PKCE verifier) at `token_endpoint`: the provider's answer
/// (`id_token`, `access_token`, ...). A refusal is 401 `invalid_id_token`, whether the
/// provider says it with a 4xx or, as GitHub does, with a 200 carrying `error`.
async fn exchange(
    http: &dyn OidcHttp,
    settings: &OidcSettings,
    token_endpoint: &str,
    code: &str,
    verifier: &str,
) -> Result<Value, ApiError> {
    let form: Vec<(String, String)> = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &settings.redirect_uri),
        ("client_id", &settings.client_id),
        ("client_secret", &settings.client_secret),
        ("code_verifier", verifier),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let answer = http.post_form(token_endpoint, &form).await.map_err(|e| {
        tracing::warn!(error = %e, "oidc token endpoint did not answer");
        provider_unavailable("token endpoint")
    })?;
    if (400..500).contains(&answer.status) || answer.body.get("error").is_some() {
        let error = answer.body.get("error").and_then(Value::as_str).unwrap_or("refused").to_string();
        tracing::info!(status = answer.status, error, "oidc token endpoint refused the code");
        return Err(invalid_token("the provider refused the code"));
    }
    if !(200..300).contains(&answer.status) {
        return Err(provider_unavailable("token endpoint"));
    }
    Ok(answer.body)
}

/// GitHub's side of the callback: the code for an access token, then the user (`id`,
/// `name`) and their primary email with GitHub's `verified` flag (`/user/emails`: the
/// profile's public email may be another, or none).
async fn github_identity(
    http: &dyn OidcHttp,
    settings: &OidcSettings,
    code: &str,
    verifier: &str,
) -> Result<IdClaims, ApiError> {
    let token_endpoint = format!("{}/login/oauth/access_token", settings.issuer);
    let tokens = exchange(http, settings, &token_endpoint, code, verifier).await?;
    let access_token = tokens
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| provider_unavailable("the token endpoint sent no access token"))?;
    let api = settings.github_api_url();
    let (user_url, emails_url) = (format!("{api}/user"), format!("{api}/user/emails"));
    let user = json_answer(http.get_with_token(&user_url, access_token).await, &user_url, "user")?;
    let emails = json_answer(http.get_with_token(&emails_url, access_token).await, &emails_url, "emails")?;
    let sub = user
        .get("id")
        .and_then(Value::as_u64)
        .map(|id| id.to_string())
        .ok_or_else(|| provider_unavailable("the user has no id"))?;
    let primary = emails.as_array().and_then(|all| all.iter().find(|e| e.get("primary") == Some(&Value::Bool(true))));
    let field = |k: &str| primary.and_then(|e| e.get(k));
    // "Grace Brewster Hopper": the first word is the first name, the rest the last.
    let full_name = user.get("name").and_then(Value::as_str).map(str::trim).unwrap_or_default();
    let (given, family) = full_name.split_once(' ').unwrap_or((full_name, ""));
    Ok(IdClaims {
        sub,
        nonce: None,
        email: field("email").and_then(Value::as_str).map(str::to_string),
        email_verified: field("verified").and_then(Value::as_bool).unwrap_or(false),
        given_name: Some(given.to_string()),
        family_name: Some(family.trim().to_string()),
        name: None,
    })
}

/// Verifies the ID token: RS256 with a key of the provider's JWKS (by `kid`), `iss` =
/// the issuer, `aud` = the client id, `exp` (a minute of leeway), and `nonce`.
async fn verify_id_token(
    http: &dyn OidcHttp,
    settings: &OidcSettings,
    discovery: &Discovery,
    id_token: &str,
    nonce: &str,
) -> Result<IdClaims, ApiError> {
    let header = decode_header(id_token).map_err(|_| invalid_token("the ID token is malformed"))?;
    if header.alg != Algorithm::RS256 {
        return Err(invalid_token("the ID token is not signed with RS256"));
    }
    let jwks = get_json(http, &discovery.jwks_uri, "keys").await?;
    let keys = jwks.get("keys").and_then(Value::as_array).cloned().unwrap_or_default();
    let key = keys
        .iter()
        .filter(|k| k.get("kty").and_then(Value::as_str) == Some("RSA"))
        .find(|k| match &header.kid {
            Some(kid) => k.get("kid").and_then(Value::as_str) == Some(kid.as_str()),
            None => true,
        })
        .ok_or_else(|| invalid_token("no key of the provider matches the ID token"))?;
    let (Some(n), Some(e)) = (key.get("n").and_then(Value::as_str), key.get("e").and_then(Value::as_str)) else {
        return Err(provider_unavailable("a key of the provider is incomplete"));
    };
    let decoding = DecodingKey::from_rsa_components(n, e).map_err(|_| provider_unavailable("a key is not valid"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[settings.issuer.as_str(), discovery.issuer.as_str()]);
    validation.set_audience(&[settings.client_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 60;
    let data = decode::<IdClaims>(id_token, &decoding, &validation).map_err(|e| {
        tracing::info!(error = %e, "oidc id token refused");
        invalid_token("the ID token failed verification")
    })?;
    if data.claims.nonce.as_deref() != Some(nonce) {
        return Err(invalid_token("the ID token's nonce does not match"));
    }
    Ok(data.claims)
}

//! A tiny OpenID Connect provider on loopback for the sign-in tests: discovery, a JWKS with
//! one fixed RSA test key, and a token endpoint that checks the client, the code (once), the
//! redirect URI and the PKCE verifier, and answers an ID token signed RS256.
//!
//! There is no login page: a test takes the `Location` of `/api/user/auth/oidc/start`,
//! passes it to [`OidcProvider::authorize`] with the claims the user should have, and gets
//! the code and state the provider would have sent to the redirect URI.
//!
//! The same server also plays GitHub (OAuth2 without OpenID Connect; [`OidcProvider::github_settings`],
//! [`OidcProvider::authorize_github`]): `/login/oauth/authorize`, a token endpoint that checks
//! the same things and answers an access token (refusals as a 200 with `error`, as GitHub
//! does), and the API's `/api/v3/user` and `/api/v3/user/emails` for that token.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tollgate_http::{IdentityProvider, OidcSettings};

pub const CLIENT_ID: &str = "tollgate-test-client";
pub const CLIENT_SECRET: &str = "test-client-secret";
pub const REDIRECT_URI: &str = "http://127.0.0.1:5173/auth/oidc/callback";
const KID: &str = "test-key-1";

/// A fixed 2048-bit RSA key, for these tests only (generated with `openssl genrsa`).
const TEST_RSA_KEY_PEM: &str = "\
-----BEGIN RSA PRIVATE KEY-----\n\
MIIEowIBAAKCAQEAvEQJiHUI+YO7p924tg9Ba3ukdWN4EqvfZYlkCXyi3HPBHLb/\n\
w6bMdY+/NMFyhekg3OPNdxwCsg2SqJ/8wwYlSN3vgedC+RER/gtO203Cj42Kgz+r\n\
cqxC6kmjZrfAcuOTZ2jRcC0nTVfZfZa/0cCvW2oUeQP7x/Z6mVrQPLxYkS3BHCeD\n\
LQV90OpOkUGbpcmIoYjbzf/bxsVg4L/d49lC5jpCvJ4IAsFW4xvPs7rFs6Bzm3L0\n\
M4TsiSFN4K73NBRt0Bm0oRXezsf1I+NWAF7iNB1Oe3N9WG1du50XffTamdxddKGN\n\
eyhsJKJuRMBAwuWVA6vBmkS7SMoEPHlgZTbl7wIDAQABAoIBADBdOiW4CyouUVL6\n\
fq0mliPKi6EsgHgrdyRaezyErEH96qo5yNK2UugQmYov9/+2uB6G1w22QGsFWZvA\n\
Herr9UAW46R3iJj7bafZt9RW0ZiXP/IftSesYTRW3odQxTu+guuZ3dP3hZU08EZ3\n\
J6f23BWb1s6P22qvQyeKUNyJdic1LQbRzia3tZiNXgwPiv0wA/tlmJemI7iHpMBA\n\
6ZYn/mVgRLlyRbPVFsvNFhhhH2XMqnTPNVEaYAW0ERuwilQHlO7l2kh4pXaxB29l\n\
f0AVUhWcr9RFY/VwCs0tj59/FefBZZRmT2tBLylIzNm8UCT+0LgccpqWWMRGd5Ho\n\
dGl+ScECgYEA4NGak++XwYT3vqHDuVcGuX0yVCOe6pOojDHk6YWPqn71ATsS7boT\n\
wajR7mzwGix/SoX3htFf27NuNikj9rY0e9T6Okyoy5/08MQEN2EWt4iPUK9wwMf0\n\
jgd9eNw3H81Jkbjc4ojh67GO9lOsvoVXsPt+YeH0BVEb8sycY80t5lcCgYEA1mCV\n\
+3UNcxAdR9b0zjmrvWQONnL9NB/H51th1HNt9WEl1vsFL3qSDSe9WishKZFJLXDP\n\
wVAlaeCGSOz7AWU2evmug2ryTn6VvKipUAvmwfNneBhyCZU3TWd7cuJ5tZYG0vGo\n\
golotTScxbHNt59PpMsYGxEKSehdTH1N9XK1zikCgYBWMibpB1iQ2tE95rmrCuHK\n\
JmUwe0PHvntF3S9eFVZC0VBQe3zDZq+CdZ6fombgMiVPxlNj/kyZaI8d9uISCkPP\n\
IpYZ2iBxic+YrB7NuMzD63i/P7SkRUXPWrHRr+T2rXfChjUyKbcs7bPZX7WAipFX\n\
iuUm1EIB89oaWjav0RADGwKBgQCeQwO2db2OGnFjXb+wl0bANKOBcvaWinfLxty8\n\
ONMOeb+zq/EyEezMpW/Wp0x+IXHCiCv37LESLt0z7S+I4i2ML9Oz1To41J66flEw\n\
dPjQal8SfAmEJZKEJEcwkx2C/tTe2eSrKcIRNFwgXpkeXBAx+nU7ViMgWNi35TGu\n\
aBbrsQKBgAretZhVjEl5+LVeVb+lmWYD3fuu6nWDKo7wiD4bUMyPlhFbm5WGr9z3\n\
T/Py0PVv8/veGI9xn9i/Rqldz5AAzPOWdgYD4seEFMfpJpoxjOg5BwgYpVqW8dev\n\
UCBfb4cFSEz2hSSxkV+DGC/e/bnVpQTbpRz5LndkhMPuk8Roy0OP\n\
-----END RSA PRIVATE KEY-----\n\
";
/// Its modulus (base64url) and public exponent 65537.
const TEST_RSA_N: &str = "vEQJiHUI-YO7p924tg9Ba3ukdWN4EqvfZYlkCXyi3HPBHLb_w6bMdY-_NMFyhekg3OPNdxwCsg2SqJ_8wwYlSN3vgedC-RER_gtO203Cj42Kgz-rcqxC6kmjZrfAcuOTZ2jRcC0nTVfZfZa_0cCvW2oUeQP7x_Z6mVrQPLxYkS3BHCeDLQV90OpOkUGbpcmIoYjbzf_bxsVg4L_d49lC5jpCvJ4IAsFW4xvPs7rFs6Bzm3L0M4TsiSFN4K73NBRt0Bm0oRXezsf1I-NWAF7iNB1Oe3N9WG1du50XffTamdxddKGNeyhsJKJuRMBAwuWVA6vBmkS7SMoEPHlgZTbl7w";
const TEST_RSA_E: &str = "AQAB";

/// A code the provider issued: what the token endpoint checks and answers.
struct Grant {
    challenge: String,
    redirect_uri: String,
    claims: Value,
}

#[derive(Default)]
struct Inner {
    codes: HashMap<String, Grant>,
    token_requests: usize,
    /// GitHub: the access tokens issued, with the grant's `{"user", "emails"}`.
    access_tokens: HashMap<String, Value>,
}

#[derive(Clone)]
struct Provider {
    issuer: String,
    inner: Arc<Mutex<Inner>>,
}

/// The running provider.
pub struct OidcProvider {
    pub issuer: String,
    inner: Arc<Mutex<Inner>>,
}

impl OidcProvider {
    /// Serves the provider on 127.0.0.1 and a free port until the test process ends.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let inner = Arc::new(Mutex::new(Inner::default()));
        let provider = Provider { issuer: issuer.clone(), inner: inner.clone() };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/login/oauth/access_token", post(github_token))
            .route("/api/v3/user", get(github_user))
            .route("/api/v3/user/emails", get(github_emails))
            .with_state(provider);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        OidcProvider { issuer, inner }
    }

    /// The client's registration at this provider.
    pub fn settings(&self) -> OidcSettings {
        OidcSettings {
            provider: IdentityProvider::Oidc,
            issuer: self.issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            redirect_uri: REDIRECT_URI.into(),
        }
    }

    /// What the provider does when the user consents: checks the authorization request at
    /// `location` and issues a code for an ID token with `claims` over the defaults (`iss`,
    /// `aud`, `sub`, `iat`, `exp` and the request's `nonce`; a claim set to `null` is
    /// removed). Returns `(code, state)`.
    pub fn authorize(&self, location: &str, claims: Value) -> (String, String) {
        let url = url::Url::parse(location).expect("a URL");
        assert_eq!(format!("{}://{}", url.scheme(), url.authority()), self.issuer, "to this provider");
        assert_eq!(url.path(), "/authorize");
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
        assert_eq!(q.get("client_id").map(String::as_str), Some(CLIENT_ID));
        assert_eq!(q.get("scope").map(String::as_str), Some("openid email profile"));
        assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"));
        let now = chrono::Utc::now().timestamp();
        let mut all = json!({
            "iss": self.issuer, "aud": CLIENT_ID, "sub": "subject-1", "iat": now, "exp": now + 300,
            "nonce": q["nonce"],
        });
        for (k, v) in claims.as_object().expect("claims object") {
            if v.is_null() {
                all.as_object_mut().unwrap().remove(k);
            } else {
                all[k] = v.clone();
            }
        }
        let code = format!("code-{}", tollgate_domain::token::generate_secret_token());
        let grant =
            Grant { challenge: q["code_challenge"].clone(), redirect_uri: q["redirect_uri"].clone(), claims: all };
        self.inner.lock().unwrap().codes.insert(code.clone(), grant);
        (code, q["state"].clone())
    }

    /// The client's registration at this server playing GitHub.
    pub fn github_settings(&self) -> OidcSettings {
        OidcSettings { provider: IdentityProvider::GitHub, ..self.settings() }
    }

    /// What GitHub does when the user consents: checks the authorization request at
    /// `location` and issues a code whose access token shows `user` (`/user`) and `emails`
    /// (`/user/emails`). Returns `(code, state)`.
    pub fn authorize_github(&self, location: &str, user: Value, emails: Value) -> (String, String) {
        let url = url::Url::parse(location).expect("a URL");
        assert_eq!(format!("{}://{}", url.scheme(), url.authority()), self.issuer, "to this provider");
        assert_eq!(url.path(), "/login/oauth/authorize");
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q.get("client_id").map(String::as_str), Some(CLIENT_ID));
        assert_eq!(q.get("scope").map(String::as_str), Some("read:user user:email"));
        assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"));
        assert!(!q.contains_key("nonce"), "GitHub has no ID token to carry a nonce");
        let code = format!("ghcode-{}", tollgate_domain::token::generate_secret_token());
        let grant = Grant {
            challenge: q["code_challenge"].clone(),
            redirect_uri: q["redirect_uri"].clone(),
            claims: json!({"user": user, "emails": emails}),
        };
        self.inner.lock().unwrap().codes.insert(code.clone(), grant);
        (code, q["state"].clone())
    }

    /// How many requests the token endpoint received.
    pub fn token_requests(&self) -> usize {
        self.inner.lock().unwrap().token_requests
    }
}

async fn discovery(State(p): State<Provider>) -> Json<Value> {
    Json(json!({
        "issuer": p.issuer,
        "authorization_endpoint": format!("{}/authorize", p.issuer),
        "token_endpoint": format!("{}/token", p.issuer),
        "jwks_uri": format!("{}/jwks", p.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks() -> Json<Value> {
    Json(json!({"keys": [
        {"kty": "RSA", "kid": "another-key", "use": "sig", "alg": "RS256", "n": "sXch", "e": TEST_RSA_E},
        {"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256", "n": TEST_RSA_N, "e": TEST_RSA_E},
    ]}))
}

/// The PKCS#1 DER of the test key (the PEM's base64 body).
fn test_key_der() -> Vec<u8> {
    let body: String = TEST_RSA_KEY_PEM.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).expect("the test key's base64")
}

fn token_error(error: &str) -> axum::response::Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": error}))).into_response()
}

/// The grant of a token request, if the client, the code (used once), the redirect URI and
/// the PKCE verifier all check out; else the OAuth2 error.
fn redeem(p: &Provider, body: &str) -> Result<Grant, &'static str> {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let grant = {
        let mut inner = p.inner.lock().unwrap();
        inner.token_requests += 1;
        form.get("code").and_then(|c| inner.codes.remove(c))
    };
    let field = |k: &str| form.get(k).map(String::as_str);
    if field("client_id") != Some(CLIENT_ID) || field("client_secret") != Some(CLIENT_SECRET) {
        return Err("invalid_client");
    }
    let grant = grant.ok_or("invalid_grant")?;
    let verifier = field("code_verifier").unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge
        || field("redirect_uri") != Some(grant.redirect_uri.as_str())
    {
        return Err("invalid_grant");
    }
    Ok(grant)
}

/// GitHub's token endpoint: refusals are a 200 with `error` (`bad_verification_code`).
async fn github_token(State(p): State<Provider>, body: String) -> Json<Value> {
    match redeem(&p, &body) {
        Ok(grant) => {
            let access_token = format!("gho_{}", tollgate_domain::token::generate_secret_token());
            p.inner.lock().unwrap().access_tokens.insert(access_token.clone(), grant.claims);
            Json(json!({"access_token": access_token, "token_type": "bearer", "scope": "read:user,user:email"}))
        }
        Err(_) => Json(
            json!({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}),
        ),
    }
}

/// The grant's `part` (`user` or `emails`) for the request's bearer token; 401 otherwise.
fn github_api(p: &Provider, headers: &axum::http::HeaderMap, part: &str) -> axum::response::Response {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let granted = token.and_then(|t| p.inner.lock().unwrap().access_tokens.get(t).cloned());
    match granted {
        Some(g) => Json(g[part].clone()).into_response(),
        None => (StatusCode::UNAUTHORIZED, Json(json!({"message": "Bad credentials"}))).into_response(),
    }
}

async fn github_user(State(p): State<Provider>, headers: axum::http::HeaderMap) -> axum::response::Response {
    github_api(&p, &headers, "user")
}

async fn github_emails(State(p): State<Provider>, headers: axum::http::HeaderMap) -> axum::response::Response {
    github_api(&p, &headers, "emails")
}

async fn token(State(p): State<Provider>, body: String) -> axum::response::Response {
    let grant_type_ok =
        url::form_urlencoded::parse(body.as_bytes()).any(|(k, v)| k == "grant_type" && v == "authorization_code");
    let grant = match redeem(&p, &body) {
        Ok(_) if !grant_type_ok => return token_error("invalid_client"),
        Ok(grant) => grant,
        Err(error) => return token_error(error),
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.into());
    let key = EncodingKey::from_rsa_der(&test_key_der());
    let id_token = encode(&header, &grant.claims, &key).expect("sign");
    Json(json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}))
        .into_response()
}

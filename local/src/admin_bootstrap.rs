//! First start: an empty store gets its admin.

use crate::{Config, ServerError};
use tollgate_domain::{id::random_base62, AuditEvent, Email, PasswordPolicy, Role};
use tollgate_http::AppState;

/// What the bootstrap did.
#[derive(Debug)]
pub enum AdminBootstrap {
    /// An admin already existed: nothing was changed.
    AlreadyPresent,
    /// The admin was created; the password is returned only when it was generated.
    Created { email: String, generated_password: Option<String> },
}

/// Creates the admin from `ADMIN_EMAIL`/`ADMIN_PASSWORD` (or a generated password) when no
/// admin exists yet.
pub async fn bootstrap_admin(state: &AppState, config: &Config) -> Result<AdminBootstrap, ServerError> {
    if state.store.admin_exists().await? {
        return Ok(AdminBootstrap::AlreadyPresent);
    }
    let email = Email::parse(&config.admin_email).map_err(|e| ServerError::Config(format!("ADMIN_EMAIL: {e}")))?;
    let (password, generated) = match &config.admin_password {
        Some(p) => (p.clone(), false),
        None => (format!("{}-{}", random_base62(12), random_base62(12)), true),
    };
    PasswordPolicy::check(&password, Some(&email)).map_err(|e| ServerError::Config(format!("ADMIN_PASSWORD: {e}")))?;
    let hash = tollgate_http::password::hash_password(password.clone())
        .await
        .map_err(|e| ServerError::Bootstrap(e.to_string()))?;
    let mut admin = auth::new_user(email.clone(), hash, "Admin".into(), "".into(), None, Role::Admin, state.now());
    admin.last_name = "Operator".into();
    admin.email_verified = true;
    auth::create_user(state, &admin).await.map_err(|e| ServerError::Bootstrap(format!("{e} ({email})")))?;
    state.audit(AuditEvent::new("admin.bootstrap", admin.created_at).actor(&admin.id).org(&admin.default_org_id)).await;
    Ok(AdminBootstrap::Created { email: email.to_string(), generated_password: generated.then_some(password) })
}

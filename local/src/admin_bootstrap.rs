//! First start: an empty store gets its admin.

use crate::{Config, ServerError};
use tollgate_app::{create_user, new_user, NewUser};
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
    let password_hash = state.passwords.hash(password.clone()).await?;
    let new = NewUser {
        email: email.clone(),
        password_hash,
        first_name: "Admin".into(),
        last_name: "Operator".into(),
        company_name: None,
        role: Role::Admin,
    };
    let mut admin = new_user(new, state.now());
    admin.email_verified = true;
    create_user(state.store.as_ref(), &admin).await.map_err(|e| ServerError::Bootstrap(format!("{e} ({email})")))?;
    state.audit(AuditEvent::new("admin.bootstrap", admin.created_at).actor(&admin.id).org(&admin.default_org_id)).await;
    Ok(AdminBootstrap::Created { email: email.to_string(), generated_password: generated.then_some(password) })
}

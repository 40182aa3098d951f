//! Creating an account as a client asks for it: shared by registration and an admin's
//! `POST /api/admin/users`, so both apply the same rules and answer the same errors.

use crate::views::{optional_text_field, text_field, COMPANY_MAX, NAME_MAX};
use crate::{ApiError, AppState, ErrorCode};
use tollgate_app::{create_user, new_user, AppError, NewUser};
use tollgate_domain::{Email, PasswordPolicy, Role, StoreError, User};

/// A new account's fields as the client sent them.
pub struct AccountFields {
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    pub company_name: Option<String>,
}

/// Checks the fields (the email's syntax, names and company within their limits, the
/// password policy; 422 `invalid_email`, `invalid_field`, `weak_password`), hashes the
/// password and returns the user to store, not stored yet.
pub async fn new_account(state: &AppState, fields: AccountFields, role: Role) -> Result<User, ApiError> {
    let email = Email::parse(&fields.email)?;
    let first_name = text_field("first_name", &fields.first_name, NAME_MAX)?;
    let last_name = text_field("last_name", &fields.last_name, NAME_MAX)?;
    let company_name = optional_text_field("company_name", fields.company_name.as_deref(), COMPANY_MAX)?;
    PasswordPolicy::check(&fields.password, Some(&email))?;
    let password_hash = state.passwords.hash(fields.password).await?;
    Ok(new_user(NewUser { email, password_hash, first_name, last_name, company_name, role }, state.now()))
}

/// Stores the account with its personal organization on the Free plan
/// (`tollgate_app::create_user`); 409 `email_taken` if the email is registered.
pub async fn create_account(state: &AppState, user: &User) -> Result<(), ApiError> {
    create_user(state.store.as_ref(), user).await.map_err(|e| match e {
        AppError::Store(StoreError::AlreadyExists(_)) => {
            ApiError::rejected(ErrorCode::EmailTaken, "an account with this email already exists")
        }
        e => e.into(),
    })
}

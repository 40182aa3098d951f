//! Accounts: a new user with their personal organization.

use crate::{current_subscription, AppError};
use chrono::{DateTime, Utc};
use tollgate_domain::id::prefix;
use tollgate_domain::{Email, Id, Membership, OrgRole, Organization, Role, Store, StoreError, User, UserStatus};

/// What a new account is made of, checked by the caller (email parsed, password hashed,
/// names within their limits).
pub struct NewUser {
    pub email: Email,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub company_name: Option<String>,
    pub role: Role,
}

/// A user who has not been stored yet, active, with a new personal organization id.
pub fn new_user(new: NewUser, now: DateTime<Utc>) -> User {
    User {
        id: Id::generate(prefix::USER),
        email: new.email,
        password_hash: new.password_hash,
        first_name: new.first_name,
        last_name: new.last_name,
        company_name: new.company_name,
        role: new.role,
        status: UserStatus::Active,
        email_verified: false,
        default_org_id: Id::generate(prefix::ORG),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    }
}

/// Stores the user with their personal organization and owner membership (all or nothing;
/// `Store(AlreadyExists("email"))` if the email is taken), and starts the organization on
/// the Free plan.
pub async fn create_user(store: &dyn Store, user: &User) -> Result<(), AppError> {
    let org = Organization {
        id: user.default_org_id.clone(),
        name: user.company_name.clone().unwrap_or_else(|| format!("{} {}", user.first_name, user.last_name)),
        owner_id: user.id.clone(),
        personal: true,
        created_at: user.created_at,
    };
    let owner = Membership {
        org_id: org.id.clone(),
        user_id: user.id.clone(),
        role: OrgRole::Owner,
        created_at: user.created_at,
    };
    store.create_user(user, &org, &owner).await?;
    // Idempotent: if this fails, the first metered call or subscription read creates it.
    current_subscription(store, &org.id, user.created_at).await?;
    Ok(())
}

/// What deleting an account ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletedUser {
    /// Keys of the personal organization revoked.
    pub api_keys_revoked: u32,
    /// Login sessions ended.
    pub sessions_revoked: u32,
}

/// Deletes the account (soft delete): the record stays (status `deleted`) for the audit
/// trail and the email is released; every key of the user's personal organization is
/// revoked and every session ends. The user deleting themselves and an admin share it; the
/// caller audits. `Store(NotFound("user"))` if the user does not exist or is already deleted.
pub async fn delete_user(store: &dyn Store, user: &User, now: DateTime<Utc>) -> Result<DeletedUser, AppError> {
    // Deleting first makes every later request of this user fail authentication, so the
    // revocations below cannot race with new keys or sessions.
    store.soft_delete_user(&user.id, now).await?;
    let api_keys_revoked = store.revoke_all_api_keys(&user.default_org_id, now).await?;
    let sessions_revoked = store.revoke_user_families(&user.id, None, "account_deleted", now).await?;
    Ok(DeletedUser { api_keys_revoked, sessions_revoked })
}

/// Suspends an active account: it can no longer sign in or use its tokens, every session
/// ends, and the gateway refuses the keys it created and those of the organizations it owns
/// (within its cache time). Returns the suspended user and how many sessions ended.
/// `Store(Conflict(..))` unless the user is active.
pub async fn suspend_user(store: &dyn Store, user: &User, now: DateTime<Utc>) -> Result<(User, u32), AppError> {
    if user.status != UserStatus::Active {
        return Err(StoreError::Conflict("the user is not active").into());
    }
    let mut suspended = user.clone();
    suspended.status = UserStatus::Suspended;
    suspended.updated_at = now;
    // Status first: from here on, a refresh that races the revocation below is refused
    // because the user is no longer active.
    store.update_user(&suspended).await?;
    let sessions = store.revoke_user_families(&user.id, None, "account_suspended", now).await?;
    Ok((suspended, sessions))
}

/// Lifts a suspension (the user signs in again; the sessions it ended stay ended).
/// `Store(Conflict(..))` unless the user is suspended.
pub async fn unsuspend_user(store: &dyn Store, user: &User, now: DateTime<Utc>) -> Result<User, AppError> {
    if user.status != UserStatus::Suspended {
        return Err(StoreError::Conflict("the user is not suspended").into());
    }
    let mut active = user.clone();
    active.status = UserStatus::Active;
    active.updated_at = now;
    store.update_user(&active).await?;
    Ok(active)
}

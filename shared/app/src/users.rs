//! Accounts: a new user with their personal organization.

use crate::{current_subscription, AppError};
use chrono::{DateTime, Utc};
use tollgate_domain::id::prefix;
use tollgate_domain::{Email, Id, Membership, OrgRole, Organization, Role, Store, User, UserStatus};

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

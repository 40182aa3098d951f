//! `UserRepository`: users, organizations, memberships.

use super::{exists_on_conflict, get_enum, get_id, get_opt_ts, get_ts, get_with, ms, opt_ms, SqliteStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};
use tollgate_domain::{
    Email, Id, Membership, OrgRole, Organization, Role, StoreError, StoredEnum, User, UserRepository, UserStatus,
};

const USER_COLS: &str = "id, email, password_hash, first_name, last_name, company_name, role, status, \
                         email_verified, default_org_id, created_at, updated_at, deleted_at";

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: get_id(r, 0)?,
        email: get_with(r, 1, |s| Email::parse(&s))?,
        password_hash: r.get(2)?,
        first_name: r.get(3)?,
        last_name: r.get(4)?,
        company_name: r.get(5)?,
        role: get_enum(r, 6, Role::parse)?,
        status: get_enum(r, 7, UserStatus::parse)?,
        email_verified: r.get(8)?,
        default_org_id: get_id(r, 9)?,
        created_at: get_ts(r, 10)?,
        updated_at: get_ts(r, 11)?,
        deleted_at: get_opt_ts(r, 12)?,
    })
}

fn org_from_row(r: &Row<'_>) -> rusqlite::Result<Organization> {
    Ok(Organization {
        id: get_id(r, 0)?,
        name: r.get(1)?,
        owner_id: get_id(r, 2)?,
        personal: r.get(3)?,
        created_at: get_ts(r, 4)?,
    })
}

fn membership_from_row(r: &Row<'_>) -> rusqlite::Result<Membership> {
    Ok(Membership {
        org_id: get_id(r, 0)?,
        user_id: get_id(r, 1)?,
        role: get_enum(r, 2, OrgRole::parse)?,
        created_at: get_ts(r, 3)?,
    })
}

#[async_trait]
impl UserRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(user_id = %user.id, org_id = %org.id), err(level = "debug"))]
    async fn create_user(&self, user: &User, org: &Organization, owner: &Membership) -> Result<(), StoreError> {
        let (user, org, owner) = (user.clone(), org.clone(), owner.clone());
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Checked first so the answer names the email; the partial unique index is the backstop.
            let taken: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM users WHERE email = ?1 AND deleted_at IS NULL)",
                [user.email.as_str()],
                |r| r.get(0),
            )?;
            if taken {
                return Err(StoreError::AlreadyExists("email").into());
            }
            tx.execute(
                &format!(
                    "INSERT INTO users ({USER_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ),
                params![
                    user.id.as_str(),
                    user.email.as_str(),
                    user.password_hash,
                    user.first_name,
                    user.last_name,
                    user.company_name,
                    user.role.as_str(),
                    user.status.as_str(),
                    user.email_verified,
                    user.default_org_id.as_str(),
                    ms(user.created_at),
                    ms(user.updated_at),
                    opt_ms(user.deleted_at),
                ],
            )
            .map_err(exists_on_conflict("user"))?;
            tx.execute(
                "INSERT INTO organizations (id, name, owner_id, personal, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![org.id.as_str(), org.name, org.owner_id.as_str(), org.personal, ms(org.created_at)],
            )
            .map_err(exists_on_conflict("organization"))?;
            tx.execute(
                "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![owner.org_id.as_str(), owner.user_id.as_str(), owner.role.as_str(), ms(owner.created_at)],
            )
            .map_err(exists_on_conflict("membership"))?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %id), err(level = "debug"))]
    async fn get_user(&self, id: &Id) -> Result<Option<User>, StoreError> {
        let id = id.clone();
        self.call(move |c| {
            Ok(c.query_row(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"), [id.as_str()], user_from_row)
                .optional()?)
        })
        .await
    }

    // The email is personal data: it stays out of the span.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let email = email.clone();
        self.call(move |c| {
            Ok(c.query_row(
                &format!("SELECT {USER_COLS} FROM users WHERE email = ?1 AND deleted_at IS NULL"),
                [email.as_str()],
                user_from_row,
            )
            .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %user.id), err(level = "debug"))]
    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let user = user.clone();
        self.call(move |c| {
            let n = c.execute(
                "UPDATE users SET first_name = ?2, last_name = ?3, company_name = ?4, password_hash = ?5, role = ?6, \
                 status = ?7, email_verified = ?8, updated_at = ?9 WHERE id = ?1 AND deleted_at IS NULL",
                params![
                    user.id.as_str(),
                    user.first_name,
                    user.last_name,
                    user.company_name,
                    user.password_hash,
                    user.role.as_str(),
                    user.status.as_str(),
                    user.email_verified,
                    ms(user.updated_at),
                ],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("user").into());
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %id), err(level = "debug"))]
    async fn soft_delete_user(&self, id: &Id, now: DateTime<Utc>) -> Result<(), StoreError> {
        let id = id.clone();
        self.call(move |c| {
            let n = c.execute(
                "UPDATE users SET status = 'deleted', deleted_at = ?2, updated_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
                params![id.as_str(), ms(now)],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("user").into());
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn admin_exists(&self) -> Result<bool, StoreError> {
        self.call(|c| {
            Ok(c.query_row(
                "SELECT EXISTS(SELECT 1 FROM users WHERE role = 'admin' AND deleted_at IS NULL)",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %id), err(level = "debug"))]
    async fn get_organization(&self, id: &Id) -> Result<Option<Organization>, StoreError> {
        let id = id.clone();
        self.call(move |c| {
            Ok(c.query_row(
                "SELECT id, name, owner_id, personal, created_at FROM organizations WHERE id = ?1",
                [id.as_str()],
                org_from_row,
            )
            .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    async fn memberships_of_user(&self, user_id: &Id) -> Result<Vec<Membership>, StoreError> {
        let user_id = user_id.clone();
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT org_id, user_id, role, created_at FROM memberships WHERE user_id = ?1 \
                 ORDER BY created_at ASC, rowid ASC",
            )?;
            let rows = stmt.query_map([user_id.as_str()], membership_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

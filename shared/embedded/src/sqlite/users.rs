//! `UserRepository`: users, organizations, memberships.

use super::{
    decode_time_id_cursor, exists_on_conflict, get_enum, get_id, get_opt_ts, get_ts, get_with, ms, opt_ms,
    time_id_cursor, SqliteStore,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension, Row, TransactionBehavior};
use tollgate_domain::{
    Email, Id, Membership, OrgRole, Organization, Role, StoreError, StoredEnum, User, UserQuery, UserRepository,
    UserSort, UserStatus,
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

/// The columns `org_from_row` reads.
pub(super) const ORG_COLS: &str = "id, name, owner_id, personal, created_at";

pub(super) fn org_from_row(r: &Row<'_>) -> rusqlite::Result<Organization> {
    Ok(Organization {
        id: get_id(r, 0)?,
        name: r.get(1)?,
        owner_id: get_id(r, 2)?,
        personal: r.get(3)?,
        created_at: get_ts(r, 4)?,
    })
}

pub(super) fn membership_from_row(r: &Row<'_>) -> rusqlite::Result<Membership> {
    Ok(Membership {
        org_id: get_id(r, 0)?,
        user_id: get_id(r, 1)?,
        role: get_enum(r, 2, OrgRole::parse)?,
        created_at: get_ts(r, 3)?,
    })
}

/// The position after `user` in `sort` order: `<tag>:<created_at ms>:<id>` for the time
/// orders, `e:<id>:<email>` by email. The tag makes a cursor of one order invalid in another.
fn user_cursor(sort: UserSort, user: &User) -> String {
    match sort {
        UserSort::NewestFirst => format!("n:{}", time_id_cursor(user.created_at, user.id.as_str())),
        UserSort::OldestFirst => format!("o:{}", time_id_cursor(user.created_at, user.id.as_str())),
        UserSort::EmailAsc => format!("e:{}:{}", user.id, user.email),
    }
}

/// The (sort value, id) a cursor of `sort` order stands for; `InvalidCursor` for anything
/// [`user_cursor`] did not make for that order.
fn decode_user_cursor(sort: UserSort, cursor: &str) -> Result<(Value, String), StoreError> {
    let (tag, rest) = cursor.split_once(':').ok_or(StoreError::InvalidCursor)?;
    match (sort, tag) {
        (UserSort::NewestFirst, "n") | (UserSort::OldestFirst, "o") => {
            let (at, id) = decode_time_id_cursor(rest)?;
            Ok((Value::Integer(at), id))
        }
        (UserSort::EmailAsc, "e") => match rest.split_once(':') {
            Some((id, email)) if !id.is_empty() && Email::parse(email).is_ok() => {
                Ok((Value::Text(email.to_string()), id.to_string()))
            }
            _ => Err(StoreError::InvalidCursor),
        },
        _ => Err(StoreError::InvalidCursor),
    }
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
            super::organizations::insert_organization(&tx, &org, &owner)?;
            super::metrics::count_signup(&tx, user.created_at)?;
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
                &format!("SELECT {ORG_COLS} FROM organizations WHERE id = ?1 AND deleted_at IS NULL"),
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
                "SELECT m.org_id, m.user_id, m.role, m.created_at FROM memberships m \
                 JOIN organizations o ON o.id = m.org_id AND o.deleted_at IS NULL \
                 WHERE m.user_id = ?1 ORDER BY m.created_at ASC, m.rowid ASC",
            )?;
            let rows = stmt.query_map([user_id.as_str()], membership_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    /// Only the filters given go into the SQL; the (created_at, id) and (email, id) indexes
    /// serve the orders. `q` is matched with SQLite's `lower`, which folds ASCII letters only.
    #[tracing::instrument(skip_all, fields(sort = ?query.sort, limit = query.limit), err(level = "debug"))]
    async fn users_page(&self, query: &UserQuery) -> Result<(Vec<User>, Option<String>), StoreError> {
        let query = query.clone();
        let limit = query.page_size() as usize;
        let after = query.cursor.as_deref().map(|c| decode_user_cursor(query.sort, c)).transpose()?;
        self.call(move |c| {
            let mut sql = format!("SELECT {USER_COLS} FROM users WHERE 1");
            let mut args: Vec<Value> = Vec::new();
            let mut filter = |clause: &str, values: Vec<Value>| {
                sql.push_str(" AND ");
                sql.push_str(clause);
                args.extend(values);
            };
            match query.status {
                Some(status) => filter("status = ?", vec![Value::Text(status.as_str().into())]),
                None => filter("status <> ?", vec![Value::Text(UserStatus::Deleted.as_str().into())]),
            }
            if let Some(role) = query.role {
                filter("role = ?", vec![Value::Text(role.as_str().into())]);
            }
            if let Some(plan) = &query.plan_id {
                filter(
                    "default_org_id IN (SELECT org_id FROM subscriptions WHERE plan_id = ?)",
                    vec![Value::Text(plan.as_str().into())],
                );
            }
            if let Some(q) = query.q.as_deref().map(str::to_lowercase).filter(|q| !q.is_empty()) {
                filter(
                    "(instr(lower(email), ?) > 0 OR instr(lower(first_name), ?) > 0 \
                     OR instr(lower(last_name), ?) > 0 OR instr(lower(coalesce(company_name, '')), ?) > 0)",
                    vec![Value::Text(q); 4],
                );
            }
            let (column, direction, after_op) = match query.sort {
                UserSort::NewestFirst => ("created_at", "DESC", "<"),
                UserSort::OldestFirst => ("created_at", "ASC", ">"),
                UserSort::EmailAsc => ("email", "ASC", ">"),
            };
            if let Some((value, id)) = after {
                filter(&format!("({column}, id) {after_op} (?, ?)"), vec![value, Value::Text(id)]);
            }
            // One more than the page: whether it exists says if there is a next page.
            sql.push_str(&format!(" ORDER BY {column} {direction}, id {direction} LIMIT ?"));
            args.push(Value::Integer(limit as i64 + 1));
            let mut stmt = c.prepare_cached(&sql)?;
            let mut page =
                stmt.query_map(params_from_iter(args), user_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            let next = if page.len() > limit {
                page.truncate(limit);
                page.last().map(|u| user_cursor(query.sort, u))
            } else {
                None
            };
            Ok((page, next))
        })
        .await
    }
}

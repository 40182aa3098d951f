//! `ManagementTokenRepository`: the operator's management tokens, by the hash of their secret.

use super::catalog::{get_json, json};
use super::{exists_on_conflict, get_id, get_opt_ts, get_ts, ms, opt_ms, SqliteStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use tollgate_domain::{Id, ManagementToken, ManagementTokenRepository, StoreError, TokenHash};

const TOKEN_COLS: &str =
    "id, name, display_prefix, scopes, created_by, created_at, expires_at, revoked_at, last_used_at";

/// Columns 0..=8 as in `TOKEN_COLS`.
fn token_from_row(r: &Row<'_>) -> rusqlite::Result<ManagementToken> {
    Ok(ManagementToken {
        id: get_id(r, 0)?,
        name: r.get(1)?,
        display_prefix: r.get(2)?,
        scopes: get_json(r, 3)?.unwrap_or_default(),
        created_by: get_id(r, 4)?,
        created_at: get_ts(r, 5)?,
        expires_at: get_opt_ts(r, 6)?,
        revoked_at: get_opt_ts(r, 7)?,
        last_used_at: get_opt_ts(r, 8)?,
    })
}

#[async_trait]
impl ManagementTokenRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(token_id = %token.id), err(level = "debug"))]
    async fn create_management_token(&self, token: &ManagementToken, hash: &TokenHash) -> Result<(), StoreError> {
        let (t, hash) = (token.clone(), hash.clone());
        self.call(move |c| {
            c.execute(
                &format!("INSERT INTO management_tokens ({TOKEN_COLS}, token_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    t.id.as_str(),
                    t.name,
                    t.display_prefix,
                    json(&t.scopes),
                    t.created_by.as_str(),
                    ms(t.created_at),
                    opt_ms(t.expires_at),
                    opt_ms(t.revoked_at),
                    opt_ms(t.last_used_at),
                    hash.as_str(),
                ],
            )
            .map_err(exists_on_conflict("management token"))?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_management_tokens(&self) -> Result<Vec<ManagementToken>, StoreError> {
        self.call(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {TOKEN_COLS} FROM management_tokens ORDER BY created_at DESC, id DESC"
            ))?;
            let rows = stmt.query_map([], token_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn find_management_token_by_hash(&self, hash: &TokenHash) -> Result<Option<ManagementToken>, StoreError> {
        let hash = hash.clone();
        self.call(move |c| {
            Ok(c.query_row(
                &format!("SELECT {TOKEN_COLS} FROM management_tokens WHERE token_hash = ?1"),
                [hash.as_str()],
                token_from_row,
            )
            .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(token_id = %id), err(level = "debug"))]
    async fn revoke_management_token(&self, id: &Id, now: DateTime<Utc>) -> Result<ManagementToken, StoreError> {
        let id = id.clone();
        self.call(move |c| {
            // One statement: sets revoked_at only the first time, and reads the row back.
            let token = c
                .query_row(
                    &format!(
                        "UPDATE management_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1 \
                         RETURNING {TOKEN_COLS}"
                    ),
                    params![id.as_str(), ms(now)],
                    token_from_row,
                )
                .optional()?;
            Ok(token.ok_or(StoreError::NotFound("management token"))?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(token_id = %id), err(level = "debug"))]
    async fn mark_management_token_used(&self, id: &Id, at: DateTime<Utc>) -> Result<(), StoreError> {
        let id = id.clone();
        self.call(move |c| {
            c.execute(
                "UPDATE management_tokens SET last_used_at = ?2 \
                 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
                params![id.as_str(), ms(at)],
            )?;
            Ok(())
        })
        .await
    }
}

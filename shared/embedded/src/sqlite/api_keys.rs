//! `ApiKeyRepository`: API keys and their secrets (as hashes).

use super::catalog::{get_json, json};
use super::projects::project_exists;
use super::{exists_on_conflict, get_id, get_opt_id, get_opt_ts, get_ts, ms, opt_ms, DbError, SqliteStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};
use tollgate_domain::{ApiKey, ApiKeyRepository, Id, KeyRotation, KeySecret, Project, StoreError, TokenHash};

const KEY_COLS: &str = "k.id, k.org_id, k.created_by, k.name, k.display_prefix, k.last4, k.created_at, \
                        k.last_used_at, k.expires_at, k.revoked_at, k.rotated_at, k.project_id, k.scopes";

/// The number of columns in `KEY_COLS` (a query's own columns follow them).
const KEY_COL_COUNT: usize = 13;

/// Columns 0..=12 as in `KEY_COLS`. A key from before projects (no `project_id`) is in its
/// organization's default project.
fn key_from_row(r: &Row<'_>) -> rusqlite::Result<ApiKey> {
    let org_id = get_id(r, 1)?;
    Ok(ApiKey {
        id: get_id(r, 0)?,
        project_id: get_opt_id(r, 11)?.unwrap_or_else(|| Project::default_id(&org_id)),
        org_id,
        created_by: get_id(r, 2)?,
        name: r.get(3)?,
        display_prefix: r.get(4)?,
        last4: r.get(5)?,
        created_at: get_ts(r, 6)?,
        last_used_at: get_opt_ts(r, 7)?,
        expires_at: get_opt_ts(r, 8)?,
        revoked_at: get_opt_ts(r, 9)?,
        rotated_at: get_opt_ts(r, 10)?,
        scopes: get_json(r, 12)?,
    })
}

fn get_key_tx(tx: &Transaction<'_>, org_id: &Id, key_id: &Id) -> Result<Option<ApiKey>, DbError> {
    Ok(tx
        .query_row(
            &format!("SELECT {KEY_COLS} FROM api_keys k WHERE k.org_id = ?1 AND k.id = ?2"),
            [org_id.as_str(), key_id.as_str()],
            key_from_row,
        )
        .optional()?)
}

fn insert_secret(tx: &Transaction<'_>, s: &KeySecret) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO api_key_secrets (hash, key_id, org_id, created_at, valid_until) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![s.hash.as_str(), s.key_id.as_str(), s.org_id.as_str(), ms(s.created_at), opt_ms(s.valid_until)],
    )
    .map_err(exists_on_conflict("api key secret"))?;
    Ok(())
}

#[async_trait]
impl ApiKeyRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(org_id = %key.org_id, key_id = %key.id, max_active = max_active), err(level = "debug"))]
    async fn create_api_key(
        &self,
        key: &ApiKey,
        secret: &KeySecret,
        max_active: u32,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (key, secret) = (key.clone(), secret.clone());
        self.call(move |c| {
            // The count and the insert share one write transaction, so the limit is exact.
            // So does the project check: `delete_project` cannot slip in between.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !project_exists(&tx, &key.org_id, &key.project_id)? {
                return Err(StoreError::NotFound("project").into());
            }
            let active: i64 = tx.query_row(
                "SELECT COUNT(*) FROM api_keys WHERE org_id = ?1 AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > ?2)",
                params![key.org_id.as_str(), ms(now)],
                |r| r.get(0),
            )?;
            if active >= i64::from(max_active) {
                return Err(StoreError::LimitReached("active api keys").into());
            }
            tx.execute(
                "INSERT INTO api_keys (id, org_id, created_by, name, display_prefix, last4, created_at, last_used_at, \
                 expires_at, revoked_at, rotated_at, project_id, scopes) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    key.id.as_str(),
                    key.org_id.as_str(),
                    key.created_by.as_str(),
                    key.name,
                    key.display_prefix,
                    key.last4,
                    ms(key.created_at),
                    opt_ms(key.last_used_at),
                    opt_ms(key.expires_at),
                    opt_ms(key.revoked_at),
                    opt_ms(key.rotated_at),
                    key.project_id.as_str(),
                    key.scopes.as_ref().map(json),
                ],
            )
            .map_err(exists_on_conflict("api key"))?;
            insert_secret(&tx, &secret)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn list_api_keys(&self, org_id: &Id) -> Result<Vec<ApiKey>, StoreError> {
        let org_id = org_id.clone();
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {KEY_COLS} FROM api_keys k WHERE k.org_id = ?1 ORDER BY k.created_at DESC, k.rowid DESC"
            ))?;
            let rows = stmt.query_map([org_id.as_str()], key_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, key_id = %key_id), err(level = "debug"))]
    async fn get_api_key(&self, org_id: &Id, key_id: &Id) -> Result<Option<ApiKey>, StoreError> {
        let (org_id, key_id) = (org_id.clone(), key_id.clone());
        self.call(move |c| {
            Ok(c.query_row(
                &format!("SELECT {KEY_COLS} FROM api_keys k WHERE k.org_id = ?1 AND k.id = ?2"),
                [org_id.as_str(), key_id.as_str()],
                key_from_row,
            )
            .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, key_id = %key_id), err(level = "debug"))]
    async fn revoke_api_key(&self, org_id: &Id, key_id: &Id, now: DateTime<Utc>) -> Result<ApiKey, StoreError> {
        let (org_id, key_id) = (org_id.clone(), key_id.clone());
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut key = get_key_tx(&tx, &org_id, &key_id)?.ok_or(StoreError::NotFound("api key"))?;
            if key.revoked_at.is_some() {
                return Ok(key);
            }
            // `revoked_at` on the key is what makes every secret unusable (`ApiKey::check_usable`
            // looks at the key first); the secrets stay findable so callers can say "revoked".
            tx.execute("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1", params![key_id.as_str(), ms(now)])?;
            tx.commit()?;
            key.revoked_at = Some(now);
            Ok(key)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, key_id = %key_id), err(level = "debug"))]
    async fn rotate_api_key(
        &self,
        org_id: &Id,
        key_id: &Id,
        rotation: &KeyRotation,
        now: DateTime<Utc>,
    ) -> Result<ApiKey, StoreError> {
        let (org_id, key_id) = (org_id.clone(), key_id.clone());
        let KeyRotation { new_secret, display_prefix, last4, old_valid_until } = rotation.clone();
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut key = get_key_tx(&tx, &org_id, &key_id)?.ok_or(StoreError::NotFound("api key"))?;
            if key.revoked_at.is_some() {
                return Err(StoreError::Conflict("api key revoked").into());
            }
            // Secrets already in a grace period end now; only the one current until now gets one.
            tx.execute(
                "UPDATE api_key_secrets SET valid_until = ?2 WHERE key_id = ?1 AND valid_until IS NOT NULL AND valid_until > ?2",
                params![key_id.as_str(), ms(now)],
            )?;
            tx.execute(
                "UPDATE api_key_secrets SET valid_until = ?2 WHERE key_id = ?1 AND valid_until IS NULL",
                params![key_id.as_str(), ms(old_valid_until)],
            )?;
            insert_secret(&tx, &new_secret)?;
            tx.execute(
                "UPDATE api_keys SET display_prefix = ?2, last4 = ?3, rotated_at = ?4 WHERE id = ?1",
                params![key_id.as_str(), display_prefix, last4, ms(now)],
            )?;
            tx.commit()?;
            key.display_prefix = display_prefix;
            key.last4 = last4;
            key.rotated_at = Some(now);
            Ok(key)
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn find_api_key_by_hash(&self, hash: &TokenHash) -> Result<Option<(ApiKey, KeySecret)>, StoreError> {
        let hash = hash.clone();
        self.call(move |c| {
            Ok(c.query_row(
                &format!(
                    "SELECT {KEY_COLS}, s.hash, s.key_id, s.org_id, s.created_at, s.valid_until \
                     FROM api_key_secrets s JOIN api_keys k ON k.id = s.key_id WHERE s.hash = ?1"
                ),
                [hash.as_str()],
                |r| {
                    Ok((
                        key_from_row(r)?,
                        KeySecret {
                            hash: TokenHash::from_hex(r.get::<_, String>(KEY_COL_COUNT)?),
                            key_id: get_id(r, KEY_COL_COUNT + 1)?,
                            org_id: get_id(r, KEY_COL_COUNT + 2)?,
                            created_at: get_ts(r, KEY_COL_COUNT + 3)?,
                            valid_until: get_opt_ts(r, KEY_COL_COUNT + 4)?,
                        },
                    ))
                },
            )
            .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn revoke_all_api_keys(&self, org_id: &Id, now: DateTime<Utc>) -> Result<u32, StoreError> {
        let org_id = org_id.clone();
        self.call(move |c| {
            let n = c.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE org_id = ?1 AND revoked_at IS NULL",
                params![org_id.as_str(), ms(now)],
            )?;
            Ok(n as u32)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, key_id = %key_id), err(level = "debug"))]
    async fn mark_api_key_used(&self, org_id: &Id, key_id: &Id, at: DateTime<Utc>) -> Result<(), StoreError> {
        let (org_id, key_id) = (org_id.clone(), key_id.clone());
        self.call(move |c| {
            c.execute(super::usage::MARK_KEY_USED, params![org_id.as_str(), key_id.as_str(), ms(at)])?;
            Ok(())
        })
        .await
    }
}

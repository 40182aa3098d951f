//! `SessionRepository`: refresh-token families and one-time action tokens.

use super::{exists_on_conflict, get_enum, get_id, get_opt_ts, get_ts, ms, opt_ms, SqliteStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};
use tollgate_domain::{
    ActionToken, ActionTokenKind, Id, RefreshFamily, RefreshToken, RotateOutcome, SessionRepository, StoreError,
    StoredEnum, TokenHash,
};

/// Columns 0..=5 of `refresh_tokens`, 6..=10 of `refresh_families`.
fn token_and_family(r: &Row<'_>) -> rusqlite::Result<(RefreshToken, RefreshFamily)> {
    Ok((
        RefreshToken {
            hash: TokenHash::from_hex(r.get::<_, String>(0)?),
            family_id: get_id(r, 1)?,
            user_id: get_id(r, 2)?,
            created_at: get_ts(r, 3)?,
            expires_at: get_ts(r, 4)?,
            rotated_at: get_opt_ts(r, 5)?,
        },
        RefreshFamily {
            id: get_id(r, 6)?,
            user_id: get_id(r, 7)?,
            created_at: get_ts(r, 8)?,
            revoked_at: get_opt_ts(r, 9)?,
            revoked_reason: r.get(10)?,
        },
    ))
}

fn insert_token(tx: &rusqlite::Transaction<'_>, t: &RefreshToken) -> Result<(), super::DbError> {
    tx.execute(
        "INSERT INTO refresh_tokens (hash, family_id, user_id, created_at, expires_at, rotated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            t.hash.as_str(),
            t.family_id.as_str(),
            t.user_id.as_str(),
            ms(t.created_at),
            ms(t.expires_at),
            opt_ms(t.rotated_at)
        ],
    )
    .map_err(exists_on_conflict("refresh token"))?;
    Ok(())
}

#[async_trait]
impl SessionRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(family_id = %family.id, user_id = %family.user_id), err(level = "debug"))]
    async fn create_family(&self, family: &RefreshFamily, first: &RefreshToken) -> Result<(), StoreError> {
        let (family, first) = (family.clone(), first.clone());
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO refresh_families (id, user_id, created_at, revoked_at, revoked_reason) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    family.id.as_str(),
                    family.user_id.as_str(),
                    ms(family.created_at),
                    opt_ms(family.revoked_at),
                    family.revoked_reason
                ],
            )
            .map_err(exists_on_conflict("refresh family"))?;
            insert_token(&tx, &first)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn find_refresh_token(&self, hash: &TokenHash) -> Result<Option<(RefreshToken, RefreshFamily)>, StoreError> {
        let hash = hash.clone();
        self.call(move |c| {
            Ok(c.query_row(
                "SELECT t.hash, t.family_id, t.user_id, t.created_at, t.expires_at, t.rotated_at, \
                        f.id, f.user_id, f.created_at, f.revoked_at, f.revoked_reason \
                 FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = ?1",
                [hash.as_str()],
                token_and_family,
            )
            .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(family_id = %new.family_id), err(level = "debug"))]
    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        new: &RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<RotateOutcome, StoreError> {
        let (old, new) = (old.clone(), new.clone());
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let rotated: Option<Option<i64>> = tx
                .query_row("SELECT rotated_at FROM refresh_tokens WHERE hash = ?1", [old.as_str()], |r| r.get(0))
                .optional()?;
            match rotated {
                None => Err(StoreError::NotFound("refresh token").into()),
                Some(Some(_)) => Ok(RotateOutcome::AlreadyRotated),
                Some(None) => {
                    tx.execute(
                        "UPDATE refresh_tokens SET rotated_at = ?2 WHERE hash = ?1",
                        params![old.as_str(), ms(now)],
                    )?;
                    insert_token(&tx, &new)?;
                    tx.commit()?;
                    Ok(RotateOutcome::Rotated)
                }
            }
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(family_id = %family_id, reason = %reason), err(level = "debug"))]
    async fn revoke_family(&self, family_id: &Id, reason: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let (family_id, reason) = (family_id.clone(), reason.to_string());
        self.call(move |c| {
            // Only an unrevoked family changes, so the first reason and time are kept.
            c.execute(
                "UPDATE refresh_families SET revoked_at = ?2, revoked_reason = ?3 WHERE id = ?1 AND revoked_at IS NULL",
                params![family_id.as_str(), ms(now), reason],
            )?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id, reason = %reason), err(level = "debug"))]
    async fn revoke_user_families(
        &self,
        user_id: &Id,
        keep: Option<&Id>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let (user_id, keep, reason) = (user_id.clone(), keep.cloned(), reason.to_string());
        self.call(move |c| {
            let n = c.execute(
                "UPDATE refresh_families SET revoked_at = ?2, revoked_reason = ?3 \
                 WHERE user_id = ?1 AND revoked_at IS NULL AND (?4 IS NULL OR id <> ?4)",
                params![user_id.as_str(), ms(now), reason, keep.as_ref().map(Id::as_str)],
            )?;
            Ok(n as u32)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %token.user_id, kind = token.kind.as_str()), err(level = "debug"))]
    async fn create_action_token(&self, token: &ActionToken) -> Result<(), StoreError> {
        let token = token.clone();
        self.call(move |c| {
            c.execute(
                "INSERT INTO action_tokens (hash, kind, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    token.hash.as_str(),
                    token.kind.as_str(),
                    token.user_id.as_str(),
                    ms(token.created_at),
                    ms(token.expires_at)
                ],
            )
            .map_err(exists_on_conflict("action token"))?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(kind = kind.as_str()), err(level = "debug"))]
    async fn consume_action_token(
        &self,
        hash: &TokenHash,
        kind: ActionTokenKind,
        now: DateTime<Utc>,
    ) -> Result<Option<ActionToken>, StoreError> {
        let hash = hash.clone();
        self.call(move |c| {
            // One conditional statement: two concurrent consumers cannot both match `used_at IS NULL`.
            Ok(c.query_row(
                "UPDATE action_tokens SET used_at = ?3 \
                 WHERE hash = ?1 AND kind = ?2 AND used_at IS NULL AND expires_at > ?3 \
                 RETURNING hash, kind, user_id, created_at, expires_at",
                params![hash.as_str(), kind.as_str(), ms(now)],
                |r| {
                    Ok(ActionToken {
                        hash: TokenHash::from_hex(r.get::<_, String>(0)?),
                        kind: get_enum(r, 1, ActionTokenKind::parse)?,
                        user_id: get_id(r, 2)?,
                        created_at: get_ts(r, 3)?,
                        expires_at: get_ts(r, 4)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }
}

//! `MfaRepository`: one row per user in `mfa_enrollments` (the TOTP secret in clear: codes
//! are verified with it), the unused recovery codes as hashes in `mfa_recovery_codes`.

use super::{get_id, get_opt_ts, get_ts, ms, DbError, SqliteStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use tollgate_domain::{Id, MfaEnrollment, MfaRepository, StoreError, TokenHash};

#[async_trait]
impl MfaRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    async fn get_mfa(&self, user_id: &Id) -> Result<Option<MfaEnrollment>, StoreError> {
        let user_id = user_id.clone();
        self.call(move |c| {
            Ok(c.prepare_cached(
                "SELECT user_id, secret, created_at, confirmed_at, last_used_step FROM mfa_enrollments \
                 WHERE user_id = ?1",
            )?
            .query_row([user_id.as_str()], |r| {
                Ok(MfaEnrollment {
                    user_id: get_id(r, 0)?,
                    secret: r.get(1)?,
                    created_at: get_ts(r, 2)?,
                    confirmed_at: get_opt_ts(r, 3)?,
                    last_used_step: r.get::<_, Option<i64>>(4)?.map(|s| s as u64),
                })
            })
            .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %enrollment.user_id), err(level = "debug"))]
    async fn start_mfa_enrollment(&self, enrollment: &MfaEnrollment) -> Result<(), StoreError> {
        let e = enrollment.clone();
        self.call(move |c| {
            // The upsert's WHERE leaves a confirmed row alone: no change means it was confirmed.
            let changed = c.execute(
                "INSERT INTO mfa_enrollments (user_id, secret, created_at, confirmed_at, last_used_step) \
                 VALUES (?1, ?2, ?3, NULL, NULL) \
                 ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, \
                 last_used_step = NULL WHERE confirmed_at IS NULL",
                params![e.user_id.as_str(), e.secret, ms(e.created_at)],
            )?;
            if changed == 0 {
                return Err(DbError(StoreError::Conflict("2fa already enabled")));
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    async fn confirm_mfa(
        &self,
        user_id: &Id,
        secret: &str,
        step: u64,
        recovery_codes: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (user_id, secret, codes) = (user_id.clone(), secret.to_string(), recovery_codes.to_vec());
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let changed = tx.execute(
                "UPDATE mfa_enrollments SET confirmed_at = ?3, last_used_step = ?4 \
                 WHERE user_id = ?1 AND secret = ?2 AND confirmed_at IS NULL",
                params![user_id.as_str(), secret, ms(now), step as i64],
            )?;
            if changed == 0 {
                return Err(DbError(StoreError::Conflict("2fa enrollment changed")));
            }
            tx.execute("DELETE FROM mfa_recovery_codes WHERE user_id = ?1", [user_id.as_str()])?;
            {
                let mut insert = tx.prepare_cached("INSERT INTO mfa_recovery_codes (user_id, hash) VALUES (?1, ?2)")?;
                for code in &codes {
                    insert.execute(params![user_id.as_str(), code.as_str()])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    async fn use_totp_step(&self, user_id: &Id, step: u64) -> Result<bool, StoreError> {
        let user_id = user_id.clone();
        self.call(move |c| {
            // One conditional statement: of two callers with the same step only one matches.
            let changed = c.execute(
                "UPDATE mfa_enrollments SET last_used_step = ?2 \
                 WHERE user_id = ?1 AND (last_used_step IS NULL OR last_used_step < ?2)",
                params![user_id.as_str(), step as i64],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    async fn consume_recovery_code(&self, user_id: &Id, hash: &TokenHash) -> Result<bool, StoreError> {
        let (user_id, hash) = (user_id.clone(), hash.clone());
        self.call(move |c| {
            let deleted = c.execute(
                "DELETE FROM mfa_recovery_codes WHERE user_id = ?1 AND hash = ?2",
                params![user_id.as_str(), hash.as_str()],
            )?;
            Ok(deleted == 1)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    async fn recovery_codes_left(&self, user_id: &Id) -> Result<u32, StoreError> {
        let user_id = user_id.clone();
        self.call(move |c| {
            Ok(c.query_row("SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = ?1", [user_id.as_str()], |r| {
                r.get(0)
            })?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    async fn delete_mfa(&self, user_id: &Id) -> Result<(), StoreError> {
        let user_id = user_id.clone();
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM mfa_recovery_codes WHERE user_id = ?1", [user_id.as_str()])?;
            tx.execute("DELETE FROM mfa_enrollments WHERE user_id = ?1", [user_id.as_str()])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

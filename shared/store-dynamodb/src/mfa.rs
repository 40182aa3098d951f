//! `MfaRepository` (see docs/dynamodb.md): items in the user's partition. The enrolment is
//! `USER#<user>` / `MFA` (the TOTP secret in clear: codes are verified with it; the table's
//! server-side encryption protects it); each unused recovery code is `USER#<user>` /
//! `MFARECOVERY#<sha256>`, deleted when used.

use crate::item::{key, n, s, time, Item, ItemBuilder, Reader};
use crate::keys::user_pk;
use crate::ops::{is_condition_failed, sdk_error, Params};
use crate::DynamoStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tollgate_domain::{Id, MfaEnrollment, MfaRepository, StoreError, TokenHash};

/// Sort key of the enrolment in the user's partition.
const MFA_SK: &str = "MFA";
/// Sort-key prefix of the recovery codes in the user's partition.
const RECOVERY_PREFIX: &str = "MFARECOVERY#";

fn recovery_sk(hash: &TokenHash) -> String {
    format!("{RECOVERY_PREFIX}{}", hash.as_str())
}

fn decode_enrollment(item: &Item) -> Result<MfaEnrollment, StoreError> {
    let r = Reader::new(item, "mfa enrollment");
    Ok(MfaEnrollment {
        user_id: r.id("user_id")?,
        secret: r.string("secret")?,
        created_at: r.time("created_at")?,
        confirmed_at: r.opt_time("confirmed_at")?,
        last_used_step: r.opt_num("last_used_step")?,
    })
}

impl DynamoStore {
    /// The keys of the user's recovery-code items.
    async fn recovery_code_keys(&self, user_id: &Id) -> Result<Vec<Item>, StoreError> {
        let items = self.query_prefix("Query(mfa recovery codes)", user_pk(user_id), RECOVERY_PREFIX).await?;
        Ok(items.into_iter().filter_map(|i| Some(key(i.get("PK")?.as_s().ok()?, i.get("SK")?.as_s().ok()?))).collect())
    }
}

#[async_trait]
impl MfaRepository for DynamoStore {
    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    async fn get_mfa(&self, user_id: &Id) -> Result<Option<MfaEnrollment>, StoreError> {
        let item = self.get("GetItem(mfa enrollment)", key(user_pk(user_id), MFA_SK)).await?;
        item.as_ref().map(decode_enrollment).transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %enrollment.user_id), err(level = "debug"))]
    async fn start_mfa_enrollment(&self, enrollment: &MfaEnrollment) -> Result<(), StoreError> {
        let item = ItemBuilder::new(user_pk(&enrollment.user_id), MFA_SK)
            .s("user_id", enrollment.user_id.as_str())
            .s("secret", enrollment.secret.as_str())
            .time("created_at", enrollment.created_at)
            .build();
        // Replaces an unconfirmed enrolment, never a confirmed one.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(confirmed_at)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(StoreError::Conflict("2fa already enabled")),
            Err(e) => Err(sdk_error("PutItem(mfa enrollment)", e)),
        }
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
        // Codes left over from an earlier enrolment (a disable interrupted half way) are
        // deleted in the same transaction, so only the new ones ever work.
        let stale = self.recovery_code_keys(user_id).await?;
        let fresh: std::collections::HashSet<String> = recovery_codes.iter().map(recovery_sk).collect();
        let mut items = vec![self.tx_update(
            key(user_pk(user_id), MFA_SK),
            "SET confirmed_at = :now, last_used_step = :step",
            Some("secret = :secret AND attribute_not_exists(confirmed_at)"),
            Params::new().value(":now", time(now)).value(":step", n(step)).value(":secret", s(secret)),
        )?];
        for k in stale {
            // A transaction may not touch one item twice: a new code's item is put below.
            if k.get("SK").and_then(|v| v.as_s().ok()).is_some_and(|sk| fresh.contains(sk)) {
                continue;
            }
            items.push(self.tx_delete(k, None, Params::new())?);
        }
        for hash in recovery_codes {
            let item = ItemBuilder::new(user_pk(user_id), recovery_sk(hash)).s("user_id", user_id.as_str()).build();
            items.push(self.tx_put(item, None, Params::new())?);
        }
        match self.transact("TransactWriteItems(confirm_mfa)", items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Conflict("2fa enrollment changed")),
        }
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    async fn use_totp_step(&self, user_id: &Id, step: u64) -> Result<bool, StoreError> {
        // One conditional update: of two callers with the same step only one holds.
        self.update_if(
            "UpdateItem(mfa step)",
            key(user_pk(user_id), MFA_SK),
            "SET last_used_step = :step",
            "attribute_exists(PK) AND (attribute_not_exists(last_used_step) OR last_used_step < :step)",
            Params::new().value(":step", n(step)),
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    async fn consume_recovery_code(&self, user_id: &Id, hash: &TokenHash) -> Result<bool, StoreError> {
        // A conditional delete succeeds for exactly one caller.
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), recovery_sk(hash))))
            .condition_expression("attribute_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_error("DeleteItem(mfa recovery code)", e)),
        }
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    async fn recovery_codes_left(&self, user_id: &Id) -> Result<u32, StoreError> {
        Ok(self.recovery_code_keys(user_id).await?.len() as u32)
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    async fn delete_mfa(&self, user_id: &Id) -> Result<(), StoreError> {
        // The codes first: should this stop half way, the enrolment is still on and a later
        // disable finishes; the next confirmation deletes any code left over anyway.
        for k in self.recovery_code_keys(user_id).await? {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(k))
                .send()
                .await
                .map_err(|e| sdk_error("DeleteItem(mfa recovery code)", e))?;
        }
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), MFA_SK)))
            .send()
            .await
            .map_err(|e| sdk_error("DeleteItem(mfa enrollment)", e))?;
        Ok(())
    }
}

//! `SessionRepository`: refresh-token families, refresh tokens and one-time action tokens.

use crate::item::{key, s, time, ttl, Item, ItemBuilder, Reader, GSI1, TTL};
use crate::keys::*;
use crate::ops::{is_condition_failed, sdk_error, Params, NEW_ITEM};
use crate::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use tollgate_domain::{
    ActionToken, ActionTokenKind, Id, RefreshFamily, RefreshToken, RotateOutcome, SessionRepository, StoreError,
    StoredEnum, TokenHash,
};

/// The family item, kept (`ttl`) until `last_token_expires`: a family outlives none of its
/// tokens, and each rotation moves its `ttl` on to the new token's expiry.
fn family_item(f: &RefreshFamily, last_token_expires: DateTime<Utc>) -> Item {
    ItemBuilder::new(family_pk(&f.id), FAMILY_SK)
        .s("id", f.id.as_str())
        .s("user_id", f.user_id.as_str())
        .time("created_at", f.created_at)
        .opt_time("revoked_at", f.revoked_at)
        .opt_s("revoked_reason", f.revoked_reason.as_deref())
        .gsi1(user_pk(&f.user_id), family_gsi_sk(f.created_at, &f.id))
        .ttl(last_token_expires)
        .build()
}

fn decode_family(item: &Item) -> Result<RefreshFamily, StoreError> {
    let r = Reader::new(item, "refresh family");
    Ok(RefreshFamily {
        id: r.id("id")?,
        user_id: r.id("user_id")?,
        created_at: r.time("created_at")?,
        revoked_at: r.opt_time("revoked_at")?,
        revoked_reason: r.opt_string("revoked_reason")?,
    })
}

fn token_item(t: &RefreshToken) -> Item {
    ItemBuilder::new(rtoken_pk(&t.hash), RTOKEN_SK)
        .s("hash", t.hash.as_str())
        .s("family_id", t.family_id.as_str())
        .s("user_id", t.user_id.as_str())
        .time("created_at", t.created_at)
        .time("expires_at", t.expires_at)
        .opt_time("rotated_at", t.rotated_at)
        .ttl(t.expires_at)
        .build()
}

fn decode_token(item: &Item) -> Result<RefreshToken, StoreError> {
    let r = Reader::new(item, "refresh token");
    Ok(RefreshToken {
        hash: TokenHash::from_hex(r.s("hash")?),
        family_id: r.id("family_id")?,
        user_id: r.id("user_id")?,
        created_at: r.time("created_at")?,
        expires_at: r.time("expires_at")?,
        rotated_at: r.opt_time("rotated_at")?,
    })
}

fn decode_action_token(item: &Item) -> Result<ActionToken, StoreError> {
    let r = Reader::new(item, "action token");
    Ok(ActionToken {
        hash: TokenHash::from_hex(r.s("hash")?),
        kind: r.parsed("kind", ActionTokenKind::parse)?,
        user_id: r.id("user_id")?,
        created_at: r.time("created_at")?,
        expires_at: r.time("expires_at")?,
    })
}

impl DynamoStore {
    /// Sets `revoked_at`/`revoked_reason` unless the family is already revoked. True if this
    /// call revoked it.
    async fn revoke_family_once(&self, family_id: &Id, reason: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.update_if(
            "UpdateItem(refresh family)",
            key(family_pk(family_id), FAMILY_SK),
            "SET revoked_at = :now, revoked_reason = :reason",
            "attribute_exists(PK) AND attribute_not_exists(revoked_at)",
            Params::new().value(":now", time(now)).value(":reason", s(reason)),
        )
        .await
    }
}

#[async_trait]
impl SessionRepository for DynamoStore {
    #[tracing::instrument(skip_all, fields(family_id = %family.id, user_id = %family.user_id), err(level = "debug"))]
    async fn create_family(&self, family: &RefreshFamily, first: &RefreshToken) -> Result<(), StoreError> {
        let items = vec![
            self.tx_put(family_item(family, first.expires_at), Some(NEW_ITEM), Params::new())?,
            self.tx_put(token_item(first), Some(NEW_ITEM), Params::new())?,
        ];
        match self.transact("TransactWriteItems(create_family)", items).await? {
            Ok(()) => Ok(()),
            Err(c) if c.failed(0) => Err(StoreError::AlreadyExists("refresh family")),
            Err(c) if c.failed(1) => Err(StoreError::AlreadyExists("refresh token")),
            Err(_) => Err(StoreError::Conflict("session created concurrently")),
        }
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn find_refresh_token(&self, hash: &TokenHash) -> Result<Option<(RefreshToken, RefreshFamily)>, StoreError> {
        let Some(item) = self.get("GetItem(refresh token)", key(rtoken_pk(hash), RTOKEN_SK)).await? else {
            return Ok(None);
        };
        let token = decode_token(&item)?;
        match self.get("GetItem(refresh family)", key(family_pk(&token.family_id), FAMILY_SK)).await? {
            Some(f) => Ok(Some((token, decode_family(&f)?))),
            None => Err(StoreError::Corrupt(format!("refresh token of missing family {}", token.family_id))),
        }
    }

    #[tracing::instrument(skip_all, fields(family_id = %new.family_id), err(level = "debug"))]
    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        new: &RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<RotateOutcome, StoreError> {
        let mark_rotated = self.tx_update(
            key(rtoken_pk(old), RTOKEN_SK),
            "SET rotated_at = :now",
            Some("attribute_exists(PK) AND attribute_not_exists(rotated_at)"),
            Params::new().value(":now", time(now)),
        )?;
        let store_new = self.tx_put(token_item(new), Some(NEW_ITEM), Params::new())?;
        // The family lives as long as its newest token (TTL); without the condition an
        // update of a missing family would create a bare item.
        let extend_family = self.tx_update(
            key(family_pk(&new.family_id), FAMILY_SK),
            "SET #ttl = :ttl",
            Some("attribute_exists(PK)"),
            Params::new().name("#ttl", TTL).value(":ttl", ttl(new.expires_at)),
        )?;
        let items = vec![mark_rotated, store_new, extend_family];
        let cancelled = match self.transact("TransactWriteItems(rotate_refresh_token)", items).await? {
            Ok(()) => return Ok(RotateOutcome::Rotated),
            Err(c) => c,
        };
        if !cancelled.failed(0) {
            return Err(if cancelled.failed(1) {
                StoreError::AlreadyExists("refresh token")
            } else if cancelled.failed(2) {
                StoreError::Corrupt(format!("refresh token of missing family {}", new.family_id))
            } else {
                StoreError::Conflict("refresh token rotated concurrently")
            });
        }
        // Which half of the condition failed: the old item comes back with the reason
        // (ReturnValuesOnConditionCheckFailure); read it if the backend did not send it.
        let old_item = match cancelled.old_item(0) {
            Some(item) => Some(item.clone()),
            None => self.get("GetItem(refresh token)", key(rtoken_pk(old), RTOKEN_SK)).await?,
        };
        match old_item {
            Some(item) if decode_token(&item)?.rotated_at.is_some() => Ok(RotateOutcome::AlreadyRotated),
            Some(_) => Err(StoreError::Conflict("refresh token changed concurrently")),
            None => Err(StoreError::NotFound("refresh token")),
        }
    }

    #[tracing::instrument(skip_all, fields(family_id = %family_id, reason = %reason), err(level = "debug"))]
    async fn revoke_family(&self, family_id: &Id, reason: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        // Unknown families and already revoked ones are both "nothing to do".
        self.revoke_family_once(family_id, reason, now).await.map(|_| ())
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id, reason = %reason), err(level = "debug"))]
    async fn revoke_user_families(
        &self,
        user_id: &Id,
        keep: Option<&Id>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let q = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk AND begins_with(GSI1SK, :prefix)")
            .filter_expression("attribute_not_exists(revoked_at)")
            .expression_attribute_values(":pk", s(user_pk(user_id)))
            .expression_attribute_values(":prefix", s(FAMILY_GSI_PREFIX));
        let mut revoked = 0;
        for item in self.query_all("Query(refresh families)", q).await? {
            let family = decode_family(&item)?;
            if Some(&family.id) == keep {
                continue;
            }
            // Conditional per family, so a concurrent revocation is not counted twice.
            if self.revoke_family_once(&family.id, reason, now).await? {
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    #[tracing::instrument(skip_all, fields(user_id = %token.user_id, kind = token.kind.as_str()), err(level = "debug"))]
    async fn create_action_token(&self, token: &ActionToken) -> Result<(), StoreError> {
        let item = ItemBuilder::new(atoken_pk(&token.hash), ATOKEN_SK)
            .s("hash", token.hash.as_str())
            .s("kind", token.kind.as_str())
            .s("user_id", token.user_id.as_str())
            .time("created_at", token.created_at)
            .time("expires_at", token.expires_at)
            .ttl(token.expires_at)
            .build();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(NEW_ITEM)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(StoreError::AlreadyExists("action token")),
            Err(e) => Err(sdk_error("PutItem(action token)", e)),
        }
    }

    #[tracing::instrument(skip_all, fields(kind = kind.as_str()), err(level = "debug"))]
    async fn consume_action_token(
        &self,
        hash: &TokenHash,
        kind: ActionTokenKind,
        now: DateTime<Utc>,
    ) -> Result<Option<ActionToken>, StoreError> {
        // One conditional delete: it succeeds for exactly one caller, and only while the token
        // is unexpired (checked here because TTL deletion is late or, on emulators, never).
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(atoken_pk(hash), ATOKEN_SK)))
            .condition_expression("attribute_exists(PK) AND #kind = :kind AND expires_at > :now")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_values(":kind", s(kind.as_str()))
            .expression_attribute_values(":now", time(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => match out.attributes {
                Some(item) if !item.is_empty() => decode_action_token(&item).map(Some),
                _ => Err(StoreError::Corrupt("consumed action token came back empty".into())),
            },
            Err(e) if is_condition_failed(&e) => Ok(None),
            Err(e) => Err(sdk_error("DeleteItem(action token)", e)),
        }
    }
}

//! `ApiKeyRepository`: API keys in their organization's partition, plus one lookup item per
//! live secret hash carrying a copy of the key, so the gateway's lookup is one GetItem.

use crate::item::{key, n, s, Item, ItemBuilder, Reader};
use crate::keys::*;
use crate::ops::{backoff, Cancelled, Params, NEW_ITEM};
use crate::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Duration, Utc};
use tollgate_domain::{
    ApiKey, ApiKeyRepository, ApiKeyStatus, Id, KeyRotation, KeySecret, Project, StoreError, TokenHash,
};

/// Optimistic-concurrency retries (create under contention, or revoke/rotate racing).
/// Every round has a winner, so this bounds how many writers may contend at once.
const MAX_ATTEMPTS: u32 = 40;

/// How long a rotated-out secret's lookup item outlives its grace period, so a late caller
/// gets "key rotated" rather than "unknown key" (DynamoDB TTL removes it afterwards).
const ROTATED_SECRET_KEEP: Duration = Duration::days(7);

/// A key as stored: the metadata, its live secrets and the revision that guards updates.
struct StoredKey {
    key: ApiKey,
    rev: u64,
    current: KeySecret,
    previous: Option<KeySecret>,
}

fn with_key_fields(b: ItemBuilder, k: &ApiKey) -> ItemBuilder {
    b.s("id", k.id.as_str())
        .s("org_id", k.org_id.as_str())
        .s("project_id", k.project_id.as_str())
        .s("created_by", k.created_by.as_str())
        .s("name", &k.name)
        .s("display_prefix", &k.display_prefix)
        .s("last4", &k.last4)
        .time("created_at", k.created_at)
        .opt_time("last_used_at", k.last_used_at)
        .opt_time("expires_at", k.expires_at)
        .opt_time("revoked_at", k.revoked_at)
        .opt_time("rotated_at", k.rotated_at)
        // A JSON array of names, absent for a key that may call every endpoint.
        .opt_s("scopes", k.scopes.as_ref().map(|v| serde_json::to_string(v).expect("names serialise")))
}

fn decode_key_fields(r: &Reader) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: r.id("id")?,
        org_id: r.id("org_id")?,
        // Keys from before projects existed belong to their organization's default project.
        project_id: match r.opt_id("project_id")? {
            Some(id) => id,
            None => Project::default_id(&r.id("org_id")?),
        },
        created_by: r.id("created_by")?,
        name: r.string("name")?,
        display_prefix: r.string("display_prefix")?,
        last4: r.string("last4")?,
        created_at: r.time("created_at")?,
        last_used_at: r.opt_time("last_used_at")?,
        expires_at: r.opt_time("expires_at")?,
        revoked_at: r.opt_time("revoked_at")?,
        rotated_at: r.opt_time("rotated_at")?,
        scopes: r.opt_json("scopes")?,
    })
}

fn key_item(st: &StoredKey) -> Item {
    let b = ItemBuilder::new(org_pk(&st.key.org_id), apikey_sk(&st.key.id))
        .n("rev", st.rev)
        .s("cur_hash", st.current.hash.as_str())
        .time("cur_created_at", st.current.created_at);
    let b = match &st.previous {
        Some(p) => b
            .s("prev_hash", p.hash.as_str())
            .time("prev_created_at", p.created_at)
            .opt_time("prev_valid_until", p.valid_until),
        None => b,
    };
    with_key_fields(b, &st.key).build()
}

fn decode_stored(item: &Item) -> Result<StoredKey, StoreError> {
    let r = Reader::new(item, "api key");
    let key = decode_key_fields(&r)?;
    let secret = |hash: &str, created_at, valid_until| KeySecret {
        hash: TokenHash::from_hex(hash),
        key_id: key.id.clone(),
        org_id: key.org_id.clone(),
        created_at,
        valid_until,
    };
    let current = secret(r.s("cur_hash")?, r.time("cur_created_at")?, None);
    let previous = match r.opt_s("prev_hash")? {
        Some(h) => Some(secret(h, r.time("prev_created_at")?, r.opt_time("prev_valid_until")?)),
        None => None,
    };
    Ok(StoredKey { rev: r.u64_or_zero("rev")?, key, current, previous })
}

/// The lookup item of one secret: the secret plus a copy of the key.
fn hash_item(k: &ApiKey, secret: &KeySecret) -> Item {
    let b = ItemBuilder::new(keyhash_pk(&secret.hash), KEYHASH_SK)
        .time("secret_created_at", secret.created_at)
        .opt_time("secret_valid_until", secret.valid_until);
    let b = match secret.valid_until {
        Some(until) => b.ttl(until + ROTATED_SECRET_KEEP),
        None => b,
    };
    with_key_fields(b, k).build()
}

fn decode_hash_item(hash: &TokenHash, item: &Item) -> Result<(ApiKey, KeySecret), StoreError> {
    let r = Reader::new(item, "api key secret");
    let key = decode_key_fields(&r)?;
    let secret = KeySecret {
        hash: hash.clone(),
        key_id: key.id.clone(),
        org_id: key.org_id.clone(),
        created_at: r.time("secret_created_at")?,
        valid_until: r.opt_time("secret_valid_until")?,
    };
    Ok((key, secret))
}

impl DynamoStore {
    async fn get_stored_key(&self, org_id: &Id, key_id: &Id) -> Result<Option<StoredKey>, StoreError> {
        self.get("GetItem(api key)", key(org_pk(org_id), apikey_sk(key_id)))
            .await?
            .as_ref()
            .map(decode_stored)
            .transpose()
    }

    async fn org_keys(&self, org_id: &Id) -> Result<Vec<StoredKey>, StoreError> {
        self.query_prefix("Query(api keys)", org_pk(org_id), APIKEY_PREFIX).await?.iter().map(decode_stored).collect()
    }

    /// Writes `new` over the stored revision `new.rev - 1`, refreshing the copies in its
    /// secrets' lookup items, adding the lookup item of `fresh` and deleting those of `dropped`.
    /// Ok(false) if the key changed since it was read.
    async fn replace_key(
        &self,
        op: &'static str,
        new: &StoredKey,
        fresh: Option<&KeySecret>,
        dropped: Option<&KeySecret>,
    ) -> Result<bool, StoreError> {
        let mut items =
            vec![self.tx_put(key_item(new), Some("rev = :rev"), Params::new().value(":rev", n(new.rev - 1)))?];
        for secret in std::iter::once(&new.current).chain(new.previous.as_ref()) {
            let is_fresh = fresh.is_some_and(|f| f.hash == secret.hash);
            items.push(self.tx_put(hash_item(&new.key, secret), is_fresh.then_some(NEW_ITEM), Params::new())?);
        }
        if let Some(d) = dropped {
            items.push(self.tx_delete(key(keyhash_pk(&d.hash), KEYHASH_SK), None, Params::new())?);
        }
        match self.transact(op, items).await? {
            Ok(()) => Ok(true),
            Err(c) if c.failed(0) || c.conflict() => Ok(false),
            Err(_) => Err(StoreError::AlreadyExists("api key secret")),
        }
    }

    /// Revokes one key; `(key, true)` if this call revoked it, `(key, false)` if it already was.
    async fn revoke_key(&self, org_id: &Id, key_id: &Id, now: DateTime<Utc>) -> Result<(ApiKey, bool), StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            let Some(mut st) = self.get_stored_key(org_id, key_id).await? else {
                return Err(StoreError::NotFound("api key"));
            };
            if st.key.revoked_at.is_some() {
                return Ok((st.key, false));
            }
            st.key.revoked_at = Some(now);
            st.rev += 1;
            // The lookup items are rewritten with `revoked_at` in the same transaction, so the
            // gateway's next lookup sees the revocation.
            if self.replace_key("TransactWriteItems(revoke_api_key)", &st, None, None).await? {
                return Ok((st.key, true));
            }
            backoff(attempt, 3).await;
        }
        Err(StoreError::Conflict("api key changed concurrently"))
    }

    /// Revokes every unrevoked key of the organization (of one of its projects when
    /// `project_id` is given); returns how many this call revoked.
    pub(crate) async fn revoke_keys_of(
        &self,
        org_id: &Id,
        project_id: Option<&Id>,
        now: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let mut revoked = 0;
        for st in self.org_keys(org_id).await? {
            if st.key.revoked_at.is_none() && project_id.is_none_or(|p| *p == st.key.project_id) {
                match self.revoke_key(org_id, &st.key.id, now).await {
                    Ok((_, true)) => revoked += 1,
                    Ok((_, false)) | Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(revoked)
    }
}

#[async_trait]
impl ApiKeyRepository for DynamoStore {
    #[tracing::instrument(skip_all, fields(org_id = %key.org_id, key_id = %key.id, project_id = %key.project_id, max_active), err(level = "debug"))]
    async fn create_api_key(
        &self,
        key: &ApiKey,
        secret: &KeySecret,
        max_active: u32,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let version_key = crate::item::key(org_pk(&key.org_id), APIKEY_VERSION_SK);
        for attempt in 0..MAX_ATTEMPTS {
            // Read the version first: any creation that commits after this read bumps it and
            // makes our transaction fail; any that committed before is seen by the Query.
            let version = match self.get("GetItem(api key version)", version_key.clone()).await? {
                Some(item) => Some(Reader::new(&item, "api key version").u64_or_zero("v")?),
                None => None,
            };
            let active =
                self.org_keys(&key.org_id).await?.iter().filter(|k| k.key.status(now) == ApiKeyStatus::Active).count();
            if active >= max_active as usize {
                return Err(StoreError::LimitReached("active api keys"));
            }
            let (condition, params) = match version {
                None => ("attribute_not_exists(PK)", Params::new()),
                Some(v) => ("v = :v", Params::new().value(":v", n(v))),
            };
            let bump = self.tx_update(
                version_key.clone(),
                "SET v = :next",
                Some(condition),
                params.value(":next", n(version.unwrap_or(0) + 1)),
            )?;
            let current = KeySecret { valid_until: None, ..secret.clone() };
            let stored = StoredKey { key: key.clone(), rev: 1, current, previous: None };
            let items: Vec<TransactWriteItem> = vec![
                bump,
                self.tx_put(key_item(&stored), Some(NEW_ITEM), Params::new())?,
                self.tx_put(hash_item(key, &stored.current), Some(NEW_ITEM), Params::new())?,
                // The project exists in the key's organization and is not being deleted: a
                // delete marks it first, so no key is created in it after that.
                self.tx_condition_check(
                    crate::item::key(org_pk(&key.org_id), project_sk(&key.project_id)),
                    crate::projects::LIVE_PROJECT,
                    crate::projects::live_project_params(),
                )?,
            ];
            match self.transact("TransactWriteItems(create_api_key)", items).await? {
                Ok(()) => return Ok(()),
                Err(c) if c.failed(3) => return Err(StoreError::NotFound("project")),
                Err(c) if c.failed(1) => return Err(StoreError::AlreadyExists("api key")),
                Err(c) if c.failed(2) => return Err(StoreError::AlreadyExists("api key secret")),
                Err(Cancelled(_)) => backoff(attempt, 3).await,
            }
        }
        Err(StoreError::Conflict("api keys changed concurrently"))
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn list_api_keys(&self, org_id: &Id) -> Result<Vec<ApiKey>, StoreError> {
        let mut keys: Vec<ApiKey> = self.org_keys(org_id).await?.into_iter().map(|st| st.key).collect();
        keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        Ok(keys)
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, key_id = %key_id), err(level = "debug"))]
    async fn get_api_key(&self, org_id: &Id, key_id: &Id) -> Result<Option<ApiKey>, StoreError> {
        Ok(self.get_stored_key(org_id, key_id).await?.map(|st| st.key))
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, key_id = %key_id), err(level = "debug"))]
    async fn revoke_api_key(&self, org_id: &Id, key_id: &Id, now: DateTime<Utc>) -> Result<ApiKey, StoreError> {
        self.revoke_key(org_id, key_id, now).await.map(|(k, _)| k)
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, key_id = %key_id), err(level = "debug"))]
    async fn rotate_api_key(
        &self,
        org_id: &Id,
        key_id: &Id,
        rotation: &KeyRotation,
        now: DateTime<Utc>,
    ) -> Result<ApiKey, StoreError> {
        let KeyRotation { new_secret, display_prefix, last4, old_valid_until } = rotation;
        for attempt in 0..MAX_ATTEMPTS {
            let Some(mut st) = self.get_stored_key(org_id, key_id).await? else {
                return Err(StoreError::NotFound("api key"));
            };
            if st.key.revoked_at.is_some() {
                return Err(StoreError::Conflict("api key revoked"));
            }
            let fresh =
                KeySecret { key_id: key_id.clone(), org_id: org_id.clone(), valid_until: None, ..new_secret.clone() };
            let outgoing =
                KeySecret { valid_until: Some(*old_valid_until), ..std::mem::replace(&mut st.current, fresh.clone()) };
            // The secret before the outgoing one ends now: its lookup item goes.
            let dropped = st.previous.replace(outgoing);
            st.key.display_prefix = display_prefix.clone();
            st.key.last4 = last4.clone();
            st.key.rotated_at = Some(now);
            st.rev += 1;
            if self.replace_key("TransactWriteItems(rotate_api_key)", &st, Some(&fresh), dropped.as_ref()).await? {
                return Ok(st.key);
            }
            backoff(attempt, 3).await;
        }
        Err(StoreError::Conflict("api key changed concurrently"))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn find_api_key_by_hash(&self, hash: &TokenHash) -> Result<Option<(ApiKey, KeySecret)>, StoreError> {
        match self.get("GetItem(api key secret)", key(keyhash_pk(hash), KEYHASH_SK)).await? {
            Some(item) => decode_hash_item(hash, &item).map(Some),
            None => Ok(None),
        }
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn revoke_all_api_keys(&self, org_id: &Id, now: DateTime<Utc>) -> Result<u32, StoreError> {
        self.revoke_keys_of(org_id, None, now).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, key_id = %key_id), err(level = "debug"))]
    async fn mark_api_key_used(&self, org_id: &Id, key_id: &Id, at: DateTime<Utc>) -> Result<(), StoreError> {
        // Only the key item: the lookup items' copies need no last-use time (the gateway
        // does not read it), and the revision is left alone so this never makes a revoke
        // or rotate retry.
        // A failed condition is no error: unknown key, or an equal or later use already recorded.
        self.update_if(
            "UpdateItem(mark_api_key_used)",
            key(org_pk(org_id), apikey_sk(key_id)),
            "SET #used = :at",
            "attribute_exists(PK) AND (attribute_not_exists(#used) OR #used < :at)",
            Params::new().name("#used", "last_used_at").value(":at", s(crate::item::time_str(at))),
        )
        .await?;
        Ok(())
    }
}

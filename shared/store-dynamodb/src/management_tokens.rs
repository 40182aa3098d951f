//! `ManagementTokenRepository`: one item per token (listed on GSI1) and one lookup item per
//! secret hash naming the token, written together in one transaction.

use crate::item::{key, s, time, time_str, Item, ItemBuilder, Reader, GSI1};
use crate::keys::*;
use crate::ops::{Params, NEW_ITEM};
use crate::DynamoStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tollgate_domain::{Id, ManagementToken, ManagementTokenRepository, StoreError, TokenHash};

fn token_item(t: &ManagementToken) -> Item {
    ItemBuilder::new(mgtoken_pk(&t.id), MGTOKEN_SK)
        .gsi1(MGTOKENS_GSI_PK, format!("{}#{}", time_str(t.created_at), t.id))
        .s("id", t.id.as_str())
        .s("name", &t.name)
        .s("display_prefix", &t.display_prefix)
        .s("scopes", serde_json::to_string(&t.scopes).expect("scopes serialise"))
        .s("created_by", t.created_by.as_str())
        .time("created_at", t.created_at)
        .opt_time("expires_at", t.expires_at)
        .opt_time("revoked_at", t.revoked_at)
        .opt_time("last_used_at", t.last_used_at)
        .build()
}

fn decode_token(item: &Item) -> Result<ManagementToken, StoreError> {
    let r = Reader::new(item, "management token");
    Ok(ManagementToken {
        id: r.id("id")?,
        name: r.string("name")?,
        display_prefix: r.string("display_prefix")?,
        scopes: r.opt_json("scopes")?.unwrap_or_default(),
        created_by: r.id("created_by")?,
        created_at: r.time("created_at")?,
        expires_at: r.opt_time("expires_at")?,
        revoked_at: r.opt_time("revoked_at")?,
        last_used_at: r.opt_time("last_used_at")?,
    })
}

impl DynamoStore {
    async fn get_management_token(&self, id: &Id) -> Result<Option<ManagementToken>, StoreError> {
        self.get("GetItem(management token)", key(mgtoken_pk(id), MGTOKEN_SK))
            .await?
            .as_ref()
            .map(decode_token)
            .transpose()
    }
}

#[async_trait]
impl ManagementTokenRepository for DynamoStore {
    #[tracing::instrument(skip_all, fields(token_id = %token.id), err(level = "debug"))]
    async fn create_management_token(&self, token: &ManagementToken, hash: &TokenHash) -> Result<(), StoreError> {
        let lookup = ItemBuilder::new(mgthash_pk(hash), MGTHASH_SK).s("token_id", token.id.as_str()).build();
        let items = vec![
            self.tx_put(token_item(token), Some(NEW_ITEM), Params::new())?,
            self.tx_put(lookup, Some(NEW_ITEM), Params::new())?,
        ];
        match self.transact("TransactWriteItems(create management token)", items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::AlreadyExists("management token")),
        }
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_management_tokens(&self) -> Result<Vec<ManagementToken>, StoreError> {
        let q = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(MGTOKENS_GSI_PK))
            .scan_index_forward(false);
        let mut tokens = self
            .query_all("Query(management tokens)", q)
            .await?
            .iter()
            .map(decode_token)
            .collect::<Result<Vec<_>, _>>()?;
        // The index is eventually consistent and its order is by time text: sort exactly.
        tokens.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        Ok(tokens)
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn find_management_token_by_hash(&self, hash: &TokenHash) -> Result<Option<ManagementToken>, StoreError> {
        let Some(lookup) = self.get("GetItem(management token hash)", key(mgthash_pk(hash), MGTHASH_SK)).await? else {
            return Ok(None);
        };
        let id = Reader::new(&lookup, "management token hash").id("token_id")?;
        self.get_management_token(&id).await
    }

    #[tracing::instrument(skip_all, fields(token_id = %id), err(level = "debug"))]
    async fn revoke_management_token(&self, id: &Id, now: DateTime<Utc>) -> Result<ManagementToken, StoreError> {
        let updated = self
            .update_if(
                "UpdateItem(revoke management token)",
                key(mgtoken_pk(id), MGTOKEN_SK),
                // The first revocation's time stays.
                "SET revoked_at = if_not_exists(revoked_at, :now)",
                "attribute_exists(PK)",
                Params::new().value(":now", time(now)),
            )
            .await?;
        if !updated {
            return Err(StoreError::NotFound("management token"));
        }
        self.get_management_token(id).await?.ok_or(StoreError::NotFound("management token"))
    }

    #[tracing::instrument(skip_all, fields(token_id = %id), err(level = "debug"))]
    async fn mark_management_token_used(&self, id: &Id, at: DateTime<Utc>) -> Result<(), StoreError> {
        // Only forward, only for a token that exists: a failed condition is no error.
        self.update_if(
            "UpdateItem(management token used)",
            key(mgtoken_pk(id), MGTOKEN_SK),
            "SET last_used_at = :at",
            "attribute_exists(PK) AND (attribute_not_exists(last_used_at) OR last_used_at < :at)",
            Params::new().value(":at", time(at)),
        )
        .await?;
        Ok(())
    }
}

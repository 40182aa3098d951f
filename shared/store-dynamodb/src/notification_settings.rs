//! `NotificationSettingsRepository` (see docs/dynamodb.md): one item per organization,
//! `ORG#<org>` / `NOTIFYSETTINGS`, written whole by a PutItem (the last write wins). The
//! email map and the Slack settings are JSON strings; the Slack URL is a secret and never
//! logged.

use crate::item::{key, Item, ItemBuilder, Reader};
use crate::keys::org_pk;
use crate::ops::sdk_error;
use crate::DynamoStore;
use async_trait::async_trait;
use tollgate_domain::{Id, NotificationSettings, NotificationSettingsRepository, StoreError};

/// Sort key of the settings item in its organization's partition.
const SETTINGS_SK: &str = "NOTIFYSETTINGS";

fn settings_item(v: &NotificationSettings) -> Item {
    ItemBuilder::new(org_pk(&v.org_id), SETTINGS_SK)
        .s("org_id", v.org_id.as_str())
        .s("email", json(&v.email))
        .opt_s("slack", v.slack.as_ref().map(json))
        .time("updated_at", v.updated_at)
        .build()
}

/// JSON of an attribute (the email map and the Slack settings serialise infallibly).
fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable")
}

fn decode_settings(item: &Item) -> Result<NotificationSettings, StoreError> {
    let r = Reader::new(item, "notification settings");
    Ok(NotificationSettings {
        org_id: r.id("org_id")?,
        email: r.opt_json("email")?.unwrap_or_default(),
        slack: r.opt_json("slack")?,
        updated_at: r.time("updated_at")?,
    })
}

#[async_trait]
impl NotificationSettingsRepository for DynamoStore {
    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn get_notification_settings(&self, org_id: &Id) -> Result<Option<NotificationSettings>, StoreError> {
        let item = self.get("GetItem(notification settings)", key(org_pk(org_id), SETTINGS_SK)).await?;
        item.as_ref().map(decode_settings).transpose()
    }

    #[tracing::instrument(skip_all, fields(org_id = %settings.org_id), err(level = "debug"))]
    async fn put_notification_settings(&self, settings: &NotificationSettings) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(settings_item(settings)))
            .send()
            .await
            .map_err(|e| sdk_error("PutItem(notification settings)", e))?;
        Ok(())
    }
}

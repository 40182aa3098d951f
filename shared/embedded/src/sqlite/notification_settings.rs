//! `NotificationSettingsRepository`: one row per organization in `notification_settings`,
//! replaced whole by an upsert. The Slack URL (inside `slack`) is a secret: never logged.

use super::{get_id, get_ts, get_with, ms, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};
use tollgate_domain::{Id, NotificationSettings, NotificationSettingsRepository, SlackSettings, StoreError};

fn settings_from_row(r: &Row<'_>) -> rusqlite::Result<NotificationSettings> {
    let slack: Option<String> = r.get(2)?;
    Ok(NotificationSettings {
        org_id: get_id(r, 0)?,
        email: get_with(r, 1, |s| serde_json::from_str(&s))?,
        slack: match slack {
            Some(_) => Some(get_with(r, 2, |s| serde_json::from_str::<SlackSettings>(&s))?),
            None => None,
        },
        updated_at: get_ts(r, 3)?,
    })
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable")
}

#[async_trait]
impl NotificationSettingsRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn get_notification_settings(&self, org_id: &Id) -> Result<Option<NotificationSettings>, StoreError> {
        let org_id = org_id.clone();
        self.call(move |c| {
            Ok(c.prepare_cached(
                "SELECT org_id, email, slack, updated_at FROM notification_settings WHERE org_id = ?1",
            )?
            .query_row([org_id.as_str()], settings_from_row)
            .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %settings.org_id), err(level = "debug"))]
    async fn put_notification_settings(&self, settings: &NotificationSettings) -> Result<(), StoreError> {
        let v = settings.clone();
        self.call(move |c| {
            c.prepare_cached(
                "INSERT INTO notification_settings (org_id, email, slack, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (org_id) DO UPDATE SET email = excluded.email, slack = excluded.slack, \
                 updated_at = excluded.updated_at",
            )?
            .execute(params![
                v.org_id.as_str(),
                json(&v.email),
                v.slack.as_ref().map(json),
                ms(v.updated_at)
            ])?;
            Ok(())
        })
        .await
    }
}

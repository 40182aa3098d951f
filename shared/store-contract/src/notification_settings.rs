//! Cases for `NotificationSettingsRepository`.

use crate::{now_ms, SharedStore};
use chrono::Duration;
use std::collections::BTreeMap;
use tollgate_domain::id::prefix;
use tollgate_domain::{Id, NotificationSettings, SlackSettings};

pub async fn notification_settings_round_trip_overwrite_and_tenant_isolation(store: &SharedStore) {
    let now = now_ms();
    let (org, other_org) = (Id::generate(prefix::ORG), Id::generate(prefix::ORG));
    assert_eq!(store.get_notification_settings(&org).await.unwrap(), None, "absent until saved");

    let settings = NotificationSettings {
        org_id: org.clone(),
        email: BTreeMap::from([("quota.threshold_reached".to_string(), false), ("trial.ending".to_string(), true)]),
        slack: Some(SlackSettings {
            webhook_url: "https://hooks.slack.com/services/T000/B000/XXXX".into(),
            events: vec!["quota.exceeded".into(), "invoice.payment_failed".into()],
        }),
        updated_at: now,
    };
    store.put_notification_settings(&settings).await.expect("put_notification_settings");
    assert_eq!(store.get_notification_settings(&org).await.unwrap(), Some(settings.clone()), "exact round trip");
    assert_eq!(store.get_notification_settings(&other_org).await.unwrap(), None, "settings are per org");

    let foreign =
        NotificationSettings { email: BTreeMap::new(), slack: None, ..NotificationSettings::defaults(&other_org, now) };
    store.put_notification_settings(&foreign).await.unwrap();
    assert_eq!(store.get_notification_settings(&other_org).await.unwrap(), Some(foreign));
    assert_eq!(
        store.get_notification_settings(&org).await.unwrap(),
        Some(settings.clone()),
        "untouched by another org"
    );

    let overwritten = NotificationSettings {
        email: BTreeMap::from([("quota.exceeded".to_string(), false)]),
        slack: None,
        updated_at: now + Duration::seconds(5),
        ..settings
    };
    store.put_notification_settings(&overwritten).await.unwrap();
    assert_eq!(
        store.get_notification_settings(&org).await.unwrap(),
        Some(overwritten),
        "a put replaces the whole record (Slack removed)"
    );
}

//! Notification settings end to end on the embedded store: the routes, the email switch per
//! event type, and Slack posts to a loopback receiver (with `ALLOW_INSECURE_WEBHOOK_URLS`
//! on, as in local development) through the notifications worker's processing.

use crate::webhooks::{insecure_app, receiver_at, user, Receiver};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use tollgate_domain::{Id, Notification};
use tollgate_tests::app::TestApp;

const SETTINGS: &str = "/api/user/notifications/settings";

/// A Slack incoming webhook on loopback that records every post and answers `status`.
async fn slack_receiver(status: u16) -> Receiver {
    receiver_at("/services/T000/B000/SECRETTOKEN", &[], status).await
}

/// Puts the organization on a copy of the Free plan with `features.slack = true`.
async fn put_on_slack_plan(app: &TestApp, org: &Id) {
    crate::gateway::put_on_plan(app.state.store.as_ref(), org, |p| p.features = json!({"slack": true})).await;
}

/// A quota alert of the organization at `percent` of 50,000 units.
async fn quota_alert(app: &TestApp, org: &Id, percent: u8) -> Notification {
    crate::webhooks::quota_alert_of(app, org, percent, 50_000).await
}

/// Mails of `kind` sent to `to`.
fn mails(app: &TestApp, to: &str, kind: &str) -> usize {
    app.outbox().iter().filter(|m| m.to.as_str() == to && m.kind == kind).count()
}

#[tokio::test]
async fn defaults_mail_everything_and_have_no_slack() {
    let app = insecure_app().await;
    let (access, _) = user(&app, "defaults@example.com").await;
    let r = app.call(Method::GET, SETTINGS, None, Some(&access)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let email = r.body["email"].as_object().unwrap();
    assert_eq!(email.len(), 7, "every email event type: {email:?}");
    assert!(email.values().all(|v| v == &Value::Bool(true)));
    assert_eq!(r.body["slack"], Value::Null);
    assert_eq!(r.body["slack_available"], false, "not on the Free plan");
    assert_eq!(r.body["webhooks"], json!([]));
    assert_eq!(r.body["updated_at"], Value::Null);
}

#[tokio::test]
async fn an_email_turned_off_is_not_mailed_and_others_are() {
    let app = insecure_app().await;
    let (access, org) = user(&app, "quiet@example.com").await;
    let r = app
        .call(Method::PUT, SETTINGS, Some(json!({"email": {"quota.threshold_reached": false}})), Some(&access))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["email"]["quota.threshold_reached"], false);
    assert_eq!(r.body["email"]["quota.exceeded"], true);

    let at_80 = quota_alert(&app, &org, 80).await;
    let at_100 = quota_alert(&app, &org, 100).await;
    crate::webhooks::process(&app, &at_80).await;
    crate::webhooks::process(&app, &at_100).await;
    assert_eq!(mails(&app, "quiet@example.com", "quota.threshold_reached"), 0, "turned off");
    assert_eq!(mails(&app, "quiet@example.com", "quota.exceeded"), 1, "still on");

    // Turning it on again later does not mail the skipped alert on a redelivery.
    let r =
        app.call(Method::PUT, SETTINGS, Some(json!({"email": {"quota.threshold_reached": true}})), Some(&access)).await;
    assert_eq!(r.status, StatusCode::OK);
    crate::webhooks::process(&app, &at_80).await;
    assert_eq!(mails(&app, "quiet@example.com", "quota.threshold_reached"), 0, "the skip is recorded");
}

#[tokio::test]
async fn slack_needs_a_plan_that_includes_it() {
    let app = insecure_app().await;
    let (access, _) = user(&app, "free@example.com").await;
    let slack = slack_receiver(200).await;
    let body = json!({"slack": {"webhook_url": slack.url, "events": ["*"]}});
    let r = app.call(Method::PUT, SETTINGS, Some(body), Some(&access)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert_eq!(r.code(), "feature_not_in_plan");
    let r = app.call(Method::GET, SETTINGS, None, Some(&access)).await;
    assert_eq!(r.body["slack"], Value::Null, "nothing changed");
    assert_eq!(r.body["updated_at"], Value::Null);
}

#[tokio::test]
async fn slack_gets_each_notification_once_with_the_numbers() {
    let app = insecure_app().await;
    let (access, org) = user(&app, "slacker@example.com").await;
    put_on_slack_plan(&app, &org).await;
    let slack = slack_receiver(200).await;
    let body = json!({"slack": {"webhook_url": slack.url, "events": ["quota.exceeded"]}});
    let r = app.call(Method::PUT, SETTINGS, Some(body), Some(&access)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let shown = r.body["slack"]["webhook_url"].as_str().unwrap();
    assert!(shown.ends_with("/services/T000/B000/****"), "masked: {shown}");
    assert!(!r.body.to_string().contains("SECRETTOKEN"), "the token is never shown");

    let r = app.call(Method::GET, SETTINGS, None, Some(&access)).await;
    assert_eq!(r.body["slack"]["webhook_url"], shown, "masked in GET too");
    assert_eq!(r.body["slack"]["events"], json!(["quota.exceeded"]));
    assert_eq!(r.body["slack_available"], true);
    assert!(!r.body.to_string().contains("SECRETTOKEN"));

    let at_100 = quota_alert(&app, &org, 100).await;
    crate::webhooks::process(&app, &at_100).await;
    crate::webhooks::process(&app, &at_100).await;
    let got = slack.received();
    assert_eq!(got.len(), 1, "once, whatever the redeliveries: {got:?}");
    let text: Value = serde_json::from_str(&got[0].body).unwrap();
    let text = text["text"].as_str().unwrap();
    assert!(text.starts_with("Your API quota is used up"), "{text}");
    assert!(text.contains("50,000 of 50,000 units (100.0%)"), "the numbers: {text}");
    assert_eq!(mails(&app, "slacker@example.com", "quota.exceeded"), 1, "mailed once too");

    // Not subscribed: the 80 % alert is mailed, not posted.
    crate::webhooks::process(&app, &quota_alert(&app, &org, 80).await).await;
    assert_eq!(slack.received().len(), 1);
    assert_eq!(mails(&app, "slacker@example.com", "quota.threshold_reached"), 1);

    // `slack: null` removes the channel; email settings are kept.
    let r = app.call(Method::PUT, SETTINGS, Some(json!({"slack": null})), Some(&access)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["slack"], Value::Null);
}

#[tokio::test]
async fn a_failing_slack_does_not_fail_the_message_nor_resend_the_email() {
    let app = insecure_app().await;
    let (access, org) = user(&app, "flaky@example.com").await;
    put_on_slack_plan(&app, &org).await;
    let slack = slack_receiver(500).await;
    let body = json!({"slack": {"webhook_url": slack.url, "events": ["*"]}});
    assert_eq!(app.call(Method::PUT, SETTINGS, Some(body), Some(&access)).await.status, StatusCode::OK);

    let alert = quota_alert(&app, &org, 100).await;
    crate::webhooks::process(&app, &alert).await;
    assert_eq!(slack.received().len(), 1, "attempted");
    assert_eq!(mails(&app, "flaky@example.com", "quota.exceeded"), 1);
    // A redelivery tries Slack again (not claimed) without mailing again.
    crate::webhooks::process(&app, &alert).await;
    assert_eq!(slack.received().len(), 2);
    assert_eq!(mails(&app, "flaky@example.com", "quota.exceeded"), 1, "the email is not resent");
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let app = insecure_app().await;
    let (access, org) = user(&app, "typo@example.com").await;
    for body in [
        json!({"email": {"quota.nope": false}}),
        json!({"email": {"webhook.test": false}}),
        json!({"email": {"quota.exceeded": false}, "slack": {"webhook_url": "http://127.0.0.1:9/x", "events": ["nope"]}}),
        json!({"slack": {"webhook_url": "http://127.0.0.1:9/x", "events": []}}),
    ] {
        let r = app.call(Method::PUT, SETTINGS, Some(body.clone()), Some(&access)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {:?}", r.body);
        assert_eq!(r.code(), "invalid_field", "{body}");
    }
    let r = app.call(Method::PUT, SETTINGS, Some(json!({"emails": {}})), Some(&access)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "unknown field");
    assert_eq!(app.state.store.get_notification_settings(&org).await.unwrap(), None, "nothing written");

    // Without insecure URLs, a Slack URL must be https://hooks.slack.com.
    let strict = TestApp::new().await;
    let (access, org) = user(&strict, "strict@example.com").await;
    put_on_slack_plan(&strict, &org).await;
    for url in ["https://example.com/services/T/B/X", "http://hooks.slack.com/services/T/B/X"] {
        let body = json!({"slack": {"webhook_url": url, "events": ["*"]}});
        let r = strict.call(Method::PUT, SETTINGS, Some(body), Some(&access)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {:?}", r.body);
        assert_eq!(r.code(), "invalid_webhook_url");
    }
}

#[tokio::test]
async fn each_organization_has_its_own_settings() {
    let app = insecure_app().await;
    let (alice, _) = user(&app, "alice@example.com").await;
    let (bob, bob_org) = user(&app, "bob@example.com").await;
    let r = app.call(Method::PUT, SETTINGS, Some(json!({"email": {"trial.ending": false}})), Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["updated_at"].is_string());
    let r = app.call(Method::GET, SETTINGS, None, Some(&bob)).await;
    assert_eq!(r.body["email"]["trial.ending"], true, "bob's are untouched");
    assert_eq!(r.body["updated_at"], Value::Null);

    // Bob's webhooks show in his settings, not in Alice's.
    let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["quota.exceeded"]});
    assert_eq!(app.call(Method::POST, "/api/user/webhooks", Some(hook), Some(&bob)).await.status, StatusCode::CREATED);
    let r = app.call(Method::GET, SETTINGS, None, Some(&bob)).await;
    assert_eq!(r.body["webhooks"][0]["events"], json!(["quota.exceeded"]));
    assert_eq!(r.body["webhooks"][0]["url"], "http://127.0.0.1:9/hook");
    let r = app.call(Method::GET, SETTINGS, None, Some(&alice)).await;
    assert_eq!(r.body["webhooks"], json!([]));
    assert!(app.state.store.get_notification_settings(&bob_org).await.unwrap().is_none());
}

#[tokio::test]
async fn the_settings_need_a_session() {
    let app = insecure_app().await;
    assert_eq!(app.call(Method::GET, SETTINGS, None, None).await.status, StatusCode::UNAUTHORIZED);
    let r = app.call(Method::PUT, SETTINGS, Some(json!({})), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

use axum::http::{Method, StatusCode};
use chrono::Duration;
use serde_json::json;
use tollgate_tests::app::TestApp;

/// RFC 3339 allows a client to write second 60. It is read as the next second, so what the
/// API stores and answers is a plain RFC 3339 time (it answered `hh:mm:60` back, which the
/// spec's `date-time` does not allow). Found by schemathesis (scripts/fuzz-openapi.sh).
#[tokio::test]
async fn a_leap_second_in_a_timestamp_is_the_next_second() {
    let app = TestApp::new().await;
    let (access, _) = app.user("leap@example.com").await;
    let day = app.clock_now() + Duration::days(1);
    let leap = format!("{}:60Z", day.format("%Y-%m-%dT%H:%M"));
    let next = (day + Duration::minutes(1)).format("%Y-%m-%dT%H:%M:00Z").to_string();

    let r = app
        .call(Method::POST, "/api/user/api-keys", Some(json!({"name": "k", "expires_at": leap})), Some(&access))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let expires_at = r.body["key"]["expires_at"].as_str().unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(expires_at).unwrap(),
        chrono::DateTime::parse_from_rfc3339(&next).unwrap()
    );
    assert!(!expires_at.contains(":60"), "{expires_at}");

    let from = app.clock_now().format("%Y-%m-%d");
    for route in ["by-endpoint", "timeseries"] {
        let r =
            app.call(Method::GET, &format!("/api/user/usage/{route}?from={from}&to={leap}"), None, Some(&access)).await;
        assert_eq!(r.status, StatusCode::OK, "{route}: {:?}", r.body);
        assert_eq!(r.body["to"], next.as_str(), "{route}");
    }
}

/// Usage ranges take years 1970 to 9999: `to=0000-01-01` resolved `from` to `-0001-12-01`,
/// which no RFC 3339 answer can carry. Found by schemathesis (scripts/fuzz-openapi.sh).
#[tokio::test]
async fn usage_ranges_stay_within_four_digit_years() {
    let app = TestApp::new().await;
    let (access, _) = app.user("years@example.com").await;
    for route in ["by-endpoint", "timeseries", "detailed"] {
        for query in ["to=0000-01-01", "from=1969-12-31", "to=9999-12-31T23:00:00-05:00"] {
            let r = app.call(Method::GET, &format!("/api/user/usage/{route}?{query}"), None, Some(&access)).await;
            assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "bad_request"), "{route}?{query}: {:?}", r.body);
        }
    }
    let r = app.call(Method::GET, "/api/user/usage/timeseries?to=1970-01-01", None, Some(&access)).await;
    assert_eq!((r.status, r.body["from"].as_str()), (StatusCode::OK, Some("1969-12-01T00:00:00Z")));
}

//! The operator's billing routes on the Stripe fake: a one-off invoice, paid out of band,
//! and the listing across organizations with its filters.

use crate::support::Billed;
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_one_off_invoice_marked_paid_out_of_band_and_listed() {
    let b = Billed::start().await;
    let (token, _) = b.consumer("invoiced@example.com").await;
    // The organization's customer exists once it took a paid action; it has no card.
    let r = b.app.call(Method::GET, "/api/user/billing/payment-methods", None, Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let org = b.subscription(&token).await["subscription"]["org_id"].as_str().unwrap().to_string();
    let admin = b.app.admin_token().await;

    let refused = b
        .app
        .call(
            Method::POST,
            "/api/admin/billing/invoices",
            Some(json!({"org_id": org, "amount": 0, "description": "x"})),
            Some(&admin),
        )
        .await;
    assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"));
    let missing = b
        .app
        .call(
            Method::POST,
            "/api/admin/billing/invoices",
            Some(json!({"org_id": "org_nobody", "amount": 100, "description": "x"})),
            Some(&admin),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let body = json!({"org_id": org, "amount": 12_500, "currency": "eur", "description": "Onboarding workshop"});
    let r = b.app.call(Method::POST, "/api/admin/billing/invoices", Some(body), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let invoice = r.body;
    assert_eq!((invoice["amount_due"].as_i64(), invoice["currency"].as_str()), (Some(12_500), Some("eur")));
    assert_eq!(invoice["status"], "open", "finalized, waiting for a payment");
    assert_eq!(invoice["org_id"], org.as_str());
    let id = invoice["id"].as_str().unwrap().to_string();

    // The user sees it; the admin lists it by organization and state, and by period.
    assert!(b.invoices(&token, 1).await.iter().any(|i| i["id"] == id.as_str()));
    let listed = |query: String| {
        let admin = admin.clone();
        let b = &b;
        async move {
            let r = b.app.call(Method::GET, &format!("/api/admin/billing/invoices?{query}"), None, Some(&admin)).await;
            assert_eq!(r.status, StatusCode::OK, "{query}: {:?}", r.body);
            r.body["data"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(format!("org_id={org}&status=open")).await, vec![id.clone()]);
    assert!(listed(format!("org_id={org}&status=paid")).await.is_empty());
    let month = b.app.clock_now().format("%Y-%m").to_string();
    assert!(listed(format!("period={month}")).await.contains(&id));
    assert!(listed("period=2001-01".into()).await.is_empty());

    // Paid by bank transfer: marked paid, at Stripe and in the mirror.
    let r = b.app.call(Method::POST, &format!("/api/admin/billing/invoices/{id}/mark-paid"), None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "paid");
    assert_eq!(listed(format!("org_id={org}&status=paid")).await, vec![id.clone()]);
    let r = b.app.call(Method::POST, "/api/admin/billing/invoices/in_unknown/mark-paid", None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Not for users.
    let r = b.app.call(Method::GET, "/api/admin/billing/invoices", None, Some(&token)).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "admin_required"));
}

#[tokio::test]
async fn a_plan_saved_by_an_admin_is_synced_to_stripe_and_archived_with_it() {
    let b = Billed::start().await;
    let admin = b.app.admin_token().await;
    let plan = json!({"name": "Team", "price": 1_500, "monthly_limit": 20_000, "rate_limit": 300});
    let r = b.app.call(Method::POST, "/api/admin/plans", Some(plan), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let ids = r.body["billing"].clone();
    let (product, price) = (ids["product_id"].as_str().unwrap(), ids["base_price_id"].as_str().unwrap().to_string());
    let stripe_price = b.stripe_get(&format!("/v1/prices/{price}")).await;
    assert_eq!((stripe_price["unit_amount"].as_i64(), stripe_price["active"].as_bool()), (Some(1_500), Some(true)));
    assert_eq!(stripe_price["recurring"]["interval"], "month");
    assert!(ids["meter_id"].is_null(), "a subscription plan has no meter");

    // A new price: Stripe's prices are immutable, so a new one replaces the old, archived.
    let r =
        b.app.call(Method::PUT, &format!("/api/admin/plans/{id}"), Some(json!({"price": 1_900})), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let new_price = r.body["billing"]["base_price_id"].as_str().unwrap().to_string();
    assert_ne!(new_price, price);
    assert_eq!(r.body["billing"]["product_id"], product, "the same product");
    assert_eq!(b.stripe_get(&format!("/v1/prices/{price}")).await["active"], false);
    assert_eq!(b.stripe_get(&format!("/v1/prices/{new_price}")).await["unit_amount"], 1_900);
    // A change that is not the price keeps it.
    let r = b
        .app
        .call(Method::PUT, &format!("/api/admin/plans/{id}"), Some(json!({"rate_limit": 600})), Some(&admin))
        .await;
    assert_eq!(r.body["billing"]["base_price_id"], new_price.as_str());

    // Archived: its price and product too; the public price list drops it.
    let r = b
        .app
        .call(Method::PUT, &format!("/api/admin/plans/{id}"), Some(json!({"status": "archived"})), Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(b.stripe_get(&format!("/v1/prices/{new_price}")).await["active"], false);
    assert_eq!(b.stripe_get(&format!("/v1/products/{product}")).await["active"], false);
    let plans = b.app.call(Method::GET, "/api/plans", None, None).await;
    assert!(plans.body["data"].as_array().unwrap().iter().all(|p| p["id"] != id.as_str()));
}

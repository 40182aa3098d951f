//! The fake over real HTTP: started in-process on a free port, webhooks received by a small
//! server in the test and their signatures checked.

mod support;

use reqwest::Method;
use serde_json::Value;
use support::{id, types, types_from, Harness, FEB1, KEY, MAR1, T0};

#[tokio::test]
async fn subscription_checkout_flow() {
    let h = Harness::start().await;
    let customer = h.customer(None).await;
    let product = h.product().await;
    let meter = h.meter("api_calls").await;
    let base = h.licensed_price(&product, 2000).await;
    let metered = h.metered_price(&product, &meter).await;
    let success = "http://127.0.0.1:3000/billing/done?session_id={CHECKOUT_SESSION_ID}";
    let session = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("customer", &customer),
                ("client_reference_id", "org_1"),
                ("line_items[0][price]", &base),
                ("line_items[0][quantity]", "1"),
                ("line_items[1][price]", &metered),
                ("subscription_data[metadata][org_id]", "org_1"),
                ("metadata[org_id]", "org_1"),
                ("success_url", success),
                ("cancel_url", "http://127.0.0.1:3000/billing"),
            ],
        )
        .await;
    let session_id = id(&session);
    assert!(session_id.starts_with("cs_test_"));
    assert_eq!(session["status"], "open");
    assert_eq!(session["amount_total"], 2000);
    let url = session["url"].as_str().expect("url").to_string();
    assert_eq!(url, format!("{}/checkout/{session_id}", h.base));

    let page = h.http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("4242424242424242") && page.contains(">Pay<"), "{page}");
    let done = h.http.post(&url).form(&[("card", "4242424242424242")]).send().await.unwrap();
    assert_eq!(done.status(), 303);
    let location = done.headers()["location"].to_str().unwrap();
    assert_eq!(location, format!("http://127.0.0.1:3000/billing/done?session_id={session_id}"));

    let session = h.get(&format!("/v1/checkout/sessions/{session_id}"), &[]).await;
    assert_eq!(session["status"], "complete");
    assert_eq!(session["payment_status"], "paid");
    assert_eq!(session["customer"], customer.as_str());
    assert_eq!(session["client_reference_id"], "org_1");
    assert_eq!(session["url"], Value::Null);
    let sub_id = session["subscription"].as_str().expect("subscription").to_string();

    let sub = h.get(&format!("/v1/subscriptions/{sub_id}"), &[("expand[]", "latest_invoice")]).await;
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["metadata"]["org_id"], "org_1");
    assert_eq!(sub["livemode"], false);
    let items = sub["items"]["data"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i["current_period_end"].as_i64() > i["current_period_start"].as_i64()));
    assert_eq!(items[1]["quantity"], Value::Null, "metered items have no quantity");
    let invoice = &sub["latest_invoice"];
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["amount_paid"], 2000);
    assert_eq!(invoice["billing_reason"], "subscription_create");
    assert_eq!(invoice["subscription"], sub_id.as_str());
    assert_eq!(invoice["parent"]["subscription_details"]["subscription"], sub_id.as_str());
    assert!(invoice["number"].as_str().is_some_and(|n| n.ends_with("-0001")));
    let pdf_url = invoice["invoice_pdf"].as_str().expect("pdf url");
    let pdf = h.http.get(pdf_url).send().await.unwrap().bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));

    let pm =
        h.get(&format!("/v1/customers/{customer}"), &[]).await["invoice_settings"]["default_payment_method"].clone();
    let pm = pm.as_str().expect("default payment method").to_string();
    let card = h.get(&format!("/v1/payment_methods/{pm}"), &[]).await;
    assert_eq!((card["card"]["brand"].as_str(), card["card"]["last4"].as_str()), (Some("visa"), Some("4242")));
    assert_eq!(card["customer"], customer.as_str());

    let events = h.webhooks_through("checkout.session.completed", 1).await;
    assert_eq!(
        types_from(&events, "payment_method.attached"),
        [
            "payment_method.attached",
            "customer.updated",
            "customer.subscription.created",
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_succeeded",
            "checkout.session.completed",
        ]
    );
    let updated = events.iter().find(|e| e["type"] == "customer.updated").unwrap();
    assert_eq!(updated["data"]["previous_attributes"]["invoice_settings"]["default_payment_method"], Value::Null);
    assert_eq!(updated["data"]["object"]["invoice_settings"]["default_payment_method"], pm.as_str());
    for e in &events {
        assert!(e["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!((e["object"].as_str(), e["livemode"].as_bool()), (Some("event"), Some(false)));
        assert_eq!(e["api_version"], stripe_fake::API_VERSION);
    }
    // The events API has them too, newest first, delivered.
    let listed = h.get("/v1/events", &[("limit", "100")]).await;
    let listed: Vec<Value> = listed["data"].as_array().unwrap().iter().rev().cloned().collect();
    assert_eq!(types(&listed), types(&events));
    let completed = h.get(&format!("/v1/events/{}", id(events.last().unwrap())), &[]).await;
    assert_eq!(completed["data"]["object"]["id"], session_id.as_str());
}

#[tokio::test]
async fn declined_cards_on_the_hosted_page_change_nothing_and_setup_mode_saves_a_card() {
    let h = Harness::start().await;
    let customer = h.customer(None).await;
    let product = h.product().await;
    let price = h.licensed_price(&product, 1500).await;
    let session = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("customer", &customer),
                ("line_items[0][price]", &price),
                ("line_items[0][quantity]", "1"),
            ],
        )
        .await;
    let url = session["url"].as_str().unwrap().to_string();
    for card in ["4000000000000002", "4000000000000341"] {
        let resp = h.http.post(&url).form(&[("card", card)]).send().await.unwrap();
        assert_eq!(resp.status(), 402);
        assert!(resp.text().await.unwrap().contains("Your card was declined."));
    }
    let session = h.get(&format!("/v1/checkout/sessions/{}", id(&session)), &[]).await;
    assert_eq!((session["status"].as_str(), &session["subscription"]), (Some("open"), &Value::Null));
    let cards = h.get(&format!("/v1/customers/{customer}/payment_methods"), &[("type", "card")]).await;
    assert_eq!(cards["data"].as_array().unwrap().len(), 0);

    // Setup mode: 4000000000000341 is accepted (only its charges fail).
    let setup = h
        .post(
            "/v1/checkout/sessions",
            &[("mode", "setup"), ("customer", &customer), ("currency", "usd"), ("success_url", "http://x/ok")],
        )
        .await;
    let page = h.http.get(setup["url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Save card"));
    let resp = h
        .http
        .post(setup["url"].as_str().unwrap())
        .form(&[("card", "4000000000000341"), ("exp", "12/40")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let setup = h.get(&format!("/v1/checkout/sessions/{}", id(&setup)), &[("expand[]", "setup_intent")]).await;
    assert_eq!(setup["status"], "complete");
    assert_eq!(setup["setup_intent"]["status"], "succeeded");
    let pm = setup["setup_intent"]["payment_method"].as_str().unwrap().to_string();
    let cards = h.get("/v1/payment_methods", &[("customer", &customer), ("type", "card")]).await;
    assert_eq!(cards["data"][0]["id"], pm.as_str());
    assert_eq!(cards["data"][0]["card"]["exp_year"], 2040);
    let events = h.webhooks_through("checkout.session.completed", 1).await;
    assert_eq!(
        types_from(&events, "payment_method.attached"),
        ["payment_method.attached", "customer.updated", "setup_intent.succeeded", "checkout.session.completed"]
    );
}

#[tokio::test]
async fn idempotency_key_replays_the_first_response() {
    let h = Harness::start().await;
    let send = |key: &'static str, email: &'static str| {
        h.http
            .post(format!("{}/v1/customers", h.base))
            .bearer_auth(KEY)
            .header("idempotency-key", key)
            .form(&[("email", email)])
            .send()
    };
    let first = send("k1", "a@example.com").await.unwrap();
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send("k1", "a@example.com").await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first, again);
    let other = send("k1", "b@example.com").await.unwrap();
    assert_eq!(other.status(), 400);
    let other: Value = other.json().await.unwrap();
    assert_eq!(other["error"]["type"], "idempotency_error");
    let fresh: Value = send("k2", "a@example.com").await.unwrap().json().await.unwrap();
    assert_ne!(fresh["id"], first["id"]);
    let created = h.get("/v1/events", &[("type", "customer.created")]).await;
    assert_eq!(created["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_idempotent_repeat_may_send_its_parameters_in_another_order() {
    // A client serialising a map (metadata) may order the pairs differently each time.
    let h = Harness::start().await;
    let send = |form: &'static [(&'static str, &'static str)]| {
        h.http
            .post(format!("{}/v1/customers", h.base))
            .bearer_auth(KEY)
            .header("idempotency-key", "k-order")
            .form(form)
            .send()
    };
    let first: Value =
        send(&[("metadata[org_id]", "org_1"), ("metadata[plan_id]", "plan_1")]).await.unwrap().json().await.unwrap();
    let again = send(&[("metadata[plan_id]", "plan_1"), ("metadata[org_id]", "org_1")]).await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
}

#[tokio::test]
async fn meter_events_deduplicate_by_identifier_and_summaries_add_up() {
    let h = Harness::start().await;
    let customer = h.customer(None).await;
    let meter = h.meter("api_calls").await;
    let hour = chrono::Utc::now().timestamp() / 3600 * 3600 - 7200;
    let (status, event) = h.usage("api_calls", &customer, 5, hour + 10, "e1").await;
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["identifier"], "e1");
    assert_eq!(event["payload"]["value"], "5");
    let (status, dup) = h.usage("api_calls", &customer, 5, hour + 10, "e1").await;
    assert_eq!(status, 400);
    assert_eq!(dup["error"]["message"], "An event already exists with identifier e1.");
    assert_eq!(h.usage("api_calls", &customer, 7, hour + 20, "e2").await.0, 200);
    assert_eq!(h.usage("api_calls", &customer, 100, hour + 4000, "e3").await.0, 200);

    let path = format!("/v1/billing/meters/{meter}/event_summaries");
    let (start, mid, end) = (hour.to_string(), (hour + 3600).to_string(), (hour + 7200).to_string());
    let one = h.get(&path, &[("customer", &customer), ("start_time", &start), ("end_time", &mid)]).await;
    assert_eq!(one["object"], "list");
    assert_eq!(one["data"][0]["object"], "billing.meter_event_summary");
    assert_eq!(one["data"][0]["aggregated_value"], 12.0);
    let hourly = h
        .get(
            &path,
            &[("customer", &customer), ("start_time", &start), ("end_time", &end), ("value_grouping_window", "hour")],
        )
        .await;
    let values: Vec<f64> =
        hourly["data"].as_array().unwrap().iter().map(|s| s["aggregated_value"].as_f64().unwrap()).collect();
    assert_eq!(values, [12.0, 100.0]);
    let later = (hour + 7200 + 3600).to_string();
    let empty = h.get(&path, &[("customer", &customer), ("start_time", &end), ("end_time", &later)]).await;
    assert_eq!(empty["data"][0]["aggregated_value"].to_string(), "0.0");
    let unaligned = (hour + 1).to_string();
    let (status, err) = h
        .request(
            Method::GET,
            &path,
            &[("customer", &customer), ("start_time", &unaligned), ("end_time", &end)],
            Some(KEY),
        )
        .await;
    assert_eq!((status, err["error"]["param"].as_str()), (400, Some("start_time")));
}

#[tokio::test]
async fn test_clock_renewal_bills_the_period_and_its_metered_usage() {
    let h = Harness::start().await;
    let clock = h.clock().await;
    let customer = h.customer(Some(&clock)).await;
    h.card(&customer, "pm_card_visa").await;
    let product = h.product().await;
    let meter = h.meter("api_calls").await;
    let base = h.licensed_price(&product, 2000).await;
    let metered = h.metered_price(&product, &meter).await;
    let sub = h
        .post(
            "/v1/subscriptions",
            &[
                ("customer", &customer),
                ("items[0][price]", &base),
                ("items[1][price]", &metered),
                ("metadata[org_id]", "org_1"),
            ],
        )
        .await;
    let sub_id = id(&sub);
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["created"], T0);
    assert_eq!(sub["items"]["data"][0]["current_period_start"], T0);
    assert_eq!(sub["items"]["data"][0]["current_period_end"], FEB1);
    assert_eq!(sub["test_clock"], clock.as_str());

    assert_eq!(h.usage("api_calls", &customer, 1500, T0 + 86_400, "u1").await.0, 200);
    assert_eq!(h.usage("api_calls", &customer, 1000, T0 + 2 * 86_400, "u2").await.0, 200);
    // Usage after the period belongs to the next one.
    assert_eq!(h.usage("api_calls", &customer, 9000, FEB1 + 60, "u3").await.0, 200);

    let preview = h.post("/v1/invoices/create_preview", &[("customer", &customer), ("subscription", &sub_id)]).await;
    assert_eq!(preview["amount_due"], 2150, "{preview}");

    h.advance(&clock, FEB1 + 3600).await;
    assert_eq!(h.get(&format!("/v1/test_helpers/test_clocks/{clock}"), &[]).await["status"], "ready");
    let invoices = h.get("/v1/invoices", &[("subscription", &sub_id)]).await;
    let invoices = invoices["data"].as_array().unwrap();
    assert_eq!(invoices.len(), 2);
    let renewal = &invoices[0];
    assert_eq!(renewal["billing_reason"], "subscription_cycle");
    assert_eq!(renewal["status"], "paid");
    assert_eq!(renewal["amount_paid"], 2150);
    assert_eq!(renewal["created"], FEB1);
    assert_eq!((renewal["period_start"].as_i64(), renewal["period_end"].as_i64()), (Some(T0), Some(FEB1)));
    let lines = renewal["lines"]["data"].as_array().unwrap();
    let usage = lines.iter().find(|l| l["pricing"]["price_details"]["price"] == metered.as_str()).unwrap();
    assert_eq!((usage["quantity"].as_i64(), usage["amount"].as_i64()), (Some(2500), Some(150)));
    assert_eq!((usage["period"]["start"].as_i64(), usage["period"]["end"].as_i64()), (Some(T0), Some(FEB1)));
    let licensed = lines.iter().find(|l| l["pricing"]["price_details"]["price"] == base.as_str()).unwrap();
    assert_eq!((licensed["period"]["start"].as_i64(), licensed["period"]["end"].as_i64()), (Some(FEB1), Some(MAR1)));

    let sub = h.get(&format!("/v1/subscriptions/{sub_id}"), &[]).await;
    assert_eq!(sub["items"]["data"][0]["current_period_start"], FEB1);
    assert_eq!(sub["items"]["data"][1]["current_period_end"], MAR1);
    assert_eq!(sub["latest_invoice"], renewal["id"]);

    let events = h.webhooks_through("test_helpers.test_clock.ready", 1).await;
    assert_eq!(
        types_from(&events, "test_helpers.test_clock.advancing"),
        [
            "test_helpers.test_clock.advancing",
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated",
            "test_helpers.test_clock.ready",
        ]
    );
    let updated = events.iter().find(|e| e["type"] == "customer.subscription.updated").unwrap();
    assert_eq!(updated["created"], FEB1);
    assert!(updated["data"]["previous_attributes"]["items"].is_object());
}

#[tokio::test]
async fn failing_card_makes_the_renewal_fail_and_the_subscription_past_due() {
    let h = Harness::start().await;
    let clock = h.clock().await;
    let customer = h.customer(Some(&clock)).await;
    let visa = h.card(&customer, "pm_card_visa").await;
    let product = h.product().await;
    let price = h.licensed_price(&product, 2000).await;
    let sub_id = id(&h.post("/v1/subscriptions", &[("customer", &customer), ("items[0][price]", &price)]).await);
    h.card(&customer, "pm_card_chargeCustomerFail").await;

    h.advance(&clock, FEB1 + 60).await;
    let sub = h.get(&format!("/v1/subscriptions/{sub_id}"), &[("expand[]", "latest_invoice")]).await;
    assert_eq!(sub["status"], "past_due");
    let invoice = &sub["latest_invoice"];
    assert_eq!((invoice["status"].as_str(), invoice["attempt_count"].as_i64()), (Some("open"), Some(1)));
    assert_eq!(invoice["amount_remaining"], 2000);
    let events = h.webhooks_through("test_helpers.test_clock.ready", 1).await;
    assert_eq!(
        types_from(&events, "test_helpers.test_clock.advancing"),
        [
            "test_helpers.test_clock.advancing",
            "invoice.created",
            "invoice.finalized",
            "invoice.payment_failed",
            "customer.subscription.updated",
            "test_helpers.test_clock.ready",
        ]
    );
    let updated = events.iter().find(|e| e["type"] == "customer.subscription.updated").unwrap();
    assert_eq!(updated["data"]["object"]["status"], "past_due");
    assert_eq!(updated["data"]["previous_attributes"]["status"], "active");

    // Paying with the first card settles it.
    let invoice_id = id(invoice);
    let (status, err) = h.request(Method::POST, &format!("/v1/invoices/{invoice_id}/pay"), &[], Some(KEY)).await;
    assert_eq!(
        (status, err["error"]["type"].as_str(), err["error"]["code"].as_str()),
        (402, Some("card_error"), Some("card_declined"))
    );
    let paid = h.post(&format!("/v1/invoices/{invoice_id}/pay"), &[("payment_method", &visa)]).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(h.get(&format!("/v1/subscriptions/{sub_id}"), &[]).await["status"], "active");
}

#[tokio::test]
async fn upgrade_mid_period_invoices_the_prorated_difference() {
    let h = Harness::start().await;
    let clock = h.clock().await;
    let customer = h.customer(Some(&clock)).await;
    h.card(&customer, "pm_card_visa").await;
    let product = h.product().await;
    let basic = h.licensed_price(&product, 1000).await;
    let pro = h.licensed_price(&product, 3000).await;
    let sub = h.post("/v1/subscriptions", &[("customer", &customer), ("items[0][price]", &basic)]).await;
    let (sub_id, item) = (id(&sub), id(&sub["items"]["data"][0]));

    // Half of January (31 days) is left.
    h.advance(&clock, T0 + 31 * 86_400 / 2).await;
    let sub = h
        .post(
            &format!("/v1/subscriptions/{sub_id}"),
            &[("items[0][id]", &item), ("items[0][price]", &pro), ("proration_behavior", "always_invoice")],
        )
        .await;
    assert_eq!(sub["items"]["data"][0]["price"]["id"], pro.as_str());
    assert_eq!(sub["items"]["data"][0]["id"], item.as_str());
    let invoice =
        h.get(&format!("/v1/invoices/{}", sub["latest_invoice"].as_str().unwrap()), &[("expand[]", "customer")]).await;
    assert_eq!(invoice["billing_reason"], "subscription_update");
    assert_eq!(invoice["customer"]["id"], customer.as_str(), "customer expanded");
    assert_eq!((invoice["status"].as_str(), invoice["amount_paid"].as_i64()), (Some("paid"), Some(1000)));
    let mut amounts: Vec<i64> =
        invoice["lines"]["data"].as_array().unwrap().iter().map(|l| l["amount"].as_i64().unwrap()).collect();
    amounts.sort();
    assert_eq!(amounts, [-500, 1500]);
    assert!(invoice["lines"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["parent"]["invoice_item_details"]["proration"] == true));

    // Downgrading with create_prorations leaves pending items for the next invoice instead.
    h.post(
        &format!("/v1/subscriptions/{sub_id}"),
        &[("items[0][id]", &item), ("items[0][price]", &basic), ("proration_behavior", "create_prorations")],
    )
    .await;
    let preview = h.post("/v1/invoices/create_preview", &[("customer", &customer)]).await;
    let prorations: i64 = preview["lines"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["parent"]["invoice_item_details"]["proration"] == true)
        .map(|l| l["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(prorations, -1000);
    assert_eq!(preview["amount_due"], 0, "the 1000 base minus 1000 of credit");
}

#[tokio::test]
async fn cancel_at_period_end_ends_the_subscription_at_the_period_end() {
    let h = Harness::start().await;
    let clock = h.clock().await;
    let customer = h.customer(Some(&clock)).await;
    h.card(&customer, "pm_card_visa").await;
    let product = h.product().await;
    let meter = h.meter("api_calls").await;
    let base = h.licensed_price(&product, 2000).await;
    let metered = h.metered_price(&product, &meter).await;
    let sub_id = id(&h
        .post(
            "/v1/subscriptions",
            &[("customer", &customer), ("items[0][price]", &base), ("items[1][price]", &metered)],
        )
        .await);
    let sub = h.post(&format!("/v1/subscriptions/{sub_id}"), &[("cancel_at_period_end", "true")]).await;
    assert_eq!((sub["status"].as_str(), sub["cancel_at"].as_i64()), (Some("active"), Some(FEB1)));
    h.usage("api_calls", &customer, 1000, T0 + 3600, "u1").await;

    h.advance(&clock, FEB1 + 60).await;
    let sub = h.get(&format!("/v1/subscriptions/{sub_id}"), &[("expand[]", "latest_invoice")]).await;
    assert_eq!(sub["status"], "canceled");
    assert_eq!(sub["ended_at"], FEB1);
    // The final invoice bills the last period's usage only.
    assert_eq!(
        (sub["latest_invoice"]["amount_paid"].as_i64(), sub["latest_invoice"]["status"].as_str()),
        (Some(50), Some("paid"))
    );
    let events = h.webhooks_through("customer.subscription.deleted", 1).await;
    let deleted = events.iter().find(|e| e["type"] == "customer.subscription.deleted").unwrap();
    assert_eq!(deleted["data"]["object"]["status"], "canceled");
    let update = events.iter().find(|e| e["type"] == "customer.subscription.updated").unwrap();
    assert_eq!(update["data"]["previous_attributes"]["cancel_at_period_end"], false);

    h.advance(&clock, MAR1 + 60).await;
    assert_eq!(h.get("/v1/invoices", &[("subscription", &sub_id)]).await["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn errors_have_stripes_shape() {
    let h = Harness::start().await;
    let (status, err) = h.request(Method::GET, "/v1/customers/cus_x", &[], None).await;
    assert_eq!((status, err["error"]["type"].as_str()), (401, Some("invalid_request_error")));
    assert_eq!(h.request(Method::GET, "/v1/customers/cus_x", &[], Some("sk_live_123")).await.0, 401);
    let (status, err) = h.request(Method::GET, "/v1/customers/cus_missing", &[], Some(KEY)).await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "resource_missing");
    assert_eq!(err["error"]["message"], "No such customer: 'cus_missing'");
    let (status, err) = h.request(Method::POST, "/v1/customers", &[("colour", "red")], Some(KEY)).await;
    assert_eq!((status, err["error"]["param"].as_str()), (400, Some("colour")));
    let (status, err) =
        h.request(Method::POST, "/v1/prices", &[("product", "prod_x"), ("unit_amount", "5")], Some(KEY)).await;
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("parameter_missing")));
    let (status, err) = h.request(Method::GET, "/v1/nothing", &[], Some(KEY)).await;
    assert_eq!(status, 404);
    assert!(err["error"]["message"].as_str().unwrap().contains("/v1/nothing"));
}

#[tokio::test]
async fn webhooks_are_retried_in_order_until_accepted() {
    let h = Harness::start().await;
    h.fail_next_deliveries(2);
    let a = h.customer(None).await;
    let b = h.customer(None).await;
    let events = h.webhooks_through("customer.created", 2).await;
    let ids: Vec<&str> = events.iter().map(|e| e["data"]["object"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [a.as_str(), b.as_str()]);
    assert_eq!(h.delivery_attempts(), 4);
    let first = h.get(&format!("/v1/events/{}", id(&events[0])), &[]).await;
    assert_eq!(first["pending_webhooks"], 0);
}

#[tokio::test]
async fn error_if_incomplete_refuses_failing_payments_and_changes_nothing() {
    let h = Harness::start().await;
    let clock = h.clock().await;
    let customer = h.customer(Some(&clock)).await;
    h.card(&customer, "pm_card_visa").await;
    let product = h.product().await;
    let meter = h.meter("api_calls").await;
    let basic = h.licensed_price(&product, 1000).await;
    let pro = h.licensed_price(&product, 3000).await;
    let metered = h.metered_price(&product, &meter).await;
    let sub = h
        .post(
            "/v1/subscriptions",
            &[
                ("customer", &customer),
                ("items[0][price]", &basic),
                ("items[0][quantity]", "1"),
                ("items[1][price]", &metered),
                ("payment_behavior", "error_if_incomplete"),
            ],
        )
        .await;
    let sub_id = id(&sub);
    let items: Vec<String> = sub["items"]["data"].as_array().unwrap().iter().map(id).collect();
    h.card(&customer, "pm_card_chargeCustomerFail").await;
    h.advance(&clock, T0 + 31 * 86_400 / 2).await;

    // A plan change as the adapter sends it: the old items deleted, the new prices added.
    let change = [
        ("items[0][id]", items[0].as_str()),
        ("items[0][deleted]", "true"),
        ("items[1][price]", pro.as_str()),
        ("items[1][quantity]", "1"),
        ("proration_behavior", "always_invoice"),
        ("payment_behavior", "error_if_incomplete"),
    ];
    let path = format!("/v1/subscriptions/{sub_id}");
    let (status, err) = h.request(Method::POST, &path, &change, Some(KEY)).await;
    assert_eq!((status, err["error"]["code"].as_str()), (402, Some("card_declined")));
    let unchanged = h.get(&path, &[]).await;
    assert_eq!(unchanged["items"]["data"][0]["price"]["id"], basic.as_str());
    assert_eq!(h.get("/v1/invoices", &[("customer", &customer)]).await["data"].as_array().unwrap().len(), 1);

    // A new subscription on the failing card is refused and leaves nothing behind.
    let (status, _) = h
        .request(
            Method::POST,
            "/v1/subscriptions",
            &[("customer", &customer), ("items[0][price]", &pro), ("payment_behavior", "error_if_incomplete")],
            Some(KEY),
        )
        .await;
    assert_eq!(status, 402);
    assert_eq!(h.get("/v1/invoices", &[("customer", &customer)]).await["data"].as_array().unwrap().len(), 1);

    // With a working card the same change goes through: 3000 - 1000 for half the period.
    h.card(&customer, "pm_card_visa").await;
    let changed = h.post(&path, &change).await;
    let prices: Vec<&str> =
        changed["items"]["data"].as_array().unwrap().iter().map(|i| i["price"]["id"].as_str().unwrap()).collect();
    assert_eq!(prices, [metered.as_str(), pro.as_str()]);
    let invoice = h.get(&format!("/v1/invoices/{}", changed["latest_invoice"].as_str().unwrap()), &[]).await;
    assert_eq!((invoice["status"].as_str(), invoice["amount_paid"].as_i64()), (Some("paid"), Some(1000)));
}

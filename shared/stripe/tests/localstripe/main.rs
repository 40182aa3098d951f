//! The adapter against localstripe (a stateful fake Stripe, `scripts/localstripe_loopback.py`
//! on a free loopback port) for what localstripe can answer in the shape the adapter reads:
//! customers and card payment methods (list, default, detach, and the check that a payment
//! method is the customer's), and errors over the wire. Its subscriptions, invoices and
//! products are older than the API version the adapter reads (no `price` or period on
//! subscription items...), and it has no prices,
//! Checkout, meters or idempotency keys: those are covered by the unit tests on Stripe's
//! example objects and by the Stripe fake. Needs localstripe (`bash scripts/setup-test-tools.sh`).

mod server;

use serde_json::Value;
use server::LocalStripe;
use std::sync::Arc;
use tollgate_domain::{Id, Payments, PaymentsError};
use tollgate_stripe::{StripeConfig, StripePayments};

const KEY: &str = "sk_test_localstripe";

struct Fixture {
    _server: Arc<LocalStripe>,
    payments: StripePayments,
    /// Plain HTTP calls on the same server, to set up and inspect.
    stripe: Plain,
}

fn fixture() -> Fixture {
    let server = LocalStripe::shared();
    let config = StripeConfig { api_base: server.endpoint(), ..StripeConfig::new(KEY) };
    let payments = StripePayments::new(config).expect("a client");
    let stripe = Plain::new(&server.endpoint());
    Fixture { _server: server, payments, stripe }
}

/// Stripe's API called directly (form-encoded parameters, JSON answers), apart from the adapter.
struct Plain {
    http: reqwest::Client,
    base: String,
}

impl Plain {
    fn new(endpoint: &str) -> Self {
        let http = tollgate_outbound::https::client_builder().build().expect("an HTTP client");
        Plain { http, base: format!("{endpoint}/v1") }
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let response = self.http.post(format!("{}{path}", self.base)).bearer_auth(KEY).form(form).send().await;
        Self::answer(response, path).await
    }

    async fn get(&self, path: &str) -> Value {
        let response = self.http.get(format!("{}{path}", self.base)).bearer_auth(KEY).send().await;
        Self::answer(response, path).await
    }

    async fn answer(response: reqwest::Result<reqwest::Response>, path: &str) -> Value {
        let response = response.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status();
        let body = response.text().await.expect("an answer");
        assert!(status.is_success(), "{path}: {status} {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }
}

impl Fixture {
    async fn customer(&self, org: &str) -> String {
        let id = self.payments.ensure_customer(&Id::from_string(org), &format!("{org}@example.com"), org).await;
        id.expect("a customer")
    }

    /// A card payment method (localstripe takes raw test card numbers), attached to `customer`.
    async fn card(&self, customer: &str, number: &str, exp_year: i64) -> String {
        let exp_year = exp_year.to_string();
        let card = [
            ("type", "card"),
            ("card[number]", number),
            ("card[exp_month]", "12"),
            ("card[exp_year]", exp_year.as_str()),
            ("card[cvc]", "123"), // localstripe wants one
        ];
        let pm = self.stripe.post("/payment_methods", &card).await;
        let id = pm["id"].as_str().expect("a payment method id").to_owned();
        self.stripe.post(&format!("/payment_methods/{id}/attach"), &[("customer", customer)]).await;
        id
    }
}

#[tokio::test]
async fn a_customer_is_created_with_the_org_id_email_and_name() {
    let f = fixture();
    let id = f.payments.ensure_customer(&Id::from_string("org_ada"), "ada@example.com", "Analytical Engines").await;
    let id = id.expect("a customer");
    assert!(id.starts_with("cus_"), "{id}");
    let customer = f.stripe.get(&format!("/customers/{id}")).await;
    assert_ne!(customer["deleted"], Value::Bool(true), "{customer}");
    assert_eq!(customer["email"], "ada@example.com");
    assert_eq!(customer["name"], "Analytical Engines");
    assert_eq!(customer["metadata"]["org_id"], "org_ada");
}

#[tokio::test]
async fn a_configured_test_clock_is_sent_with_a_new_customer() {
    // localstripe has no test clocks and refuses the parameter by name: which shows it is sent.
    let server = LocalStripe::shared();
    let config =
        StripeConfig { api_base: server.endpoint(), test_clock: Some("clock_1".into()), ..StripeConfig::new(KEY) };
    let payments = StripePayments::new(config).unwrap();
    match payments.ensure_customer(&Id::from_string("org_clock"), "c@example.com", "C").await {
        Err(PaymentsError::Rejected { message, .. }) => assert!(message.contains("test_clock"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn cards_are_listed_with_the_default_marked() {
    let f = fixture();
    let customer = f.customer("org_cards").await;
    assert_eq!(f.payments.payment_methods(&customer).await.unwrap(), vec![]);

    let visa = f.card(&customer, "4242424242424242", 2031).await;
    let mastercard = f.card(&customer, "5555555555554444", 2032).await;
    let mut listed = f.payments.payment_methods(&customer).await.unwrap();
    listed.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected_ids = vec![visa.clone(), mastercard.clone()];
    expected_ids.sort();
    assert_eq!(listed.iter().map(|p| p.id.clone()).collect::<Vec<_>>(), expected_ids);
    assert!(listed.iter().all(|p| !p.is_default && p.kind == "card"));
    let shown = listed.iter().find(|p| p.id == visa).unwrap();
    assert_eq!(shown.brand.as_deref(), Some("visa"));
    assert_eq!(shown.last4.as_deref(), Some("4242"));
    assert_eq!((shown.exp_month, shown.exp_year), (Some(12), Some(2031)));

    f.payments.set_default_payment_method(&customer, &mastercard, None).await.unwrap();
    let listed = f.payments.payment_methods(&customer).await.unwrap();
    let defaults: Vec<_> = listed.iter().filter(|p| p.is_default).map(|p| p.id.clone()).collect();
    assert_eq!(defaults, vec![mastercard.clone()]);
    // (localstripe calls every card a visa.)
    assert_eq!(listed.iter().find(|p| p.id == mastercard).unwrap().last4.as_deref(), Some("4444"));
}

#[tokio::test]
async fn another_customers_card_can_be_neither_made_default_nor_detached() {
    let f = fixture();
    let mine = f.customer("org_mine").await;
    let theirs = f.customer("org_theirs").await;
    let my_card = f.card(&mine, "4242424242424242", 2031).await;
    let their_card = f.card(&theirs, "4000056655665556", 2033).await;

    let refused = f.payments.set_default_payment_method(&mine, &their_card, None).await;
    assert!(matches!(refused, Err(PaymentsError::NotFound("payment method"))), "{refused:?}");
    let refused = f.payments.detach_payment_method(&mine, &their_card).await;
    assert!(matches!(refused, Err(PaymentsError::NotFound("payment method"))), "{refused:?}");
    // Theirs is untouched: still attached to them, still not anyone's default.
    let theirs_listed = f.payments.payment_methods(&theirs).await.unwrap();
    assert_eq!(theirs_listed.len(), 1);
    assert_eq!(theirs_listed[0].id, their_card);
    assert!(!theirs_listed[0].is_default);
    assert!(f.payments.payment_methods(&mine).await.unwrap().iter().all(|p| !p.is_default));

    // A payment method that does not exist reads the same.
    let missing = f.payments.set_default_payment_method(&mine, "pm_doesnotexist", None).await;
    assert!(matches!(missing, Err(PaymentsError::NotFound("payment method"))), "{missing:?}");
    let missing = f.payments.detach_payment_method(&mine, "pm_doesnotexist").await;
    assert!(matches!(missing, Err(PaymentsError::NotFound("payment method"))), "{missing:?}");

    // The customer's own card is detached.
    f.payments.detach_payment_method(&mine, &my_card).await.unwrap();
    assert_eq!(f.payments.payment_methods(&mine).await.unwrap(), vec![]);
    // Once detached it is no longer theirs either.
    let again = f.payments.detach_payment_method(&mine, &my_card).await;
    assert!(matches!(again, Err(PaymentsError::NotFound("payment method"))), "{again:?}");
}

#[tokio::test]
async fn an_unknown_customer_is_not_found() {
    let f = fixture();
    let missing = f.payments.payment_methods("cus_doesnotexist").await;
    assert!(matches!(missing, Err(PaymentsError::NotFound("customer"))), "{missing:?}");
    let missing =
        f.payments.setup_checkout("cus_doesnotexist", &Id::from_string("org_x"), "https://s", "https://c").await;
    assert!(matches!(missing, Err(PaymentsError::NotFound("customer"))), "{missing:?}");
}

#[tokio::test]
async fn an_unreachable_stripe_is_unavailable() {
    // Nothing listens on a port that was just free.
    let config =
        StripeConfig { api_base: format!("http://127.0.0.1:{}", server::free_port()), ..StripeConfig::new(KEY) };
    let payments = StripePayments::new(config).unwrap();
    let started = std::time::Instant::now();
    let e = payments.payment_methods("cus_1").await;
    assert!(matches!(e, Err(PaymentsError::Unavailable { source: Some(_), .. })), "{e:?}");
    // Reads are tried three times, with short pauses.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

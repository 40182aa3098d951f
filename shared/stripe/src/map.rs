//! Stripe's objects as the domain's types: pure functions, tested on Stripe's example objects.

use crate::objects::{
    CheckoutSession, Customer, Expandable, Invoice as StripeInvoice, Metadata, Object, PaymentMethod, Price,
    Subscription,
};
use chrono::{DateTime, TimeZone, Utc};
use tollgate_domain::{
    CompletedCheckout, Id, Invoice, InvoiceEstimate, InvoiceStatus, PaymentMethodSummary, PaymentsError, PlanHold,
    ProviderSubscription, ProviderSubscriptionStatus,
};

/// The metadata key that holds our organization id (customers, subscriptions, invoices).
pub(crate) const ORG_ID: &str = "org_id";
/// The metadata key that holds our plan id (products, prices, subscriptions).
pub(crate) const PLAN_ID: &str = "plan_id";
/// The metadata keys of a subscription's `PlanHold`: the plan paid for, and until when (unix
/// seconds).
pub(crate) const HELD_PLAN_ID: &str = "held_plan_id";
pub(crate) const HELD_UNTIL: &str = "held_until";

/// An object Stripe sent that we cannot represent (a status newer than our types, a time out
/// of range): the provider's fault, not the request's.
fn unreadable(what: &str) -> PaymentsError {
    PaymentsError::Unavailable { message: format!("Stripe sent {what} that cannot be read"), source: None }
}

pub(crate) fn time(unix: i64) -> Result<DateTime<Utc>, PaymentsError> {
    Utc.timestamp_opt(unix, 0).single().ok_or_else(|| unreadable("a time"))
}

/// The id of an id-or-object field.
pub(crate) fn id_of<T: Object>(field: &Expandable<T>) -> String {
    field.id().to_owned()
}

fn org_id(metadata: Option<&Metadata>) -> Option<Id> {
    metadata.and_then(|m| m.get(ORG_ID)).filter(|v| !v.is_empty()).map(Id::from_string)
}

/// A subscription's downgrade waiting for the period's end, from its metadata (both keys set
/// and readable, else none).
pub(crate) fn hold(metadata: Option<&Metadata>) -> Option<PlanHold> {
    let m = metadata?;
    let plan_id = m.get(HELD_PLAN_ID).filter(|v| !v.is_empty())?;
    let until = m.get(HELD_UNTIL)?.parse::<i64>().ok()?;
    Some(PlanHold { plan_id: Id::from_string(plan_id), until: time(until).ok()? })
}

pub(crate) fn subscription_status(status: &str) -> Result<ProviderSubscriptionStatus, PaymentsError> {
    Ok(match status {
        "incomplete" => ProviderSubscriptionStatus::Incomplete,
        "incomplete_expired" => ProviderSubscriptionStatus::IncompleteExpired,
        "trialing" => ProviderSubscriptionStatus::Trialing,
        "active" => ProviderSubscriptionStatus::Active,
        "past_due" => ProviderSubscriptionStatus::PastDue,
        "canceled" => ProviderSubscriptionStatus::Canceled,
        "unpaid" => ProviderSubscriptionStatus::Unpaid,
        "paused" => ProviderSubscriptionStatus::Paused,
        _ => return Err(unreadable("a subscription status")),
    })
}

/// A subscription. Since API version 2025-03-31 the current period is on each item (items
/// can be billed on different periods); the subscription's period is the earliest start and
/// the latest end of its items. A subscription without items (never seen) falls back to its
/// billing cycle anchor for both.
pub(crate) fn subscription(sub: &Subscription) -> Result<ProviderSubscription, PaymentsError> {
    let items = &sub.items.data;
    let start = items.iter().map(|i| i.current_period_start).min().unwrap_or(sub.billing_cycle_anchor);
    let end = items.iter().map(|i| i.current_period_end).max().unwrap_or(sub.billing_cycle_anchor);
    Ok(ProviderSubscription {
        id: sub.id.clone(),
        customer_id: id_of(&sub.customer),
        status: subscription_status(&sub.status)?,
        price_ids: items.iter().map(|i| i.price.id.clone()).collect(),
        current_period_start: time(start)?,
        current_period_end: time(end)?,
        cancel_at_period_end: sub.cancel_at_period_end,
        org_id: org_id(Some(&sub.metadata)),
        hold: hold(Some(&sub.metadata)),
    })
}

/// A Checkout session once completed: its customer and subscription, and our organization
/// (`client_reference_id`).
pub(crate) fn completed_checkout(session: &CheckoutSession) -> CompletedCheckout {
    CompletedCheckout {
        id: session.id.clone(),
        customer_id: session.customer.as_ref().map(id_of),
        subscription_id: session.subscription.as_ref().map(id_of),
        org_id: session.client_reference_id.as_deref().filter(|v| !v.is_empty()).map(Id::from_string),
    }
}

/// A payment method as the user sees it: the card's brand, last four digits and expiry (never
/// more of the card), and whether it is the customer's default.
pub(crate) fn payment_method(pm: &PaymentMethod, default_id: Option<&str>) -> PaymentMethodSummary {
    let card = pm.card.as_ref();
    PaymentMethodSummary {
        id: pm.id.clone(),
        kind: pm.kind.clone(),
        brand: card.map(|c| c.brand.clone()),
        last4: card.map(|c| c.last4.clone()),
        exp_month: card.and_then(|c| u32::try_from(c.exp_month).ok()),
        exp_year: card.and_then(|c| u32::try_from(c.exp_year).ok()),
        is_default: default_id == Some(pm.id.as_str()),
    }
}

/// The customer's default payment method for invoices (`invoice_settings.default_payment_method`).
pub(crate) fn default_payment_method(customer: &Customer) -> Option<String> {
    customer.invoice_settings.as_ref()?.default_payment_method.as_ref().map(id_of)
}

/// Our organization id on a customer (`metadata[org_id]`).
pub(crate) fn customer_org_id(customer: &Customer) -> Option<Id> {
    org_id(customer.metadata.as_ref())
}

pub(crate) fn invoice_status(status: &str) -> Result<InvoiceStatus, PaymentsError> {
    Ok(match status {
        "draft" => InvoiceStatus::Draft,
        "open" => InvoiceStatus::Open,
        "paid" => InvoiceStatus::Paid,
        "void" => InvoiceStatus::Void,
        "uncollectible" => InvoiceStatus::Uncollectible,
        _ => return Err(unreadable("an invoice status")),
    })
}

/// The subscription an invoice bills: `parent.subscription_details.subscription` (API
/// versions since 2025-03-31), else the older top-level `subscription`.
pub(crate) fn invoice_subscription_id(invoice: &StripeInvoice) -> Option<String> {
    let parent = invoice.parent.as_ref().and_then(|p| p.subscription_details.as_ref()).map(|d| id_of(&d.subscription));
    parent.or_else(|| invoice.subscription.as_ref().map(id_of))
}

/// An invoice with the organization `org_id` (read from its customer by the caller). `id` is
/// the id asked for (an invoice always has one; only previews have none).
pub(crate) fn invoice(invoice: &StripeInvoice, id: &str, org_id: Id) -> Result<Invoice, PaymentsError> {
    let customer_id =
        invoice.customer.as_ref().map(id_of).ok_or_else(|| unreadable("an invoice without a customer"))?;
    Ok(Invoice {
        id: invoice.id.clone().unwrap_or_else(|| id.to_owned()),
        org_id,
        customer_id,
        subscription_id: invoice_subscription_id(invoice),
        number: invoice.number.clone(),
        // A draft has no status until finalized in some API versions.
        status: invoice.status.as_deref().map(invoice_status).transpose()?.unwrap_or(InvoiceStatus::Draft),
        amount_due: invoice.amount_due,
        amount_paid: invoice.amount_paid,
        currency: invoice.currency.clone(),
        period_start: time(invoice.period_start)?,
        period_end: time(invoice.period_end)?,
        created_at: time(invoice.created)?,
        hosted_invoice_url: invoice.hosted_invoice_url.clone(),
    })
}

/// Our organization on an invoice: its customer's `metadata[org_id]` (the customer expanded).
/// `None`: not expanded, or a customer of none of ours. The customer is the only source (not
/// the invoice's own metadata): it is what ties an invoice to an organization.
pub(crate) fn invoice_org_id(invoice: &StripeInvoice) -> Option<Id> {
    invoice.customer.as_ref().and_then(Expandable::as_object).and_then(customer_org_id)
}

/// A preview of the next invoice.
pub(crate) fn estimate(invoice: &StripeInvoice) -> Result<InvoiceEstimate, PaymentsError> {
    Ok(InvoiceEstimate {
        amount_due: invoice.amount_due,
        currency: invoice.currency.clone(),
        period_end: Some(time(invoice.period_end)?),
    })
}

/// What a plan wants of a price, compared with what a price is (prices are immutable: one
/// that differs is replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WantedPrice<'a> {
    pub unit_amount: i64,
    pub currency: &'a str,
    /// `Some(meter id)`: a metered price on that meter, per started 1,000 units; `None`: a
    /// licensed monthly price.
    pub meter: Option<&'a str>,
}

impl WantedPrice<'_> {
    /// Whether `price` charges what this asks for, monthly (active or not).
    pub(crate) fn matches(&self, price: &Price) -> bool {
        let Some(recurring) = &price.recurring else { return false };
        let same_base = price.unit_amount == Some(self.unit_amount)
            && price.currency.eq_ignore_ascii_case(self.currency)
            && recurring.interval == "month"
            && recurring.interval_count == 1;
        let same_kind = match self.meter {
            None => recurring.usage_type == "licensed" && price.transform_quantity.is_none(),
            Some(meter) => {
                recurring.usage_type == "metered"
                    && recurring.meter.as_deref() == Some(meter)
                    && price
                        .transform_quantity
                        .as_ref()
                        .is_some_and(|t| t.divide_by == tollgate_domain::plan::OVERAGE_UNIT as i64 && t.round == "up")
            }
        };
        same_base && same_kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// A fixture (Stripe's example object, `tests/fixtures/`) with `changes` merged over its
    /// top-level fields, parsed as the client parses an answer.
    pub(crate) fn fixture<T: serde::de::DeserializeOwned>(name: &str, changes: Value) -> T {
        let text = match name {
            "customer" => include_str!("../tests/fixtures/customer.json"),
            "payment_method" => include_str!("../tests/fixtures/payment_method.json"),
            "subscription" => include_str!("../tests/fixtures/subscription.json"),
            "invoice" => include_str!("../tests/fixtures/invoice.json"),
            "checkout_session" => include_str!("../tests/fixtures/checkout_session.json"),
            "price" => include_str!("../tests/fixtures/price.json"),
            other => panic!("no fixture {other}"),
        };
        let mut value: Value = serde_json::from_str(text).expect("fixture JSON");
        if let (Value::Object(object), Value::Object(changes)) = (&mut value, changes) {
            object.extend(changes);
        }
        serde_json::from_str(&value.to_string()).unwrap_or_else(|e| panic!("cannot parse the {name} fixture: {e}"))
    }

    fn fixture_value(name: &str) -> Value {
        let text = match name {
            "subscription" => include_str!("../tests/fixtures/subscription.json"),
            "price" => include_str!("../tests/fixtures/price.json"),
            other => panic!("no fixture {other}"),
        };
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn every_fixture_parses_with_the_adapters_types() {
        use crate::objects::{Meter, MeterEventSummary, Product};
        let _: Customer = fixture("customer", json!({}));
        let _: PaymentMethod = fixture("payment_method", json!({}));
        let _: Subscription = fixture("subscription", json!({}));
        let _: StripeInvoice = fixture("invoice", json!({}));
        let _: CheckoutSession = fixture("checkout_session", json!({}));
        let _: Price = fixture("price", json!({}));
        let product: Product = serde_json::from_str(include_str!("../tests/fixtures/product.json")).unwrap();
        assert!(product.id.starts_with("prod_"));
        let meter: Meter = serde_json::from_str(include_str!("../tests/fixtures/billing_meter.json")).unwrap();
        assert_eq!((meter.event_name.as_str(), meter.status.as_str()), ("test-meter-event-name", "active"));
        let summary: MeterEventSummary =
            serde_json::from_str(include_str!("../tests/fixtures/billing_meter_event_summary.json")).unwrap();
        assert_eq!(summary.aggregated_value, 25.0);
        // A meter event's answer is not read, only checked to be JSON.
        let _: serde::de::IgnoredAny =
            serde_json::from_str(include_str!("../tests/fixtures/billing_meter_event.json")).unwrap();
    }

    #[test]
    fn an_expandable_field_is_an_id_or_the_object() {
        let invoice: StripeInvoice = fixture("invoice", json!({}));
        let customer = invoice.customer.expect("a customer");
        assert_eq!(customer.id(), "cus_QXg1o8vcGmoR32");
        assert!(customer.as_object().is_none());
        let expanded: StripeInvoice = fixture("invoice", json!({"customer": {"id": "cus_1", "metadata": {}}}));
        let customer = expanded.customer.expect("a customer");
        assert_eq!(customer.id(), "cus_1");
        assert!(customer.as_object().is_some());
    }

    /// Two items on different periods: the subscription's period spans both.
    fn two_item_subscription() -> Value {
        let mut sub = fixture_value("subscription");
        let item = sub["items"]["data"][0].clone();
        let mut base = item.clone();
        base["price"]["id"] = json!("price_base");
        base["current_period_start"] = json!(1_767_225_600); // 2026-01-01
        base["current_period_end"] = json!(1_769_904_000); // 2026-02-01
        let mut metered = item;
        metered["id"] = json!("si_metered");
        metered["price"]["id"] = json!("price_metered");
        metered["current_period_start"] = json!(1_767_312_000); // 2026-01-02
        metered["current_period_end"] = json!(1_769_990_400); // 2026-02-02
        sub["items"]["data"] = json!([base, metered]);
        json!({
            "id": "sub_1", "customer": "cus_1", "status": "past_due", "cancel_at_period_end": true,
            "metadata": {"org_id": "org_abc", "plan_id": "plan_pro"}, "items": sub["items"],
        })
    }

    #[test]
    fn a_subscription_maps_with_its_period_from_its_items() {
        let sub: Subscription = fixture("subscription", two_item_subscription());
        let mapped = subscription(&sub).unwrap();
        assert_eq!(
            mapped,
            ProviderSubscription {
                id: "sub_1".into(),
                customer_id: "cus_1".into(),
                status: ProviderSubscriptionStatus::PastDue,
                price_ids: vec!["price_base".into(), "price_metered".into()],
                current_period_start: time(1_767_225_600).unwrap(),
                current_period_end: time(1_769_990_400).unwrap(),
                cancel_at_period_end: true,
                org_id: Some(Id::from_string("org_abc")),
                hold: None,
            }
        );
    }

    #[test]
    fn subscription_statuses_and_a_missing_org_id() {
        for (stripe, ours) in [
            ("incomplete", ProviderSubscriptionStatus::Incomplete),
            ("incomplete_expired", ProviderSubscriptionStatus::IncompleteExpired),
            ("trialing", ProviderSubscriptionStatus::Trialing),
            ("active", ProviderSubscriptionStatus::Active),
            ("canceled", ProviderSubscriptionStatus::Canceled),
            ("unpaid", ProviderSubscriptionStatus::Unpaid),
            ("paused", ProviderSubscriptionStatus::Paused),
        ] {
            let sub: Subscription = fixture("subscription", json!({"status": stripe, "metadata": {}}));
            let mapped = subscription(&sub).unwrap();
            assert_eq!(mapped.status, ours);
            assert_eq!(mapped.org_id, None);
        }
        let sub: Subscription = fixture("subscription", json!({"status": "something_new"}));
        assert!(matches!(subscription(&sub), Err(PaymentsError::Unavailable { .. })));
    }

    #[test]
    fn a_completed_checkout_carries_customer_subscription_and_org() {
        let session: CheckoutSession = fixture(
            "checkout_session",
            json!({"id": "cs_1", "mode": "subscription", "customer": "cus_1", "subscription": "sub_1",
                   "client_reference_id": "org_abc", "status": "complete"}),
        );
        assert_eq!(
            completed_checkout(&session),
            CompletedCheckout {
                id: "cs_1".into(),
                customer_id: Some("cus_1".into()),
                subscription_id: Some("sub_1".into()),
                org_id: Some(Id::from_string("org_abc")),
            }
        );
        // The example session (payment mode, no customer, no reference).
        let session: CheckoutSession = fixture("checkout_session", json!({}));
        let done = completed_checkout(&session);
        assert_eq!((done.customer_id, done.subscription_id, done.org_id), (None, None, None));
    }

    #[test]
    fn a_card_shows_brand_last4_and_expiry_and_whether_it_is_the_default() {
        let pm: PaymentMethod = fixture("payment_method", json!({"id": "pm_1", "customer": "cus_1"}));
        let summary = payment_method(&pm, Some("pm_1"));
        assert_eq!(
            summary,
            PaymentMethodSummary {
                id: "pm_1".into(),
                kind: "card".into(),
                brand: Some("visa".into()),
                last4: Some("4242".into()),
                exp_month: Some(8),
                exp_year: Some(2030),
                is_default: true,
            }
        );
        assert!(!payment_method(&pm, Some("pm_2")).is_default);
        assert!(!payment_method(&pm, None).is_default);
    }

    #[test]
    fn a_customers_default_payment_method_and_org() {
        let customer: Customer = fixture(
            "customer",
            json!({"metadata": {"org_id": "org_abc"},
                   "invoice_settings": {"custom_fields": null, "default_payment_method": "pm_9", "footer": null,
                                        "rendering_options": null}}),
        );
        assert_eq!(default_payment_method(&customer).as_deref(), Some("pm_9"));
        assert_eq!(customer_org_id(&customer), Some(Id::from_string("org_abc")));
        let bare: Customer = fixture("customer", json!({}));
        assert_eq!(default_payment_method(&bare), None);
        assert_eq!(customer_org_id(&bare), None);
    }

    #[test]
    fn an_invoice_maps_with_its_subscription_from_its_parent() {
        let customer: Value = serde_json::from_str(include_str!("../tests/fixtures/customer.json")).unwrap();
        let mut customer = customer;
        customer["id"] = json!("cus_1");
        customer["metadata"] = json!({"org_id": "org_abc"});
        let stripe: StripeInvoice = fixture(
            "invoice",
            json!({"id": "in_1", "customer": customer, "status": "open", "number": "ABC-0001",
                   "amount_due": 2900, "amount_paid": 0, "currency": "usd",
                   "period_start": 1_767_225_600, "period_end": 1_769_904_000, "created": 1_769_904_100,
                   "hosted_invoice_url": "https://invoice.stripe.com/i/x",
                   "parent": {"type": "subscription_details", "quote_details": null,
                              "subscription_details": {"metadata": {}, "subscription": "sub_1"}}}),
        );
        let org = invoice_org_id(&stripe).expect("the customer's org id");
        assert_eq!(org, Id::from_string("org_abc"));
        assert_eq!(
            invoice(&stripe, "in_1", org).unwrap(),
            Invoice {
                id: "in_1".into(),
                org_id: Id::from_string("org_abc"),
                customer_id: "cus_1".into(),
                subscription_id: Some("sub_1".into()),
                number: Some("ABC-0001".into()),
                status: InvoiceStatus::Open,
                amount_due: 2900,
                amount_paid: 0,
                currency: "usd".into(),
                period_start: time(1_767_225_600).unwrap(),
                period_end: time(1_769_904_000).unwrap(),
                created_at: time(1_769_904_100).unwrap(),
                hosted_invoice_url: Some("https://invoice.stripe.com/i/x".into()),
            }
        );
        let estimate = estimate(&stripe).unwrap();
        assert_eq!(estimate.amount_due, 2900);
        assert_eq!(estimate.period_end, Some(time(1_769_904_000).unwrap()));
    }

    #[test]
    fn invoice_statuses_and_an_invoice_of_someone_else() {
        for (stripe, ours) in [
            ("draft", InvoiceStatus::Draft),
            ("open", InvoiceStatus::Open),
            ("paid", InvoiceStatus::Paid),
            ("void", InvoiceStatus::Void),
            ("uncollectible", InvoiceStatus::Uncollectible),
        ] {
            let stripe_invoice: StripeInvoice = fixture("invoice", json!({"status": stripe}));
            assert_eq!(invoice(&stripe_invoice, "in_x", Id::from_string("org_1")).unwrap().status, ours);
        }
        // The example invoice: customer not expanded, no org id anywhere: not ours.
        let foreign: StripeInvoice = fixture("invoice", json!({"metadata": {}}));
        assert_eq!(invoice_org_id(&foreign), None);
        // The invoice's own metadata does not make it ours: only its customer's does.
        let one_off: StripeInvoice = fixture("invoice", json!({"metadata": {"org_id": "org_abc"}, "parent": null}));
        assert_eq!(invoice_org_id(&one_off), None);
        assert_eq!(invoice_subscription_id(&one_off), None);
    }

    #[test]
    fn a_price_matches_only_the_same_amount_currency_and_kind() {
        let licensed = WantedPrice { unit_amount: 2000, currency: "usd", meter: None };
        let mut value = fixture_value("price");
        value["transform_quantity"] = Value::Null;
        value["recurring"]["meter"] = Value::Null;
        value["recurring"]["usage_type"] = json!("licensed");
        value["unit_amount"] = json!(2000);
        value["currency"] = json!("usd");
        let parse = |v: &Value| -> Price { serde_json::from_value(v.clone()).unwrap() };
        assert!(licensed.matches(&parse(&value)));
        assert!(!WantedPrice { unit_amount: 2100, ..licensed.clone() }.matches(&parse(&value)));
        assert!(!WantedPrice { currency: "eur", ..licensed.clone() }.matches(&parse(&value)));
        assert!(WantedPrice { currency: "USD", ..licensed.clone() }.matches(&parse(&value)));

        let metered = WantedPrice { unit_amount: 50, currency: "usd", meter: Some("mtr_1") };
        let mut metered_value = value.clone();
        metered_value["unit_amount"] = json!(50);
        metered_value["recurring"]["usage_type"] = json!("metered");
        metered_value["recurring"]["meter"] = json!("mtr_1");
        metered_value["transform_quantity"] = json!({"divide_by": 1000, "round": "up"});
        assert!(metered.matches(&parse(&metered_value)));
        assert!(!licensed.matches(&parse(&metered_value)));
        assert!(!WantedPrice { meter: Some("mtr_2"), ..metered.clone() }.matches(&parse(&metered_value)));
        metered_value["transform_quantity"]["round"] = json!("down");
        assert!(!metered.matches(&parse(&metered_value)));
    }
}

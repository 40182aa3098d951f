//! The requests the adapter sends, built by pure functions (so tests can read the exact form
//! each one posts) together with their idempotency keys.

use crate::keys::{key, minute, short_hash};
use crate::map::{self, ORG_ID, PLAN_ID};
use std::collections::HashMap;
use std::str::FromStr;
use stripe_billing::billing_meter::{
    CreateBillingMeter, CreateBillingMeterCustomerMapping, CreateBillingMeterCustomerMappingType,
    CreateBillingMeterDefaultAggregation, CreateBillingMeterDefaultAggregationFormula, CreateBillingMeterValueSettings,
};
use stripe_billing::billing_meter_event::CreateBillingMeterEvent;
use stripe_billing::invoice::{CreateInvoice, CreateInvoicePendingInvoiceItemsBehavior};
use stripe_billing::invoice_item::CreateInvoiceItem;
use stripe_billing::subscription::{
    CreateSubscription, CreateSubscriptionItems, CreateSubscriptionPaymentBehavior, UpdateSubscription,
    UpdateSubscriptionItems, UpdateSubscriptionPaymentBehavior, UpdateSubscriptionProrationBehavior,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::CreateCustomer;
use stripe_product::price::{
    CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval, CreatePriceRecurringUsageType,
    CreatePriceTransformQuantity, CreatePriceTransformQuantityRound,
};
use stripe_product::product::CreateProduct;
use stripe_shared::CheckoutSessionMode;
use stripe_types::Currency;
use tollgate_domain::plan::OVERAGE_UNIT;
use tollgate_domain::{Id, PaymentsError, Plan, PlanBillingIds, PlanHold, SubscriptionCheckout};

/// The payload keys of the meter's events: the customer and the value.
pub(crate) const CUSTOMER_KEY: &str = "stripe_customer_id";
pub(crate) const VALUE_KEY: &str = "value";

/// A create request and the idempotency key it is sent with.
pub(crate) struct Keyed<R> {
    pub request: R,
    pub key: String,
}

fn metadata(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A lower-case ISO 4217 code as Stripe's currency (one it does not know is sent as given,
/// and Stripe refuses it).
pub(crate) fn currency(code: &str) -> Currency {
    Currency::from_str(&code.to_ascii_lowercase()).unwrap_or_else(|never| match never {})
}

pub(crate) fn create_customer(org_id: &Id, email: &str, name: &str, test_clock: Option<&str>) -> Keyed<CreateCustomer> {
    let mut request = CreateCustomer::new().email(email).name(name).metadata(metadata(&[(ORG_ID, org_id.as_str())]));
    if let Some(clock) = test_clock {
        request = request.test_clock(clock);
    }
    Keyed { request, key: key(&["customer", org_id.as_str()]) }
}

pub(crate) fn create_product(plan: &Plan) -> Keyed<CreateProduct> {
    let mut request = CreateProduct::new(plan.name.as_str()).metadata(metadata(&[(PLAN_ID, plan.id.as_str())]));
    if let Some(description) = plan.description.as_deref().filter(|d| !d.is_empty()) {
        request = request.description(description);
    }
    let fields = short_hash(&[&plan.name, plan.description.as_deref().unwrap_or("")]);
    Keyed { request, key: key(&["product", plan.id.as_str(), &fields]) }
}

/// The event name of a plan's meter: `tollgate_<plan id>` (letters, digits and `_` only).
pub(crate) fn meter_event_name(plan_id: &Id) -> String {
    let id: String = plan_id.as_str().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let mut name = format!("tollgate_{id}");
    name.truncate(100);
    name
}

/// A meter that sums the `value` of the events named `event_name`, per customer
/// (`payload[stripe_customer_id]`).
pub(crate) fn create_meter(plan: &Plan, event_name: &str) -> Keyed<CreateBillingMeter> {
    let request = CreateBillingMeter::new(
        CreateBillingMeterDefaultAggregation::new(CreateBillingMeterDefaultAggregationFormula::Sum),
        plan.name.as_str(),
        event_name,
    )
    .customer_mapping(CreateBillingMeterCustomerMapping::new(CUSTOMER_KEY, CreateBillingMeterCustomerMappingType::ById))
    .value_settings(CreateBillingMeterValueSettings::new(VALUE_KEY));
    Keyed { request, key: key(&["meter", plan.id.as_str(), event_name, &short_hash(&[&plan.name])]) }
}

/// A monthly price on `product_id`: licensed (the base fee) or, on `meter`, metered per
/// started 1,000 units (`transform_quantity[divide_by]=1000`, `round=up`). `replaces` is the
/// price it succeeds (named in the key, so going back to an earlier amount makes a new price
/// instead of finding the archived one).
pub(crate) fn create_price(
    plan_id: &Id,
    product_id: &str,
    unit_amount: i64,
    currency_code: &str,
    meter: Option<&str>,
    replaces: Option<&str>,
) -> Keyed<CreatePrice> {
    let mut recurring = CreatePriceRecurring::new(CreatePriceRecurringInterval::Month);
    let mut request = CreatePrice::new(currency(currency_code))
        .product(product_id)
        .unit_amount(unit_amount)
        .metadata(metadata(&[(PLAN_ID, plan_id.as_str())]));
    let kind = match meter {
        Some(meter) => {
            recurring.usage_type = Some(CreatePriceRecurringUsageType::Metered);
            recurring.meter = Some(meter.to_owned());
            request = request.transform_quantity(CreatePriceTransformQuantity::new(
                OVERAGE_UNIT as i64,
                CreatePriceTransformQuantityRound::Up,
            ));
            format!("metered-{meter}")
        }
        None => {
            recurring.usage_type = Some(CreatePriceRecurringUsageType::Licensed);
            "base".to_owned()
        }
    };
    let request = request.recurring(recurring);
    let amount = unit_amount.to_string();
    let key = key(&["price", product_id, &kind, &amount, currency_code, "after", replaces.unwrap_or("none")]);
    Keyed { request, key }
}

/// The items of a subscription to a plan: the base price once, the metered price without a
/// quantity (metered items have none).
fn checkout_line_items(prices: &PlanBillingIds) -> Vec<CreateCheckoutSessionLineItems> {
    let base = prices.base_price_id.iter().map(|price| {
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price = Some(price.clone());
        item.quantity = Some(1);
        item
    });
    let metered = prices.metered_price_id.iter().map(|price| {
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price = Some(price.clone());
        item
    });
    base.chain(metered).collect()
}

/// A Checkout session in subscription mode; the key names the organization, the plan and the
/// minute (`now`, unix seconds), plus a hash of the rest.
pub(crate) fn subscription_checkout(
    request: &SubscriptionCheckout,
    now: i64,
) -> Result<Keyed<CreateCheckoutSession>, PaymentsError> {
    let items = checkout_line_items(&request.prices);
    if items.is_empty() {
        return Err(PaymentsError::Rejected {
            code: None,
            message: "the plan has no price at the payment provider".into(),
        });
    }
    let ids = metadata(&[(ORG_ID, request.org_id.as_str()), (PLAN_ID, request.plan_id.as_str())]);
    let mut subscription_data = CreateCheckoutSessionSubscriptionData::new();
    subscription_data.metadata = Some(ids.clone());
    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .customer(request.customer_id.as_str())
        .client_reference_id(request.org_id.as_str())
        .line_items(items)
        .subscription_data(subscription_data)
        .metadata(ids)
        .success_url(request.success_url.as_str())
        .cancel_url(request.cancel_url.as_str());
    let price_ids: Vec<&str> = request.prices.price_ids().collect();
    let rest = short_hash(&[&request.customer_id, &price_ids.join(","), &request.success_url, &request.cancel_url]);
    let key = key(&["checkout", request.org_id.as_str(), request.plan_id.as_str(), &minute(now), &rest]);
    Ok(Keyed { request: session, key })
}

/// A Checkout session in setup mode (saving a payment method) in `currency_code`.
pub(crate) fn setup_checkout(
    customer_id: &str,
    org_id: &Id,
    currency_code: &str,
    success_url: &str,
    cancel_url: &str,
    now: i64,
) -> Keyed<CreateCheckoutSession> {
    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Setup)
        .currency(currency(currency_code))
        .customer(customer_id)
        .client_reference_id(org_id.as_str())
        .metadata(metadata(&[(ORG_ID, org_id.as_str())]))
        .success_url(success_url)
        .cancel_url(cancel_url);
    let rest = short_hash(&[customer_id, currency_code, success_url, cancel_url]);
    Keyed { request: session, key: key(&["setup-checkout", org_id.as_str(), &minute(now), &rest]) }
}

/// A subscription charged to the customer's default payment method at once: it fails (402)
/// rather than start unpaid (`payment_behavior=error_if_incomplete`). `payment_method` (the
/// customer's default) is in the key, so a retry after the card was changed is a new request.
pub(crate) fn create_subscription(
    customer_id: &str,
    org_id: &Id,
    plan_id: &Id,
    prices: &PlanBillingIds,
    payment_method: Option<&str>,
) -> Keyed<CreateSubscription> {
    let base = prices.base_price_id.iter().map(|price| {
        let mut item = CreateSubscriptionItems::new();
        item.price = Some(price.clone());
        item.quantity = Some(1);
        item
    });
    let metered = prices.metered_price_id.iter().map(|price| {
        let mut item = CreateSubscriptionItems::new();
        item.price = Some(price.clone());
        item
    });
    let request = CreateSubscription::new()
        .customer(customer_id)
        .items(base.chain(metered).collect::<Vec<_>>())
        .metadata(metadata(&[(ORG_ID, org_id.as_str()), (PLAN_ID, plan_id.as_str())]))
        .payment_behavior(CreateSubscriptionPaymentBehavior::ErrorIfIncomplete);
    let key = key(&[
        "subscription",
        org_id.as_str(),
        plan_id.as_str(),
        customer_id,
        payment_method.unwrap_or("none"),
        &short_hash(&[&prices.price_ids().collect::<Vec<_>>().join(",")]),
    ]);
    Keyed { request, key }
}

/// Moves a subscription whose items are `current` (item id, price id) to `prices`: deletes the
/// items of prices the plan does not have, adds the plan's prices it lacks (what is already
/// there stays, so a repeated change sends no item). With `prorate` the difference is invoiced
/// and charged at once, and the change is refused if that payment fails; without, nothing is
/// prorated (a downgrade at the period's end). `None`: nothing to change.
/// A plan change: the target plan and its prices, with proration or not, and the hold to
/// store (`None` clears one that `current_hold` shows).
pub(crate) struct PlanChange<'a> {
    pub plan_id: &'a Id,
    pub prices: &'a PlanBillingIds,
    pub prorate: bool,
    pub hold: Option<&'a PlanHold>,
    pub current_hold: Option<&'a PlanHold>,
}

pub(crate) fn change_subscription_plan(
    id: &str,
    current: &[(String, String)],
    current_plan_id: Option<&str>,
    change: &PlanChange<'_>,
) -> Option<UpdateSubscription> {
    let PlanChange { plan_id, prices, prorate, hold, current_hold } = *change;
    let wanted: Vec<&str> = prices.price_ids().collect();
    let mut items: Vec<UpdateSubscriptionItems> = current
        .iter()
        .filter(|(_, price)| !wanted.contains(&price.as_str()))
        .map(|(item_id, _)| {
            let mut item = UpdateSubscriptionItems::new();
            item.id = Some(item_id.clone());
            item.deleted = Some(true);
            item
        })
        .collect();
    for price in &wanted {
        if current.iter().any(|(_, p)| p == price) {
            continue;
        }
        let mut item = UpdateSubscriptionItems::new();
        item.price = Some(price.to_string());
        if prices.base_price_id.as_deref() == Some(*price) {
            item.quantity = Some(1);
        }
        items.push(item);
    }
    if items.is_empty() && current_plan_id == Some(plan_id.as_str()) && hold == current_hold {
        return None;
    }
    // An empty value removes a metadata key at Stripe.
    let until = hold.map(|h| h.until.timestamp().to_string()).unwrap_or_default();
    let held = hold.map(|h| h.plan_id.as_str()).unwrap_or_default();
    let ids = metadata(&[(PLAN_ID, plan_id.as_str()), (map::HELD_PLAN_ID, held), (map::HELD_UNTIL, &until)]);
    let mut request = UpdateSubscription::new(id).metadata(ids);
    if !items.is_empty() {
        request = request.items(items);
        request = if prorate {
            request
                .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
                .payment_behavior(UpdateSubscriptionPaymentBehavior::ErrorIfIncomplete)
        } else {
            request.proration_behavior(UpdateSubscriptionProrationBehavior::None)
        };
    }
    Some(request)
}

/// A one-off charge: an invoice item, then an invoice that takes the customer's pending items,
/// both keyed by the organization, the amount, the minute and a hash of the description.
pub(crate) fn one_off_invoice(
    customer_id: &str,
    org_id: &Id,
    amount: i64,
    currency_code: &str,
    description: &str,
    now: i64,
) -> (Keyed<CreateInvoiceItem>, Keyed<CreateInvoice>) {
    let ids = metadata(&[(ORG_ID, org_id.as_str())]);
    let item = CreateInvoiceItem::new()
        .customer(customer_id)
        .amount(amount)
        .currency(currency(currency_code))
        .description(description)
        .metadata(ids.clone());
    // In the item's currency: Stripe includes only pending items of the invoice's currency,
    // which is otherwise the customer's.
    let invoice = CreateInvoice::new()
        .customer(customer_id)
        .currency(currency(currency_code))
        .description(description)
        .metadata(ids)
        .pending_invoice_items_behavior(CreateInvoicePendingInvoiceItemsBehavior::Include)
        .auto_advance(true);
    let amount = amount.to_string();
    let parts = |kind| {
        key(&[kind, org_id.as_str(), customer_id, &amount, currency_code, &minute(now), &short_hash(&[description])])
    };
    (Keyed { request: item, key: parts("invoiceitem") }, Keyed { request: invoice, key: parts("invoice") })
}

/// A meter event: `value` units for the customer at `timestamp`, under our `identifier`.
/// No idempotency key: Stripe drops a second event with the same identifier, and a key would
/// make a retry with another timestamp (a report finished later) a refused "different
/// request" instead.
pub(crate) fn meter_event(
    event_name: &str,
    customer_id: &str,
    value: u64,
    identifier: &str,
    timestamp: i64,
) -> CreateBillingMeterEvent {
    let payload = metadata(&[(CUSTOMER_KEY, customer_id), (VALUE_KEY, &value.to_string())]);
    CreateBillingMeterEvent::new(event_name, payload).identifier(identifier).timestamp(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use stripe::StripeRequest;
    use tollgate_domain::{BillingType, PlanStatus};

    /// The form a request posts, decoded into (name, value) pairs in order.
    fn form<R: StripeRequest>(request: &R) -> Vec<(String, String)> {
        let built = request.build();
        let body = built.body.unwrap_or_default();
        body.split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(k), decode(v))
            })
            .collect()
    }

    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' if i + 3 <= bytes.len() => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }

    fn has(form: &[(String, String)], name: &str, value: &str) -> bool {
        form.iter().any(|(k, v)| k == name && v == value)
    }

    fn assert_form(form: &[(String, String)], expected: &[(&str, &str)]) {
        for (name, value) in expected {
            assert!(has(form, name, value), "missing {name}={value} in {form:?}");
        }
    }

    fn path<R: StripeRequest>(request: &R) -> String {
        request.build().path
    }

    fn plan(billing_type: BillingType) -> Plan {
        let now = Utc::now();
        Plan {
            id: Id::from_string("plan_growth"),
            name: "Growth".into(),
            description: Some("For growing teams".into()),
            billing_type,
            price: 2900,
            currency: "usd".into(),
            rate_limit: 600,
            burst: None,
            monthly_limit: Some(100_000),
            overage_price: Some(50),
            retention_days: 30,
            max_api_keys: 10,
            max_projects: 5,
            features: serde_json::json!({}),
            status: PlanStatus::Active,
            billing: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_customer_carries_the_org_id_and_the_test_clock() {
        let org = Id::from_string("org_abc");
        let keyed = create_customer(&org, "ada@example.com", "Analytical Engines", Some("clock_1"));
        assert_eq!(path(&keyed.request), "/customers");
        assert_eq!(keyed.key, "customer-org_abc");
        assert_form(
            &form(&keyed.request),
            &[
                ("email", "ada@example.com"),
                ("name", "Analytical Engines"),
                ("metadata[org_id]", "org_abc"),
                ("test_clock", "clock_1"),
            ],
        );
        let without = create_customer(&org, "ada@example.com", "A", None);
        assert!(!form(&without.request).iter().any(|(k, _)| k == "test_clock"));
    }

    #[test]
    fn a_product_a_meter_and_prices_for_a_hybrid_plan() {
        let plan = plan(BillingType::Hybrid);
        let product = create_product(&plan);
        assert_eq!(path(&product.request), "/products");
        assert_form(
            &form(&product.request),
            &[("name", "Growth"), ("description", "For growing teams"), ("metadata[plan_id]", "plan_growth")],
        );
        assert!(product.key.starts_with("product-plan_growth-"));

        assert_eq!(meter_event_name(&plan.id), "tollgate_plan_growth");
        assert_eq!(meter_event_name(&Id::from_string("plan-x.y")), "tollgate_plan_x_y");
        let meter = create_meter(&plan, "tollgate_plan_growth");
        assert_eq!(path(&meter.request), "/billing/meters");
        assert_form(
            &form(&meter.request),
            &[
                ("display_name", "Growth"),
                ("event_name", "tollgate_plan_growth"),
                ("default_aggregation[formula]", "sum"),
                ("customer_mapping[type]", "by_id"),
                ("customer_mapping[event_payload_key]", "stripe_customer_id"),
                ("value_settings[event_payload_key]", "value"),
            ],
        );

        let base = create_price(&plan.id, "prod_1", 2900, "usd", None, None);
        assert_eq!(path(&base.request), "/prices");
        assert_eq!(base.key, "price-prod_1-base-2900-usd-after-none");
        let base_form = form(&base.request);
        assert_form(
            &base_form,
            &[
                ("currency", "usd"),
                ("product", "prod_1"),
                ("unit_amount", "2900"),
                ("recurring[interval]", "month"),
                ("recurring[usage_type]", "licensed"),
                ("metadata[plan_id]", "plan_growth"),
            ],
        );
        assert!(!base_form.iter().any(|(k, _)| k.starts_with("transform_quantity")));

        let metered = create_price(&plan.id, "prod_1", 50, "usd", Some("mtr_1"), Some("price_old"));
        assert_eq!(metered.key, "price-prod_1-metered-mtr_1-50-usd-after-price_old");
        assert_form(
            &form(&metered.request),
            &[
                ("unit_amount", "50"),
                ("recurring[interval]", "month"),
                ("recurring[usage_type]", "metered"),
                ("recurring[meter]", "mtr_1"),
                ("transform_quantity[divide_by]", "1000"),
                ("transform_quantity[round]", "up"),
            ],
        );
    }

    fn checkout_request() -> SubscriptionCheckout {
        SubscriptionCheckout {
            customer_id: "cus_1".into(),
            org_id: Id::from_string("org_abc"),
            plan_id: Id::from_string("plan_growth"),
            prices: PlanBillingIds {
                product_id: "prod_1".into(),
                base_price_id: Some("price_base".into()),
                meter_id: Some("mtr_1".into()),
                meter_event_name: Some("tollgate_plan_growth".into()),
                metered_price_id: Some("price_metered".into()),
            },
            success_url: "https://app.example.com/billing?done=1".into(),
            cancel_url: "https://app.example.com/billing".into(),
        }
    }

    #[test]
    fn a_subscription_checkout_has_the_base_price_once_and_the_metered_price_without_quantity() {
        let keyed = subscription_checkout(&checkout_request(), 1_800_000_000).unwrap();
        assert_eq!(path(&keyed.request), "/checkout/sessions");
        let form = form(&keyed.request);
        assert_form(
            &form,
            &[
                ("mode", "subscription"),
                ("customer", "cus_1"),
                ("client_reference_id", "org_abc"),
                ("line_items[0][price]", "price_base"),
                ("line_items[0][quantity]", "1"),
                ("line_items[1][price]", "price_metered"),
                ("subscription_data[metadata][org_id]", "org_abc"),
                ("subscription_data[metadata][plan_id]", "plan_growth"),
                ("success_url", "https://app.example.com/billing?done=1"),
                ("cancel_url", "https://app.example.com/billing"),
            ],
        );
        assert!(!form.iter().any(|(k, _)| k == "line_items[1][quantity]"), "{form:?}");
        assert!(keyed.key.starts_with("checkout-org_abc-plan_growth-30000000-"), "{}", keyed.key);
        // The same request within the minute has the same key; the next minute another.
        assert_eq!(subscription_checkout(&checkout_request(), 1_800_000_059).unwrap().key, keyed.key);
        assert_ne!(subscription_checkout(&checkout_request(), 1_800_000_060).unwrap().key, keyed.key);

        let mut no_prices = checkout_request();
        no_prices.prices = PlanBillingIds::default();
        assert!(matches!(subscription_checkout(&no_prices, 0), Err(PaymentsError::Rejected { .. })));
    }

    #[test]
    fn a_setup_checkout_names_a_currency() {
        let keyed = setup_checkout("cus_1", &Id::from_string("org_abc"), "eur", "https://s", "https://c", 60);
        assert_form(
            &form(&keyed.request),
            &[
                ("mode", "setup"),
                ("currency", "eur"),
                ("customer", "cus_1"),
                ("client_reference_id", "org_abc"),
                ("success_url", "https://s"),
                ("cancel_url", "https://c"),
            ],
        );
        assert!(keyed.key.starts_with("setup-checkout-org_abc-1-"));
    }

    #[test]
    fn a_subscription_is_created_on_the_plans_prices_and_fails_rather_than_start_unpaid() {
        let prices = checkout_request().prices;
        let keyed = create_subscription(
            "cus_1",
            &Id::from_string("org_abc"),
            &Id::from_string("plan_growth"),
            &prices,
            Some("pm_1"),
        );
        assert_eq!(path(&keyed.request), "/subscriptions");
        let form = form(&keyed.request);
        assert_form(
            &form,
            &[
                ("customer", "cus_1"),
                ("items[0][price]", "price_base"),
                ("items[0][quantity]", "1"),
                ("items[1][price]", "price_metered"),
                ("metadata[org_id]", "org_abc"),
                ("metadata[plan_id]", "plan_growth"),
                ("payment_behavior", "error_if_incomplete"),
            ],
        );
        assert!(!form.iter().any(|(k, _)| k == "items[1][quantity]"));
        assert!(keyed.key.starts_with("subscription-org_abc-plan_growth-cus_1-pm_1-"), "{}", keyed.key);
    }

    #[test]
    fn a_plan_change_replaces_only_the_items_that_differ() {
        let current =
            vec![("si_base".to_string(), "price_old_base".to_string()), ("si_m".into(), "price_metered".into())];
        let prices = checkout_request().prices;
        let plan_id = Id::from_string("plan_growth");
        let change =
            |prorate, hold| PlanChange { plan_id: &plan_id, prices: &prices, prorate, hold, current_hold: None };
        let request = change_subscription_plan("sub_1", &current, Some("plan_old"), &change(true, None)).unwrap();
        assert_eq!(path(&request), "/subscriptions/sub_1");
        let form = form(&request);
        assert_form(
            &form,
            &[
                ("items[0][id]", "si_base"),
                ("items[0][deleted]", "true"),
                ("items[1][price]", "price_base"),
                ("items[1][quantity]", "1"),
                ("proration_behavior", "always_invoice"),
                ("payment_behavior", "error_if_incomplete"),
                ("metadata[plan_id]", "plan_growth"),
                // No hold: any earlier one is removed (an empty value unsets a key).
                ("metadata[held_plan_id]", ""),
                ("metadata[held_until]", ""),
            ],
        );
        assert_eq!(form.iter().filter(|(k, _)| k.starts_with("items[")).count(), 4, "{form:?}");

        // A downgrade keeps the plan paid for until the period's end, on the subscription.
        let hold = PlanHold {
            plan_id: Id::from_string("plan_old"),
            until: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        };
        let downgrade =
            change_subscription_plan("sub_1", &current, Some("plan_old"), &change(false, Some(&hold))).unwrap();
        assert_form(
            &super::tests::form(&downgrade),
            &[
                ("proration_behavior", "none"),
                ("metadata[held_plan_id]", "plan_old"),
                ("metadata[held_until]", "1800000000"),
            ],
        );

        // Already there: nothing to send.
        let done = vec![("si_b".to_string(), "price_base".to_string()), ("si_m".into(), "price_metered".into())];
        assert!(change_subscription_plan("sub_1", &done, Some("plan_growth"), &change(true, None)).is_none());
        // Same prices, another plan id: only the metadata.
        let relabel = change_subscription_plan("sub_1", &done, Some("plan_old"), &change(true, None)).unwrap();
        let relabel = super::tests::form(&relabel);
        assert!(!relabel.iter().any(|(k, _)| k.starts_with("items") || k == "proration_behavior"), "{relabel:?}");
        // Same prices and plan, a hold to clear: the metadata.
        let cleared = PlanChange { current_hold: Some(&hold), ..change(true, None) };
        assert!(change_subscription_plan("sub_1", &done, Some("plan_growth"), &cleared).is_some());
    }

    #[test]
    fn a_one_off_invoice_is_an_item_then_an_invoice_that_takes_it() {
        let org = Id::from_string("org_abc");
        let (item, invoice) = one_off_invoice("cus_1", &org, 1500, "usd", "Setup fee", 120);
        assert_eq!(path(&item.request), "/invoiceitems");
        assert_form(
            &form(&item.request),
            &[
                ("customer", "cus_1"),
                ("amount", "1500"),
                ("currency", "usd"),
                ("description", "Setup fee"),
                ("metadata[org_id]", "org_abc"),
            ],
        );
        assert_eq!(path(&invoice.request), "/invoices");
        assert_form(
            &form(&invoice.request),
            &[
                ("customer", "cus_1"),
                ("currency", "usd"),
                ("metadata[org_id]", "org_abc"),
                ("pending_invoice_items_behavior", "include"),
                ("auto_advance", "true"),
            ],
        );
        assert!(item.key.starts_with("invoiceitem-org_abc-cus_1-1500-usd-2-"));
        assert!(invoice.key.starts_with("invoice-org_abc-cus_1-1500-usd-2-"));
    }

    #[test]
    fn a_meter_event_names_the_customer_and_the_value() {
        let request = meter_event("tollgate_plan_growth", "cus_1", 1234, "usage-org_abc-2026-01", 1_767_225_600);
        assert_eq!(path(&request), "/billing/meter_events");
        assert_form(
            &form(&request),
            &[
                ("event_name", "tollgate_plan_growth"),
                ("payload[stripe_customer_id]", "cus_1"),
                ("payload[value]", "1234"),
                ("identifier", "usage-org_abc-2026-01"),
                ("timestamp", "1767225600"),
            ],
        );
    }
}

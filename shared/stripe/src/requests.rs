//! The requests the adapter sends, built by pure functions (so tests can read the exact form
//! each one posts) together with their idempotency keys.

use crate::client::{id, Request};
use crate::form::Form;
use crate::keys::{key, minute, short_hash};
use crate::map::{self, ORG_ID, PLAN_ID};
use tollgate_domain::plan::OVERAGE_UNIT;
use tollgate_domain::{Id, PaymentsError, Plan, PlanBillingIds, PlanHold, SubscriptionCheckout};

/// The payload keys of the meter's events: the customer and the value.
pub(crate) const CUSTOMER_KEY: &str = "stripe_customer_id";
pub(crate) const VALUE_KEY: &str = "value";
/// Stripe lists at most 100 objects a page.
const PAGE: i64 = 100;

/// A create request and the idempotency key it is sent with.
pub(crate) struct Keyed {
    pub request: Request,
    pub key: String,
}

/// A currency as Stripe wants it: a lower-case ISO 4217 code (one it does not know is sent as
/// given, and Stripe refuses it).
fn currency(code: &str) -> String {
    code.to_ascii_lowercase()
}

// Reads, and changes without parameters of their own.

pub(crate) fn retrieve_customer(customer_id: &str) -> Request {
    Request::get(format!("/customers/{}", id(customer_id)))
}

pub(crate) fn retrieve_payment_method(payment_method_id: &str) -> Request {
    Request::get(format!("/payment_methods/{}", id(payment_method_id)))
}

pub(crate) fn detach_payment_method(payment_method_id: &str) -> Request {
    Request::post(format!("/payment_methods/{}/detach", id(payment_method_id)))
}

/// A page of the customer's cards, after the payment method `after`.
pub(crate) fn list_cards(customer_id: &str, after: Option<&str>) -> Request {
    let form = Form::new().text("customer", customer_id).text("type", "card").int("limit", PAGE);
    Request::get("/payment_methods").form(form.opt("starting_after", after))
}

pub(crate) fn retrieve_price(price_id: &str) -> Request {
    Request::get(format!("/prices/{}", id(price_id)))
}

/// Archives (`false`) or reactivates a price.
pub(crate) fn set_price_active(price_id: &str, active: bool) -> Request {
    Request::post(format!("/prices/{}", id(price_id))).form(Form::new().bool("active", active))
}

/// Archives a product.
pub(crate) fn archive_product(product_id: &str) -> Request {
    Request::post(format!("/products/{}", id(product_id))).form(Form::new().bool("active", false))
}

pub(crate) fn retrieve_meter(meter_id: &str) -> Request {
    Request::get(format!("/billing/meters/{}", id(meter_id)))
}

/// Reactivates (`true`) or deactivates a meter.
pub(crate) fn set_meter_active(meter_id: &str, active: bool) -> Request {
    let action = if active { "reactivate" } else { "deactivate" };
    Request::post(format!("/billing/meters/{}/{action}", id(meter_id)))
}

pub(crate) fn retrieve_checkout_session(session_id: &str) -> Request {
    Request::get(format!("/checkout/sessions/{}", id(session_id)))
}

pub(crate) fn retrieve_subscription(subscription_id: &str) -> Request {
    Request::get(format!("/subscriptions/{}", id(subscription_id)))
}

pub(crate) fn set_cancel_at_period_end(subscription_id: &str, cancel: bool) -> Request {
    Request::post(format!("/subscriptions/{}", id(subscription_id)))
        .form(Form::new().bool("cancel_at_period_end", cancel))
}

/// Makes `payment_method_id` the customer's default for invoices.
pub(crate) fn set_customer_default_payment_method(customer_id: &str, payment_method_id: &str) -> Request {
    Request::post(format!("/customers/{}", id(customer_id)))
        .form(Form::new().text("invoice_settings[default_payment_method]", payment_method_id))
}

/// Makes `payment_method_id` the subscription's default.
pub(crate) fn set_subscription_default_payment_method(subscription_id: &str, payment_method_id: &str) -> Request {
    Request::post(format!("/subscriptions/{}", id(subscription_id)))
        .form(Form::new().text("default_payment_method", payment_method_id))
}

/// An invoice; with `expand_customer`, its customer as an object (whose metadata names our
/// organization).
pub(crate) fn retrieve_invoice(invoice_id: &str, expand_customer: bool) -> Request {
    let form = if expand_customer { Form::new().expand("customer") } else { Form::new() };
    Request::get(format!("/invoices/{}", id(invoice_id))).form(form)
}

pub(crate) fn finalize_invoice(invoice_id: &str) -> Request {
    Request::post(format!("/invoices/{}/finalize", id(invoice_id)))
}

/// Marks an invoice paid outside Stripe; the answer has its customer expanded.
pub(crate) fn pay_invoice_out_of_band(invoice_id: &str) -> Request {
    Request::post(format!("/invoices/{}/pay", id(invoice_id)))
        .form(Form::new().bool("paid_out_of_band", true).expand("customer"))
}

/// A preview of the subscription's next invoice (creates nothing).
pub(crate) fn preview_invoice(customer_id: &str, subscription_id: &str) -> Request {
    Request::post("/invoices/create_preview")
        .form(Form::new().text("customer", customer_id).text("subscription", subscription_id))
}

/// A page of the customer's usage summaries on a meter over `[start, end)` (unix seconds, whole
/// minutes), after the summary `after`.
pub(crate) fn meter_event_summaries(
    meter_id: &str,
    customer_id: &str,
    start: i64,
    end: i64,
    after: Option<&str>,
) -> Request {
    let form = Form::new()
        .text("customer", customer_id)
        .int("start_time", start)
        .int("end_time", end)
        .int("limit", PAGE)
        .opt("starting_after", after);
    Request::get(format!("/billing/meters/{}/event_summaries", id(meter_id))).form(form)
}

// Creates and changes with parameters.

pub(crate) fn create_customer(org_id: &Id, email: &str, name: &str, test_clock: Option<&str>) -> Keyed {
    let form = Form::new()
        .text("email", email)
        .text("name", name)
        .map("metadata", &[(ORG_ID, org_id.as_str())])
        .opt("test_clock", test_clock);
    Keyed { request: Request::post("/customers").form(form), key: key(&["customer", org_id.as_str()]) }
}

/// A description only if there is one (Stripe refuses an empty one).
fn description(plan: &Plan) -> Option<&str> {
    plan.description.as_deref().filter(|d| !d.is_empty())
}

pub(crate) fn create_product(plan: &Plan) -> Keyed {
    let form = Form::new()
        .text("name", plan.name.as_str())
        .opt("description", description(plan))
        .map("metadata", &[(PLAN_ID, plan.id.as_str())]);
    let fields = short_hash(&[&plan.name, plan.description.as_deref().unwrap_or("")]);
    Keyed { request: Request::post("/products").form(form), key: key(&["product", plan.id.as_str(), &fields]) }
}

/// The plan's product as the plan is now: name, description, active or not.
pub(crate) fn update_product(product_id: &str, plan: &Plan) -> Request {
    let form = Form::new()
        .text("name", plan.name.as_str())
        .bool("active", plan.status == tollgate_domain::PlanStatus::Active)
        .map("metadata", &[(PLAN_ID, plan.id.as_str())])
        .opt("description", description(plan));
    Request::post(format!("/products/{}", id(product_id))).form(form)
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
pub(crate) fn create_meter(plan: &Plan, event_name: &str) -> Keyed {
    let form = Form::new()
        .text("default_aggregation[formula]", "sum")
        .text("display_name", plan.name.as_str())
        .text("event_name", event_name)
        .text("customer_mapping[event_payload_key]", CUSTOMER_KEY)
        .text("customer_mapping[type]", "by_id")
        .text("value_settings[event_payload_key]", VALUE_KEY);
    let key = key(&["meter", plan.id.as_str(), event_name, &short_hash(&[&plan.name])]);
    Keyed { request: Request::post("/billing/meters").form(form), key }
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
) -> Keyed {
    let mut form = Form::new()
        .text("currency", currency(currency_code))
        .map("metadata", &[(PLAN_ID, plan_id.as_str())])
        .text("product", product_id)
        .text("recurring[interval]", "month");
    let kind = match meter {
        Some(meter) => {
            form = form
                .text("recurring[meter]", meter)
                .text("recurring[usage_type]", "metered")
                .int("transform_quantity[divide_by]", OVERAGE_UNIT as i64)
                .text("transform_quantity[round]", "up");
            format!("metered-{meter}")
        }
        None => {
            form = form.text("recurring[usage_type]", "licensed");
            "base".to_owned()
        }
    };
    let form = form.int("unit_amount", unit_amount);
    let amount = unit_amount.to_string();
    let key = key(&["price", product_id, &kind, &amount, currency_code, "after", replaces.unwrap_or("none")]);
    Keyed { request: Request::post("/prices").form(form), key }
}

/// The items of a subscription to a plan, under `name` (`line_items`, `items`): the base price
/// once, the metered price without a quantity (metered items have none).
fn plan_items(mut form: Form, name: &str, prices: &PlanBillingIds) -> Form {
    let mut index = 0;
    if let Some(price) = &prices.base_price_id {
        form =
            form.text(format!("{name}[{index}][price]"), price.as_str()).int(format!("{name}[{index}][quantity]"), 1);
        index += 1;
    }
    if let Some(price) = &prices.metered_price_id {
        form = form.text(format!("{name}[{index}][price]"), price.as_str());
    }
    form
}

/// A Checkout session in subscription mode; the key names the organization, the plan and the
/// minute (`now`, unix seconds), plus a hash of the rest.
pub(crate) fn subscription_checkout(request: &SubscriptionCheckout, now: i64) -> Result<Keyed, PaymentsError> {
    if request.prices.base_price_id.is_none() && request.prices.metered_price_id.is_none() {
        return Err(PaymentsError::Rejected {
            code: None,
            message: "the plan has no price at the payment provider".into(),
        });
    }
    let ids = [(ORG_ID, request.org_id.as_str()), (PLAN_ID, request.plan_id.as_str())];
    let form = Form::new()
        .text("cancel_url", request.cancel_url.as_str())
        .text("client_reference_id", request.org_id.as_str())
        .text("customer", request.customer_id.as_str());
    let form = plan_items(form, "line_items", &request.prices)
        .map("metadata", &ids)
        .text("mode", "subscription")
        .map("subscription_data[metadata]", &ids)
        .text("success_url", request.success_url.as_str());
    let price_ids: Vec<&str> = request.prices.price_ids().collect();
    let rest = short_hash(&[&request.customer_id, &price_ids.join(","), &request.success_url, &request.cancel_url]);
    let key = key(&["checkout", request.org_id.as_str(), request.plan_id.as_str(), &minute(now), &rest]);
    Ok(Keyed { request: Request::post("/checkout/sessions").form(form), key })
}

/// A Checkout session in setup mode (saving a payment method) in `currency_code`.
pub(crate) fn setup_checkout(
    customer_id: &str,
    org_id: &Id,
    currency_code: &str,
    success_url: &str,
    cancel_url: &str,
    now: i64,
) -> Keyed {
    let form = Form::new()
        .text("cancel_url", cancel_url)
        .text("client_reference_id", org_id.as_str())
        .text("currency", currency(currency_code))
        .text("customer", customer_id)
        .map("metadata", &[(ORG_ID, org_id.as_str())])
        .text("mode", "setup")
        .text("success_url", success_url);
    let rest = short_hash(&[customer_id, currency_code, success_url, cancel_url]);
    let key = key(&["setup-checkout", org_id.as_str(), &minute(now), &rest]);
    Keyed { request: Request::post("/checkout/sessions").form(form), key }
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
) -> Keyed {
    let form = plan_items(Form::new().text("customer", customer_id), "items", prices)
        .map("metadata", &[(ORG_ID, org_id.as_str()), (PLAN_ID, plan_id.as_str())])
        .text("payment_behavior", "error_if_incomplete");
    let key = key(&[
        "subscription",
        org_id.as_str(),
        plan_id.as_str(),
        customer_id,
        payment_method.unwrap_or("none"),
        &short_hash(&[&prices.price_ids().collect::<Vec<_>>().join(",")]),
    ]);
    Keyed { request: Request::post("/subscriptions").form(form), key }
}

/// A plan change: the target plan and its prices, with proration or not, and the hold to
/// store (`None` clears one that `current_hold` shows).
pub(crate) struct PlanChange<'a> {
    pub plan_id: &'a Id,
    pub prices: &'a PlanBillingIds,
    pub prorate: bool,
    pub hold: Option<&'a PlanHold>,
    pub current_hold: Option<&'a PlanHold>,
}

/// Moves a subscription whose items are `current` (item id, price id) to `prices`: deletes the
/// items of prices the plan does not have, adds the plan's prices it lacks (what is already
/// there stays, so a repeated change sends no item). With `prorate` the difference is invoiced
/// and charged at once, and the change is refused if that payment fails; without, nothing is
/// prorated (a downgrade at the period's end). `None`: nothing to change.
pub(crate) fn change_subscription_plan(
    subscription_id: &str,
    current: &[(String, String)],
    current_plan_id: Option<&str>,
    change: &PlanChange<'_>,
) -> Option<Request> {
    let PlanChange { plan_id, prices, prorate, hold, current_hold } = *change;
    let wanted: Vec<&str> = prices.price_ids().collect();
    let mut form = Form::new();
    let mut items = 0;
    for (item_id, _) in current.iter().filter(|(_, price)| !wanted.contains(&price.as_str())) {
        form =
            form.text(format!("items[{items}][id]"), item_id.as_str()).bool(format!("items[{items}][deleted]"), true);
        items += 1;
    }
    for price in &wanted {
        if current.iter().any(|(_, p)| p == price) {
            continue;
        }
        form = form.text(format!("items[{items}][price]"), *price);
        if prices.base_price_id.as_deref() == Some(*price) {
            form = form.int(format!("items[{items}][quantity]"), 1);
        }
        items += 1;
    }
    if items == 0 && current_plan_id == Some(plan_id.as_str()) && hold == current_hold {
        return None;
    }
    // An empty value removes a metadata key at Stripe.
    let until = hold.map(|h| h.until.timestamp().to_string()).unwrap_or_default();
    let held = hold.map(|h| h.plan_id.as_str()).unwrap_or_default();
    form = form.map("metadata", &[(PLAN_ID, plan_id.as_str()), (map::HELD_PLAN_ID, held), (map::HELD_UNTIL, &until)]);
    if items > 0 {
        form = if prorate {
            form.text("proration_behavior", "always_invoice").text("payment_behavior", "error_if_incomplete")
        } else {
            form.text("proration_behavior", "none")
        };
    }
    Some(Request::post(format!("/subscriptions/{}", id(subscription_id))).form(form))
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
) -> (Keyed, Keyed) {
    let ids = [(ORG_ID, org_id.as_str())];
    let item = Form::new()
        .int("amount", amount)
        .text("currency", currency(currency_code))
        .text("customer", customer_id)
        .text("description", description)
        .map("metadata", &ids);
    // In the item's currency: Stripe includes only pending items of the invoice's currency,
    // which is otherwise the customer's.
    let invoice = Form::new()
        .bool("auto_advance", true)
        .text("currency", currency(currency_code))
        .text("customer", customer_id)
        .text("description", description)
        .map("metadata", &ids)
        .text("pending_invoice_items_behavior", "include");
    let amount = amount.to_string();
    let parts = |kind| {
        key(&[kind, org_id.as_str(), customer_id, &amount, currency_code, &minute(now), &short_hash(&[description])])
    };
    (
        Keyed { request: Request::post("/invoiceitems").form(item), key: parts("invoiceitem") },
        Keyed { request: Request::post("/invoices").form(invoice), key: parts("invoice") },
    )
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
) -> Request {
    let form = Form::new()
        .text("event_name", event_name)
        .text("identifier", identifier)
        .map("payload", &[(CUSTOMER_KEY, customer_id), (VALUE_KEY, &value.to_string())])
        .int("timestamp", timestamp);
    Request::post("/billing/meter_events").form(form)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use tollgate_domain::{BillingType, PlanStatus};

    /// The form a request posts, decoded into (name, value) pairs in order.
    fn form(request: &Request) -> Vec<(String, String)> {
        let body = request.form.encode();
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

    fn path(request: &Request) -> String {
        request.path.clone()
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

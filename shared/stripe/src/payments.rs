//! `StripePayments`: the `Payments` port's methods as Stripe calls.

use crate::client::{Call, Client, Request};
use crate::config::{StripeConfig, StripeConfigError};
use crate::error::{has_code, is_duplicate_meter_event, is_missing, payments_error, StripeError};
use crate::map::{self, WantedPrice};
use crate::objects::{self, Customer, Invoice as StripeInvoice, List};
use crate::requests::{self, Keyed};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::{DeserializeOwned, IgnoredAny};
use tollgate_domain::{
    BillingType, CheckoutSession, CompletedCheckout, Id, Invoice, InvoiceEstimate, PaymentMethodSummary, Payments,
    PaymentsError, Plan, PlanBillingIds, PlanHold, ProviderSubscription, SubscriptionCheckout,
};

/// The `Payments` port on Stripe. Cheap to clone (the HTTP client is shared).
#[derive(Clone, Debug)]
pub struct StripePayments {
    client: Client,
    test_clock: Option<String>,
}

impl StripePayments {
    /// A client for `config` (its `api_base` is the client's base URL).
    pub fn new(config: StripeConfig) -> Result<Self, StripeConfigError> {
        config.validate()?;
        let client = Client::new(&config)?;
        Ok(StripePayments { client, test_clock: config.test_clock })
    }

    /// Sends `request`; a repeatable one is tried again after a transient failure.
    async fn send<T: DeserializeOwned>(&self, request: &Request, call: Call) -> Result<T, StripeError> {
        self.client.send(request, &call).await
    }

    async fn read<T: DeserializeOwned>(&self, request: &Request, what: &'static str) -> Result<T, PaymentsError> {
        self.send(request, Call::Read).await.map_err(|e| payments_error(e, what))
    }

    async fn create<T: DeserializeOwned>(&self, keyed: Keyed, what: &'static str) -> Result<T, PaymentsError> {
        self.send(&keyed.request, Call::Create(keyed.key)).await.map_err(|e| payments_error(e, what))
    }

    async fn change<T: DeserializeOwned>(&self, request: &Request, what: &'static str) -> Result<T, PaymentsError> {
        self.send(request, Call::Change).await.map_err(|e| payments_error(e, what))
    }

    /// The customer (`NotFound("customer")` if missing or deleted).
    async fn customer(&self, id: &str) -> Result<Customer, PaymentsError> {
        let customer: Customer = self.read(&requests::retrieve_customer(id), "customer").await?;
        if customer.deleted {
            return Err(PaymentsError::NotFound("customer"));
        }
        Ok(customer)
    }

    /// The payment method if it is attached to `customer_id`; `NotFound("payment method")`
    /// otherwise, whether it is someone else's or does not exist (tenant isolation: a user
    /// cannot learn of, or touch, another customer's payment method).
    async fn owned_payment_method(&self, customer_id: &str, id: &str) -> Result<(), PaymentsError> {
        let pm: objects::PaymentMethod = match self.read(&requests::retrieve_payment_method(id), "payment method").await
        {
            Err(PaymentsError::NotFound(_)) => return Err(PaymentsError::NotFound("payment method")),
            other => other?,
        };
        match &pm.customer {
            Some(owner) if map::id_of(owner) == customer_id => Ok(()),
            _ => Err(PaymentsError::NotFound("payment method")),
        }
    }

    /// The product: updated if `existing` is there, else created.
    async fn sync_product(&self, plan: &Plan, existing: &str) -> Result<String, PaymentsError> {
        if !existing.is_empty() {
            match self.change::<objects::Product>(&requests::update_product(existing, plan), "product").await {
                Ok(product) => return Ok(product.id),
                Err(PaymentsError::NotFound(_)) => {
                    tracing::warn!(product_id = existing, "the plan's product is gone at Stripe; creating another");
                }
                Err(e) => return Err(e),
            }
        }
        let product: objects::Product = self.create(requests::create_product(plan), "product").await?;
        Ok(product.id)
    }

    /// A price as `wanted` on `product_id`: `existing` if it charges the same (reactivated if it
    /// was archived), else a new one (the caller archives the old one once the plan's ids are
    /// all made).
    async fn sync_price(
        &self,
        plan: &Plan,
        product_id: &str,
        existing: Option<&str>,
        wanted: WantedPrice<'_>,
    ) -> Result<String, PaymentsError> {
        if let Some(id) = existing {
            match self.read::<objects::Price>(&requests::retrieve_price(id), "price").await {
                Ok(price) if wanted.matches(&price) && map::id_of(&price.product) == product_id => {
                    if !price.active {
                        self.change::<IgnoredAny>(&requests::set_price_active(id, true), "price").await?;
                    }
                    return Ok(id.to_owned());
                }
                Ok(_) | Err(PaymentsError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let keyed =
            requests::create_price(&plan.id, product_id, wanted.unit_amount, wanted.currency, wanted.meter, existing);
        let price: objects::Price = self.create(keyed, "price").await?;
        Ok(price.id)
    }

    /// Archives a price (prices cannot be deleted); one that is gone is fine.
    async fn archive_price(&self, id: &str) -> Result<(), PaymentsError> {
        match self.change::<IgnoredAny>(&requests::set_price_active(id, false), "price").await {
            Ok(_) | Err(PaymentsError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The plan's meter, active: `existing` (reactivated if needed) or a new one. Returns its
    /// id and event name.
    async fn sync_meter(&self, plan: &Plan, existing: Option<&str>) -> Result<(String, String), PaymentsError> {
        if let Some(id) = existing {
            match self.read::<objects::Meter>(&requests::retrieve_meter(id), "meter").await {
                Ok(meter) => {
                    if meter.status == "inactive" {
                        self.change::<IgnoredAny>(&requests::set_meter_active(id, true), "meter").await?;
                    }
                    return Ok((id.to_owned(), meter.event_name));
                }
                Err(PaymentsError::NotFound(_)) => {
                    tracing::warn!(meter_id = id, "the plan's meter is gone at Stripe; creating another");
                }
                Err(e) => return Err(e),
            }
        }
        let event_name = requests::meter_event_name(&plan.id);
        let meter: objects::Meter = self.create(requests::create_meter(plan, &event_name), "meter").await?;
        Ok((meter.id, meter.event_name))
    }

    /// Deactivates a meter if it is active; one that is gone is fine.
    async fn deactivate_meter(&self, id: &str) -> Result<(), PaymentsError> {
        match self.read::<objects::Meter>(&requests::retrieve_meter(id), "meter").await {
            Ok(meter) if meter.status == "active" => {
                match self.change::<IgnoredAny>(&requests::set_meter_active(id, false), "meter").await {
                    Ok(_) | Err(PaymentsError::NotFound(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Ok(_) | Err(PaymentsError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// An invoice with the organization of its customer (`NotFound("invoice")` if the customer
    /// is none of ours).
    async fn invoice_of_org(&self, id: &str, invoice: &StripeInvoice) -> Result<Invoice, PaymentsError> {
        let org_id = match map::invoice_org_id(invoice) {
            Some(org) => Some(org),
            // Not expanded (a fake that ignores expand[]): read the customer.
            None => match invoice.customer.as_ref().filter(|c| c.as_object().is_none()) {
                Some(customer) => match self.customer(&map::id_of(customer)).await {
                    Ok(customer) => map::customer_org_id(&customer),
                    Err(PaymentsError::NotFound(_)) => None,
                    Err(e) => return Err(e),
                },
                None => None,
            },
        };
        let org_id = org_id.ok_or(PaymentsError::NotFound("invoice"))?;
        map::invoice(invoice, id, org_id)
    }

    async fn retrieve_invoice(&self, id: &str) -> Result<StripeInvoice, PaymentsError> {
        self.read(&requests::retrieve_invoice(id, true), "invoice").await
    }
}

#[async_trait]
impl Payments for StripePayments {
    #[tracing::instrument(skip_all, fields(org_id = %org_id))]
    async fn ensure_customer(&self, org_id: &Id, email: &str, name: &str) -> Result<String, PaymentsError> {
        let keyed = requests::create_customer(org_id, email, name, self.test_clock.as_deref());
        let customer: Customer = self.create(keyed, "customer").await?;
        Ok(customer.id)
    }

    #[tracing::instrument(skip_all, fields(plan_id = %plan.id))]
    async fn sync_plan(&self, plan: &Plan) -> Result<PlanBillingIds, PaymentsError> {
        let old = plan.billing.clone().unwrap_or_default();
        let product_id = self.sync_product(plan, &old.product_id).await?;
        let mut ids = PlanBillingIds { product_id: product_id.clone(), ..PlanBillingIds::default() };

        if plan.price > 0 {
            let wanted = WantedPrice { unit_amount: plan.price, currency: &plan.currency, meter: None };
            ids.base_price_id = Some(self.sync_price(plan, &product_id, old.base_price_id.as_deref(), wanted).await?);
        }
        if matches!(plan.billing_type, BillingType::PayAsYouGo | BillingType::Hybrid) {
            // Hybrid plans report only the units past the included quota, so the metered
            // price is the plain overage price for both.
            let (meter_id, event_name) = self.sync_meter(plan, old.meter_id.as_deref()).await?;
            let wanted = WantedPrice {
                unit_amount: plan.overage_price.unwrap_or(0),
                currency: &plan.currency,
                meter: Some(&meter_id),
            };
            let metered = self.sync_price(plan, &product_id, old.metered_price_id.as_deref(), wanted).await?;
            ids.meter_id = Some(meter_id);
            ids.meter_event_name = Some(event_name);
            ids.metered_price_id = Some(metered);
        }

        // What the plan no longer uses, once its new objects exist.
        for (before, now) in [(&old.base_price_id, &ids.base_price_id), (&old.metered_price_id, &ids.metered_price_id)]
        {
            if let Some(before) = before.as_deref().filter(|b| Some(*b) != now.as_deref()) {
                self.archive_price(before).await?;
            }
        }
        if let Some(before) = old.meter_id.as_deref().filter(|b| Some(*b) != ids.meter_id.as_deref()) {
            self.deactivate_meter(before).await?;
        }
        tracing::info!(product_id = %ids.product_id, "plan synced to Stripe");
        Ok(ids)
    }

    #[tracing::instrument(skip_all, fields(product_id = %ids.product_id))]
    async fn archive_plan(&self, ids: &PlanBillingIds) -> Result<(), PaymentsError> {
        for price in ids.price_ids() {
            self.archive_price(price).await?;
        }
        if !ids.product_id.is_empty() {
            match self.change::<IgnoredAny>(&requests::archive_product(&ids.product_id), "product").await {
                Ok(_) | Err(PaymentsError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(meter) = ids.meter_id.as_deref() {
            self.deactivate_meter(meter).await?;
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(org_id = %request.org_id, plan_id = %request.plan_id, customer_id = %request.customer_id))]
    async fn subscription_checkout(&self, request: &SubscriptionCheckout) -> Result<CheckoutSession, PaymentsError> {
        let keyed = requests::subscription_checkout(request, Utc::now().timestamp())?;
        let session = self.create(keyed, "checkout session").await?;
        checkout_page(session)
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, customer_id))]
    async fn setup_checkout(
        &self,
        customer_id: &str,
        org_id: &Id,
        success_url: &str,
        cancel_url: &str,
    ) -> Result<CheckoutSession, PaymentsError> {
        tracing::Span::current().record("customer_id", customer_id);
        // Setup mode needs a currency: the customer's, else usd.
        let customer = self.customer(customer_id).await?;
        let currency = customer.currency.filter(|c| !c.is_empty()).unwrap_or_else(|| "usd".to_owned());
        let keyed =
            requests::setup_checkout(customer_id, org_id, &currency, success_url, cancel_url, Utc::now().timestamp());
        let session = self.create(keyed, "checkout session").await?;
        checkout_page(session)
    }

    #[tracing::instrument(skip_all, fields(checkout_session_id = id))]
    async fn checkout_session(&self, id: &str) -> Result<CompletedCheckout, PaymentsError> {
        let session = self.read(&requests::retrieve_checkout_session(id), "checkout session").await?;
        Ok(map::completed_checkout(&session))
    }

    #[tracing::instrument(skip_all, fields(subscription_id = id))]
    async fn subscription(&self, id: &str) -> Result<ProviderSubscription, PaymentsError> {
        let sub = self.read(&requests::retrieve_subscription(id), "subscription").await?;
        map::subscription(&sub)
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, plan_id = %plan_id, customer_id))]
    async fn create_subscription(
        &self,
        customer_id: &str,
        org_id: &Id,
        plan_id: &Id,
        prices: &PlanBillingIds,
    ) -> Result<ProviderSubscription, PaymentsError> {
        tracing::Span::current().record("customer_id", customer_id);
        // The default payment method names the request: a retry after the user changed the
        // card is a new attempt, not the replay of the first one's decline.
        let customer = self.customer(customer_id).await?;
        let default = map::default_payment_method(&customer);
        let keyed = requests::create_subscription(customer_id, org_id, plan_id, prices, default.as_deref());
        let sub: objects::Subscription = self.create(keyed, "subscription").await?;
        map::subscription(&sub)
    }

    #[tracing::instrument(skip_all, fields(subscription_id = id, plan_id = %plan_id, prorate))]
    async fn change_subscription_plan(
        &self,
        id: &str,
        plan_id: &Id,
        prices: &PlanBillingIds,
        prorate: bool,
        hold: Option<&PlanHold>,
    ) -> Result<ProviderSubscription, PaymentsError> {
        let sub: objects::Subscription = self.read(&requests::retrieve_subscription(id), "subscription").await?;
        let current: Vec<(String, String)> =
            sub.items.data.iter().map(|i| (i.id.clone(), i.price.id.clone())).collect();
        let current_plan = sub.metadata.get(map::PLAN_ID).map(String::as_str);
        let current_hold = map::hold(Some(&sub.metadata));
        let change = requests::PlanChange { plan_id, prices, prorate, hold, current_hold: current_hold.as_ref() };
        match requests::change_subscription_plan(id, &current, current_plan, &change) {
            None => map::subscription(&sub),
            Some(update) => map::subscription(&self.change(&update, "subscription").await?),
        }
    }

    #[tracing::instrument(skip_all, fields(subscription_id = id, cancel))]
    async fn set_cancel_at_period_end(&self, id: &str, cancel: bool) -> Result<ProviderSubscription, PaymentsError> {
        let sub = self.change(&requests::set_cancel_at_period_end(id, cancel), "subscription").await?;
        map::subscription(&sub)
    }

    #[tracing::instrument(skip_all, fields(customer_id))]
    async fn payment_methods(&self, customer_id: &str) -> Result<Vec<PaymentMethodSummary>, PaymentsError> {
        tracing::Span::current().record("customer_id", customer_id);
        let customer = self.customer(customer_id).await?;
        let default = map::default_payment_method(&customer);
        let mut summaries = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let list = requests::list_cards(customer_id, after.as_deref());
            let page: List<objects::PaymentMethod> = self.read(&list, "customer").await?;
            summaries.extend(page.data.iter().map(|pm| map::payment_method(pm, default.as_deref())));
            match page.data.last() {
                Some(last) if page.has_more => after = Some(last.id.clone()),
                _ => break,
            }
        }
        Ok(summaries)
    }

    #[tracing::instrument(skip_all, fields(customer_id, payment_method_id))]
    async fn set_default_payment_method(
        &self,
        customer_id: &str,
        payment_method_id: &str,
        subscription_id: Option<&str>,
    ) -> Result<(), PaymentsError> {
        let span = tracing::Span::current();
        span.record("customer_id", customer_id);
        span.record("payment_method_id", payment_method_id);
        self.owned_payment_method(customer_id, payment_method_id).await?;
        let update = requests::set_customer_default_payment_method(customer_id, payment_method_id);
        self.change::<IgnoredAny>(&update, "customer").await?;
        if let Some(id) = subscription_id {
            let update = requests::set_subscription_default_payment_method(id, payment_method_id);
            self.change::<IgnoredAny>(&update, "subscription").await?;
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(customer_id, payment_method_id))]
    async fn detach_payment_method(&self, customer_id: &str, payment_method_id: &str) -> Result<(), PaymentsError> {
        let span = tracing::Span::current();
        span.record("customer_id", customer_id);
        span.record("payment_method_id", payment_method_id);
        self.owned_payment_method(customer_id, payment_method_id).await?;
        self.change::<IgnoredAny>(&requests::detach_payment_method(payment_method_id), "payment method").await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(invoice_id = id))]
    async fn invoice(&self, id: &str) -> Result<Invoice, PaymentsError> {
        let invoice = self.retrieve_invoice(id).await?;
        self.invoice_of_org(id, &invoice).await
    }

    #[tracing::instrument(skip_all, fields(invoice_id = id))]
    async fn invoice_pdf_url(&self, id: &str) -> Result<Option<String>, PaymentsError> {
        let invoice: StripeInvoice = self.read(&requests::retrieve_invoice(id, false), "invoice").await?;
        Ok(invoice.invoice_pdf)
    }

    #[tracing::instrument(skip_all, fields(customer_id, subscription_id))]
    async fn upcoming_invoice(
        &self,
        customer_id: &str,
        subscription_id: &str,
    ) -> Result<Option<InvoiceEstimate>, PaymentsError> {
        let span = tracing::Span::current();
        span.record("customer_id", customer_id);
        span.record("subscription_id", subscription_id);
        let preview = requests::preview_invoice(customer_id, subscription_id);
        // A preview creates nothing: it is repeated like a read.
        match self.send::<StripeInvoice>(&preview, Call::Read).await {
            Ok(invoice) => Ok(Some(map::estimate(&invoice)?)),
            Err(e) if has_code(&e, "invoice_upcoming_none") => Ok(None),
            Err(e) => Err(payments_error(e, "subscription")),
        }
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, customer_id, amount, currency))]
    async fn create_one_off_invoice(
        &self,
        customer_id: &str,
        org_id: &Id,
        amount: i64,
        currency: &str,
        description: &str,
    ) -> Result<Invoice, PaymentsError> {
        let span = tracing::Span::current();
        span.record("customer_id", customer_id);
        span.record("amount", amount);
        span.record("currency", currency);
        let (item, invoice) =
            requests::one_off_invoice(customer_id, org_id, amount, currency, description, Utc::now().timestamp());
        self.create::<IgnoredAny>(item, "customer").await?;
        let draft: StripeInvoice = self.create(invoice, "customer").await?;
        let id = draft.id.ok_or_else(|| PaymentsError::Unavailable {
            message: "Stripe created an invoice without an id".into(),
            source: None,
        })?;
        let finalized = match self.send::<StripeInvoice>(&requests::finalize_invoice(&id), Call::Change).await {
            Ok(invoice) => invoice,
            Err(e) if !is_missing(&e) => {
                // A retry of this call finds the invoice its first attempt finalized.
                let current: StripeInvoice = self.read(&requests::retrieve_invoice(&id, false), "invoice").await?;
                if matches!(current.status.as_deref(), Some("draft") | None) {
                    return Err(payments_error(e, "invoice"));
                }
                current
            }
            Err(e) => return Err(payments_error(e, "invoice")),
        };
        tracing::info!(invoice_id = %id, "one-off invoice created");
        map::invoice(&finalized, &id, org_id.clone())
    }

    #[tracing::instrument(skip_all, fields(invoice_id = id))]
    async fn mark_invoice_paid(&self, id: &str) -> Result<Invoice, PaymentsError> {
        let current = self.retrieve_invoice(id).await?;
        // Resolve the organization first: an invoice of none of ours is not touched.
        let mapped = self.invoice_of_org(id, &current).await?;
        if current.status.as_deref() == Some("paid") {
            return Ok(mapped);
        }
        let paid = self.change(&requests::pay_invoice_out_of_band(id), "invoice").await?;
        map::invoice(&paid, id, mapped.org_id)
    }

    #[tracing::instrument(skip_all, fields(event_name, customer_id, value, identifier))]
    async fn report_usage(
        &self,
        event_name: &str,
        customer_id: &str,
        value: u64,
        identifier: &str,
        at: DateTime<Utc>,
    ) -> Result<(), PaymentsError> {
        let span = tracing::Span::current();
        span.record("event_name", event_name);
        span.record("customer_id", customer_id);
        span.record("value", value);
        span.record("identifier", identifier);
        let request = requests::meter_event(event_name, customer_id, value, identifier, at.timestamp());
        match self.send::<IgnoredAny>(&request, Call::Identified).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_meter_event(&e) => {
                tracing::info!("usage already reported under this identifier");
                Ok(())
            }
            Err(e) => Err(payments_error(e, "meter")),
        }
    }

    #[tracing::instrument(skip_all, fields(meter_id, customer_id, start = %start, end = %end))]
    async fn reported_usage(
        &self,
        meter_id: &str,
        customer_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<u64, PaymentsError> {
        let span = tracing::Span::current();
        span.record("meter_id", meter_id);
        span.record("customer_id", customer_id);
        // Stripe wants whole minutes: the window is widened to them.
        let start = start.timestamp().div_euclid(60) * 60;
        let end = (end.timestamp() + 59).div_euclid(60) * 60;
        if end <= start {
            return Ok(0);
        }
        let mut total = 0.0_f64;
        let mut after: Option<String> = None;
        loop {
            let list = requests::meter_event_summaries(meter_id, customer_id, start, end, after.as_deref());
            let page: List<objects::MeterEventSummary> = self.read(&list, "meter").await?;
            total += page.data.iter().map(|s| s.aggregated_value).sum::<f64>();
            match page.data.last() {
                Some(last) if page.has_more => after = Some(last.id.clone()),
                _ => break,
            }
        }
        Ok(total.max(0.0).round() as u64)
    }
}

/// The page a Checkout session sends the user to.
fn checkout_page(session: objects::CheckoutSession) -> Result<CheckoutSession, PaymentsError> {
    let url = session.url.ok_or_else(|| PaymentsError::Unavailable {
        message: "Stripe made a Checkout session without a URL".into(),
        source: None,
    })?;
    Ok(CheckoutSession { id: session.id, url })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_never_shows_the_secret_key() {
        let config =
            StripeConfig { test_clock: Some("clock_1".into()), ..StripeConfig::new("sk_test_51TopSecretKeyValue") };
        let payments = StripePayments::new(config).unwrap();
        let shown = format!("{payments:?}");
        assert!(!shown.contains("TopSecret"), "{shown}");
    }
}

//! Stripe's objects as far as the adapter reads them: only the fields `map` and `payments` use
//! (unknown ones are ignored, so a newer API version's additions do not matter). Enumerations
//! (statuses, intervals) stay text: `map` decides what it can represent.

use serde::Deserialize;
use std::collections::HashMap;

/// Metadata: string keys and values (Stripe sends `{}` or omits it when empty).
pub(crate) type Metadata = HashMap<String, String>;

/// An object that has an id (what an expandable field names).
pub(crate) trait Object {
    fn id(&self) -> &str;
}

/// A field that is an object's id, or the object itself when the request expanded it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(crate) enum Expandable<T> {
    Id(String),
    Object(Box<T>),
}

impl<T: Object> Expandable<T> {
    pub(crate) fn id(&self) -> &str {
        match self {
            Expandable::Id(id) => id,
            Expandable::Object(object) => object.id(),
        }
    }

    pub(crate) fn as_object(&self) -> Option<&T> {
        match self {
            Expandable::Id(_) => None,
            Expandable::Object(object) => Some(object),
        }
    }
}

/// Any object, by its id only (for expandable fields whose object we never read).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Ref {
    pub id: String,
}

/// A page of a list: `{"object": "list", "data": [...], "has_more": ..., "url": ...}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct List<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

macro_rules! objects {
    ($($name:ident),*) => {
        $(impl Object for $name {
            fn id(&self) -> &str {
                &self.id
            }
        })*
    };
}
objects!(Ref, Customer, PaymentMethod, Product, Price, Meter, Subscription, CheckoutSession, MeterEventSummary);

/// A customer; a deleted one is `{"id": ..., "deleted": true}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Customer {
    pub id: String,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub invoice_settings: Option<CustomerInvoiceSettings>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct CustomerInvoiceSettings {
    #[serde(default)]
    pub default_payment_method: Option<Expandable<Ref>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct PaymentMethod {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub card: Option<Card>,
    #[serde(default)]
    pub customer: Option<Expandable<Ref>>,
}

/// What a payment method shows of its card (never more than the user may see).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Card {
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Product {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Price {
    pub id: String,
    pub active: bool,
    pub product: Expandable<Ref>,
    #[serde(default)]
    pub unit_amount: Option<i64>,
    pub currency: String,
    #[serde(default)]
    pub recurring: Option<Recurring>,
    #[serde(default)]
    pub transform_quantity: Option<TransformQuantity>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Recurring {
    pub interval: String,
    pub interval_count: i64,
    pub usage_type: String,
    #[serde(default)]
    pub meter: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct TransformQuantity {
    pub divide_by: i64,
    pub round: String,
}

/// A billing meter: `status` is `active` or `inactive`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Meter {
    pub id: String,
    pub event_name: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct MeterEventSummary {
    pub id: String,
    pub aggregated_value: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Subscription {
    pub id: String,
    pub customer: Expandable<Ref>,
    pub status: String,
    pub items: List<SubscriptionItem>,
    pub billing_cycle_anchor: i64,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    #[serde(default)]
    pub metadata: Metadata,
}

/// A subscription's item: its price and (since API version 2025-03-31) its current period.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct SubscriptionItem {
    pub id: String,
    pub price: Ref,
    pub current_period_start: i64,
    pub current_period_end: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct CheckoutSession {
    pub id: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub customer: Option<Expandable<Ref>>,
    #[serde(default)]
    pub subscription: Option<Expandable<Ref>>,
    #[serde(default)]
    pub client_reference_id: Option<String>,
}

/// An invoice; a preview has no id. `customer` is an object when the request expanded it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Invoice {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    /// Since API version 2025-03-31: what the invoice was made for.
    #[serde(default)]
    pub parent: Option<InvoiceParent>,
    /// Before 2025-03-31: the subscription it bills.
    #[serde(default)]
    pub subscription: Option<Expandable<Ref>>,
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: String,
    pub period_start: i64,
    pub period_end: i64,
    pub created: i64,
    #[serde(default)]
    pub hosted_invoice_url: Option<String>,
    #[serde(default)]
    pub invoice_pdf: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct InvoiceParent {
    #[serde(default)]
    pub subscription_details: Option<InvoiceSubscriptionDetails>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct InvoiceSubscriptionDetails {
    pub subscription: Expandable<Ref>,
}

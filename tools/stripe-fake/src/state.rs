//! The fake's in-memory state: one map per kind of object, typed. JSON is produced from it by
//! [`crate::objects`]; the billing rules that change it are in [`crate::billing`].

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::clock::{wall_now, Interval};
use crate::error::{ApiError, ApiResult, Decline};

/// Free-form string metadata, ordered for stable output.
pub type Metadata = BTreeMap<String, String>;

/// A customer.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub created: i64,
    pub email: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub test_clock: Option<String>,
    pub default_payment_method: Option<String>,
    /// Negative is credit the customer has with us (Stripe's sign convention).
    pub balance: i64,
    pub currency: Option<String>,
    pub invoice_prefix: String,
    pub next_invoice_sequence: u64,
}

/// A product.
#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub created: i64,
    pub updated: i64,
    pub name: String,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub active: bool,
}

/// Licensed (billed in advance per quantity) or metered (billed in arrears from a meter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageType {
    Licensed,
    Metered,
}

/// A price's `recurring` hash.
#[derive(Debug, Clone)]
pub struct Recurring {
    pub interval: Interval,
    pub interval_count: u32,
    pub usage_type: UsageType,
    pub meter: Option<String>,
}

/// A price's `transform_quantity`: bill per `divide_by` units, rounded up or down.
#[derive(Debug, Clone, Copy)]
pub struct TransformQuantity {
    pub divide_by: i64,
    pub round_up: bool,
}

/// A price.
#[derive(Debug, Clone)]
pub struct Price {
    pub id: String,
    pub created: i64,
    pub product: String,
    pub currency: String,
    pub unit_amount: i64,
    pub nickname: Option<String>,
    pub lookup_key: Option<String>,
    pub metadata: Metadata,
    pub active: bool,
    pub recurring: Option<Recurring>,
    pub transform_quantity: Option<TransformQuantity>,
}

impl Price {
    /// Whether subscription items of this price are billed from a meter.
    pub fn is_metered(&self) -> bool {
        self.recurring.as_ref().is_some_and(|r| r.usage_type == UsageType::Metered)
    }
}

/// A meter's `default_aggregation[formula]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formula {
    Sum,
    Count,
    Last,
}

impl Formula {
    /// Stripe's name of the formula.
    pub fn as_str(self) -> &'static str {
        match self {
            Formula::Sum => "sum",
            Formula::Count => "count",
            Formula::Last => "last",
        }
    }
}

/// A billing meter.
#[derive(Debug, Clone)]
pub struct Meter {
    pub id: String,
    pub created: i64,
    pub updated: i64,
    pub display_name: String,
    pub event_name: String,
    pub formula: Formula,
    pub customer_key: String,
    pub value_key: String,
    pub deactivated_at: Option<i64>,
}

/// A recorded meter event (only those that count: duplicates are refused on arrival).
#[derive(Debug, Clone)]
pub struct MeterEvent {
    pub seq: u64,
    pub created: i64,
    pub event_name: String,
    pub identifier: String,
    pub customer: String,
    pub value: f64,
    pub timestamp: i64,
    pub payload: BTreeMap<String, String>,
}

/// `payment`, `setup` or `subscription`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMode {
    Setup,
    Subscription,
}

/// One of a checkout session's `line_items`.
#[derive(Debug, Clone)]
pub struct SessionLine {
    pub id: String,
    pub price: String,
    pub quantity: Option<u64>,
}

/// A checkout session.
#[derive(Debug, Clone)]
pub struct CheckoutSession {
    pub id: String,
    pub created: i64,
    pub expires_at: i64,
    pub mode: SessionMode,
    pub customer: Option<String>,
    pub customer_email: Option<String>,
    pub client_reference_id: Option<String>,
    pub line_items: Vec<SessionLine>,
    pub subscription_metadata: Metadata,
    pub metadata: Metadata,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub currency: Option<String>,
    pub complete: bool,
    pub subscription: Option<String>,
    pub setup_intent: Option<String>,
    pub invoice: Option<String>,
}

/// A setup intent (created by setup-mode checkout sessions).
#[derive(Debug, Clone)]
pub struct SetupIntent {
    pub id: String,
    pub created: i64,
    pub customer: Option<String>,
    pub payment_method: Option<String>,
    pub succeeded: bool,
    pub metadata: Metadata,
}

/// What happens when a card is charged (Stripe's test card numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardBehavior {
    Succeeds,
    ChargesFail(Decline),
}

/// A card payment method.
#[derive(Debug, Clone)]
pub struct PaymentMethod {
    pub id: String,
    pub seq: u64,
    pub created: i64,
    pub customer: Option<String>,
    pub brand: &'static str,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: i32,
    pub fingerprint: String,
    pub behavior: CardBehavior,
    pub metadata: Metadata,
    /// Stripe refuses to attach a payment method again once it was detached.
    pub detached: bool,
}

/// A subscription's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubStatus {
    Incomplete,
    IncompleteExpired,
    Active,
    PastDue,
    Canceled,
}

impl SubStatus {
    /// Stripe's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            SubStatus::Incomplete => "incomplete",
            SubStatus::IncompleteExpired => "incomplete_expired",
            SubStatus::Active => "active",
            SubStatus::PastDue => "past_due",
            SubStatus::Canceled => "canceled",
        }
    }

    /// Whether the subscription still renews and can be changed.
    pub fn is_live(self) -> bool {
        matches!(self, SubStatus::Active | SubStatus::PastDue | SubStatus::Incomplete)
    }
}

/// A subscription item.
#[derive(Debug, Clone)]
pub struct SubItem {
    pub id: String,
    pub created: i64,
    pub price: String,
    /// `None` for metered prices (Stripe sends no quantity for them).
    pub quantity: Option<u64>,
    pub metadata: Metadata,
    /// Usage before this instant is not billed on this item (the price was set then):
    /// switching a metered price mid-period bills only usage after the switch.
    pub usage_since: i64,
}

/// A subscription. All items share one billing cycle (Stripe's classic billing mode
/// requires the same interval on every price of a subscription).
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub seq: u64,
    pub created: i64,
    pub customer: String,
    pub items: Vec<SubItem>,
    pub metadata: Metadata,
    pub description: Option<String>,
    pub status: SubStatus,
    pub default_payment_method: Option<String>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub cancellation_reason: Option<&'static str>,
    pub billing_cycle_anchor: i64,
    pub interval: Interval,
    pub interval_count: u32,
    /// How many periods have ended since the anchor.
    pub period_index: u32,
    pub current_period_start: i64,
    pub current_period_end: i64,
    pub latest_invoice: Option<String>,
    pub currency: String,
    pub test_clock: Option<String>,
}

/// An invoice's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    Void,
}

impl InvoiceStatus {
    /// Stripe's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
        }
    }
}

/// One line of an invoice.
#[derive(Debug, Clone)]
pub struct InvoiceLine {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    pub period_start: i64,
    pub period_end: i64,
    /// Metered usage can be fractional; Stripe then sends `quantity_decimal` too.
    pub quantity: Option<f64>,
    pub price: Option<String>,
    pub proration: bool,
    pub invoice_item: Option<String>,
    pub subscription: Option<String>,
    pub subscription_item: Option<String>,
    pub metadata: Metadata,
}

/// An invoice.
#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: String,
    pub seq: u64,
    pub created: i64,
    pub customer: String,
    pub subscription: Option<String>,
    pub status: InvoiceStatus,
    pub number: Option<String>,
    pub lines: Vec<InvoiceLine>,
    pub collection_method: &'static str,
    pub auto_advance: bool,
    pub metadata: Metadata,
    pub description: Option<String>,
    pub billing_reason: &'static str,
    pub currency: String,
    pub period_start: i64,
    pub period_end: i64,
    pub starting_balance: i64,
    pub ending_balance: Option<i64>,
    pub amount_paid: i64,
    pub paid_out_of_band: bool,
    pub attempt_count: u32,
    pub attempted: bool,
    pub finalized_at: Option<i64>,
    pub paid_at: Option<i64>,
    pub voided_at: Option<i64>,
    pub default_payment_method: Option<String>,
    pub last_error: Option<Decline>,
    pub test_clock: Option<String>,
}

impl Invoice {
    /// The sum of the lines (no tax, no discounts in the fake).
    pub fn total(&self) -> i64 {
        self.lines.iter().map(|l| l.amount).sum()
    }

    /// What the customer owes: the total less any credit balance applied at finalization;
    /// never negative (a negative total becomes credit instead).
    pub fn amount_due(&self) -> i64 {
        (self.total() + self.starting_balance).max(0)
    }
}

/// A pending or invoiced invoice item.
#[derive(Debug, Clone)]
pub struct InvoiceItem {
    pub id: String,
    pub seq: u64,
    pub created: i64,
    pub customer: String,
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    pub invoice: Option<String>,
    pub period_start: i64,
    pub period_end: i64,
    pub proration: bool,
    pub subscription: Option<String>,
    pub subscription_item: Option<String>,
    pub price: Option<String>,
    pub quantity: u64,
    pub metadata: Metadata,
    pub test_clock: Option<String>,
}

/// A test clock.
#[derive(Debug, Clone)]
pub struct TestClock {
    pub id: String,
    pub created: i64,
    pub frozen_time: i64,
    pub name: Option<String>,
    pub deletes_after: i64,
}

/// Which request caused a change (the event's `request` hash); automatic changes (clock
/// advances, renewals, the hosted checkout page) have none.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
}

/// Everything the fake knows.
#[derive(Debug, Default)]
pub struct State {
    seq: u64,
    pub customers: HashMap<String, Customer>,
    pub products: HashMap<String, Product>,
    pub prices: HashMap<String, Price>,
    pub meters: HashMap<String, Meter>,
    pub meter_events: Vec<MeterEvent>,
    /// Meter event identifiers seen, for Stripe's duplicate check.
    pub meter_identifiers: HashMap<String, i64>,
    pub sessions: HashMap<String, CheckoutSession>,
    pub setup_intents: HashMap<String, SetupIntent>,
    pub payment_methods: HashMap<String, PaymentMethod>,
    pub subscriptions: HashMap<String, Subscription>,
    pub invoices: HashMap<String, Invoice>,
    pub invoice_items: HashMap<String, InvoiceItem>,
    pub clocks: HashMap<String, TestClock>,
    /// Every event, oldest first, as sent.
    pub events: Vec<Value>,
    /// Event ids not yet handed to the webhook sender.
    pub outbox: Vec<String>,
    /// Where webhooks go; `None` records events without posting them.
    pub webhook_url: Option<String>,
    /// Our own base URL (`http://127.0.0.1:PORT`), for hosted pages.
    pub base_url: String,
}

/// Looks `id` up in `map`, or answers Stripe's 404 ("No such customer: 'cus_x'").
pub fn find<'a, T>(map: &'a HashMap<String, T>, id: &str, noun: &str, param: &str) -> ApiResult<&'a T> {
    map.get(id).ok_or_else(|| ApiError::no_such(noun, id, param))
}

/// As [`find`], mutably.
pub fn find_mut<'a, T>(map: &'a mut HashMap<String, T>, id: &str, noun: &str, param: &str) -> ApiResult<&'a mut T> {
    map.get_mut(id).ok_or_else(|| ApiError::no_such(noun, id, param))
}

impl State {
    /// An empty state that posts webhooks to `webhook_url` and serves pages at `base_url`.
    pub fn new(base_url: String, webhook_url: Option<String>) -> Self {
        State { base_url, webhook_url, ..State::default() }
    }

    /// A strictly increasing number: lists sort by it (newest first) when `created` ties.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The time of a test clock, or the wall clock for `None` (or an unknown clock).
    pub fn now_for_clock(&self, clock: Option<&str>) -> i64 {
        clock.and_then(|c| self.clocks.get(c)).map_or_else(wall_now, |c| c.frozen_time)
    }

    /// The time as the customer's objects see it: their test clock's, or the wall clock.
    pub fn now_for_customer(&self, customer: &str) -> i64 {
        self.now_for_clock(self.clock_of(customer))
    }

    /// The test clock a customer was created with.
    pub fn clock_of(&self, customer: &str) -> Option<&str> {
        self.customers.get(customer).and_then(|c| c.test_clock.as_deref())
    }
}

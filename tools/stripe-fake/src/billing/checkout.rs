//! Completing a checkout session from the fake's hosted page.

use crate::billing::customers::{self, NewCustomer};
use crate::billing::invoices;
use crate::billing::payments::{attach, create_card, inspect_card, set_default};
use crate::billing::subscriptions::{self, NewItem, NewSubscription, PaymentBehavior};
use crate::objects;
use crate::state::{CardBehavior, Origin, SessionMode, State};

/// The card as typed on the hosted page.
#[derive(Debug, Clone)]
pub struct CardInput {
    pub number: String,
    pub exp_month: u32,
    pub exp_year: i32,
}

/// Completes an open session paid with `card`, as Stripe Checkout does: creates the customer
/// if the session has none, attaches the card and makes it the customer's default payment
/// method; in subscription mode creates the subscription (items from the line items,
/// metadata from `subscription_data`) whose first invoice is charged to the card; in setup
/// mode marks the setup intent succeeded. Returns where to redirect (the success URL with
/// `{CHECKOUT_SESSION_ID}` filled in), or the message the page shows; a declined card
/// changes nothing.
pub fn complete(s: &mut State, id: &str, card: &CardInput) -> Result<Option<String>, String> {
    let origin = Origin::default();
    let session = s.sessions.get(id).cloned().ok_or_else(|| "This Checkout Session does not exist.".to_string())?;
    if session.complete {
        return Err("This Checkout Session is no longer active.".into());
    }
    let now = session.customer.as_deref().map_or_else(|| s.now_for_clock(None), |c| s.now_for_customer(c));
    if now > session.expires_at {
        return Err("This Checkout Session has expired.".into());
    }
    let behavior = inspect_card(&card.number).map_err(|d| d.message().to_string())?;
    if session.mode == SessionMode::Subscription {
        let licensed: i64 = session
            .line_items
            .iter()
            .filter_map(|l| {
                s.prices
                    .get(&l.price)
                    .filter(|p| !p.is_metered())
                    .map(|p| p.unit_amount * l.quantity.unwrap_or(1) as i64)
            })
            .sum();
        let pending: i64 = session
            .customer
            .as_deref()
            .map_or(0, |c| invoices::pending_lines(s, c, None).iter().map(|l| l.amount).sum());
        if let CardBehavior::ChargesFail(decline) = behavior {
            // Checkout charges the first invoice before it completes: the payment fails
            // on the page and nothing is created.
            if licensed + pending > 0 {
                return Err(decline.message().to_string());
            }
        }
    }

    let customer = match &session.customer {
        Some(c) => c.clone(),
        None => customers::create(
            s,
            NewCustomer { email: session.customer_email.clone(), ..NewCustomer::default() },
            &origin,
        ),
    };
    let pm = create_card(s, &card.number, card.exp_month, card.exp_year, now).map_err(|d| d.message().to_string())?;
    attach(s, &pm, &customer, now, &origin).map_err(|e| e.message)?;
    set_default(s, &customer, Some(&pm), now, &origin).map_err(|e| e.message)?;

    let (mut subscription, mut invoice) = (None, None);
    match session.mode {
        SessionMode::Setup => {
            if let Some(si_id) = &session.setup_intent {
                if let Some(si) = s.setup_intents.get_mut(si_id) {
                    si.customer = Some(customer.clone());
                    si.payment_method = Some(pm.clone());
                    si.succeeded = true;
                }
                if let Some(si) = s.setup_intents.get(si_id) {
                    let snapshot = objects::setup_intent(si);
                    s.emit("setup_intent.succeeded", now, snapshot, None, &origin);
                }
            }
        }
        SessionMode::Subscription => {
            let items = session
                .line_items
                .iter()
                .enumerate()
                .map(|(i, l)| NewItem {
                    price: l.price.clone(),
                    quantity: l.quantity,
                    metadata: Default::default(),
                    param: format!("line_items[{i}]"),
                })
                .collect();
            let new = NewSubscription {
                customer: customer.clone(),
                items,
                metadata: session.subscription_metadata.clone(),
                description: None,
                default_payment_method: Some(pm.clone()),
                payment_behavior: PaymentBehavior::AllowIncomplete,
            };
            let sub = subscriptions::create(s, new, &origin).map_err(|e| e.message)?;
            invoice = s.subscriptions.get(&sub).and_then(|x| x.latest_invoice.clone());
            subscription = Some(sub);
        }
    }
    if let Some(cs) = s.sessions.get_mut(id) {
        cs.complete = true;
        cs.customer = Some(customer);
        cs.subscription = subscription;
        cs.invoice = invoice;
    }
    let snapshot = objects::checkout_session(s, &s.sessions[id]);
    s.emit("checkout.session.completed", now, snapshot, None, &origin);
    Ok(session.success_url.map(|u| u.replace("{CHECKOUT_SESSION_ID}", id)))
}

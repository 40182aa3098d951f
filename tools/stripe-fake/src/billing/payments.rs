//! Cards and charges, with the behaviour of Stripe's test card numbers.

use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult, Decline};
use crate::ids::new_id;
use crate::objects;
use crate::state::{CardBehavior, Origin, PaymentMethod, State};

/// Stripe's test payment method ids that stand for a test card (`pm_card_visa` and friends):
/// attaching one creates a new payment method with a real id.
pub fn test_token_number(id: &str) -> Option<&'static str> {
    Some(match id {
        "pm_card_visa" => "4242424242424242",
        "pm_card_mastercard" => "5555555555554444",
        "pm_card_amex" => "378282246310005",
        "pm_card_chargeCustomerFail" => "4000000000000341",
        "pm_card_chargeDeclined" | "pm_card_visa_chargeDeclined" => "4000000000000002",
        "pm_card_chargeDeclinedInsufficientFunds" => "4000000000009995",
        _ => return None,
    })
}

fn luhn_ok(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn brand(number: &str) -> &'static str {
    let two: u32 = number.get(..2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let four: u32 = number.get(..4).and_then(|s| s.parse().ok()).unwrap_or(0);
    match () {
        _ if number.starts_with('4') => "visa",
        _ if (51..=55).contains(&two) || (2221..=2720).contains(&four) => "mastercard",
        _ if two == 34 || two == 37 => "amex",
        _ if four == 6011 || two == 65 => "discover",
        _ => "unknown",
    }
}

/// What Stripe does with a card number: 4000000000000002 and 4000000000009995 are declined
/// outright, a number failing the Luhn check is incorrect; 4000000000000341 is accepted but
/// every charge on it fails; any other valid number succeeds.
pub fn inspect_card(number: &str) -> Result<CardBehavior, Decline> {
    let number: String = number.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    let digits: Option<Vec<u32>> = number.chars().map(|c| c.to_digit(10)).collect();
    if !digits.is_some_and(|d| (12..=19).contains(&d.len()) && luhn_ok(&d)) {
        return Err(Decline::IncorrectNumber);
    }
    match number.as_str() {
        "4000000000000002" => Err(Decline::Generic),
        "4000000000009995" => Err(Decline::InsufficientFunds),
        "4000000000000341" => Ok(CardBehavior::ChargesFail(Decline::Generic)),
        _ => Ok(CardBehavior::Succeeds),
    }
}

/// Creates a card payment method (not attached) from a card number, or the decline of
/// [`inspect_card`].
pub fn create_card(
    s: &mut State,
    number: &str,
    exp_month: u32,
    exp_year: i32,
    created: i64,
) -> Result<String, Decline> {
    let behavior = inspect_card(number)?;
    let number: String = number.chars().filter(|c| c.is_ascii_digit()).collect();
    let last4 = number[number.len().saturating_sub(4)..].to_string();
    // Stripe's fingerprint is stable per card number; a hash of the number is too.
    let fingerprint: String = hex::encode(Sha256::digest(number.as_bytes())).chars().take(16).collect();
    let id = new_id("pm_");
    let seq = s.next_seq();
    s.payment_methods.insert(
        id.clone(),
        PaymentMethod {
            id: id.clone(),
            seq,
            created,
            customer: None,
            brand: brand(&number),
            last4,
            exp_month,
            exp_year,
            fingerprint,
            behavior,
            metadata: Default::default(),
            detached: false,
        },
    );
    Ok(id)
}

/// Charges a payment method (there is no money: only whether the card accepts the charge).
pub fn charge(s: &State, payment_method: &str) -> Result<(), Decline> {
    match s.payment_methods.get(payment_method).map(|pm| pm.behavior) {
        Some(CardBehavior::Succeeds) => Ok(()),
        Some(CardBehavior::ChargesFail(d)) => Err(d),
        None => Err(Decline::Generic),
    }
}

/// The payment method an invoice of `customer` would be charged to: the explicit one, else
/// the subscription's default, else the customer's `invoice_settings.default_payment_method`.
pub fn payment_method_for(
    s: &State,
    customer: &str,
    explicit: Option<&str>,
    subscription: Option<&str>,
) -> Option<String> {
    explicit
        .map(str::to_string)
        .or_else(|| {
            subscription.and_then(|id| s.subscriptions.get(id)).and_then(|sub| sub.default_payment_method.clone())
        })
        .or_else(|| s.customers.get(customer).and_then(|c| c.default_payment_method.clone()))
}

/// Stripe's error when an invoice must be charged but the customer has no way to pay.
pub fn no_payment_method_error() -> ApiError {
    ApiError::invalid("This customer has no attached payment source or default payment method. Please consider adding a default payment method. For more information, visit https://stripe.com/docs/billing/subscriptions/payment-methods-setting#payment-method-priority.")
        .code("resource_missing")
}

/// Resolves Stripe's test tokens (`pm_card_visa`, ...) to a new card payment method; other
/// ids are returned as they are.
pub fn resolve_token(s: &mut State, id: &str, now: i64) -> ApiResult<String> {
    match test_token_number(id) {
        None => Ok(id.to_string()),
        Some(number) => {
            create_card(s, number, 12, chrono::Datelike::year(&chrono::Utc::now()) + 5, now).map_err(ApiError::card)
        }
    }
}

/// Attaches a payment method to a customer (`payment_method.attached`). Stripe refuses one
/// that is attached elsewhere or was detached before.
pub fn attach(s: &mut State, payment_method: &str, customer: &str, now: i64, origin: &Origin) -> ApiResult<()> {
    crate::state::find(&s.customers, customer, "customer", "customer")?;
    let pm = crate::state::find_mut(&mut s.payment_methods, payment_method, "PaymentMethod", "payment_method")?;
    match pm.customer.as_deref() {
        Some(c) if c == customer => return Ok(()),
        Some(_) => {
            return Err(ApiError::invalid("The payment method you provided has already been attached to a customer."))
        }
        None if pm.detached => {
            return Err(ApiError::invalid("This PaymentMethod was previously used without being attached to a Customer or was detached from a Customer, and may not be used again."))
        }
        None => pm.customer = Some(customer.to_string()),
    }
    let snapshot = objects::payment_method(&s.payment_methods[payment_method]);
    s.emit("payment_method.attached", now, snapshot, None, origin);
    Ok(())
}

/// Makes a payment method the customer's `invoice_settings.default_payment_method`
/// (`customer.updated`).
pub fn set_default(
    s: &mut State,
    customer: &str,
    payment_method: Option<&str>,
    now: i64,
    origin: &Origin,
) -> ApiResult<()> {
    let c = crate::state::find(&s.customers, customer, "customer", "customer")?;
    let before = objects::customer(s, c);
    if let Some(c) = s.customers.get_mut(customer) {
        c.default_payment_method = payment_method.map(str::to_string);
    }
    let after = objects::customer(s, &s.customers[customer]);
    s.emit_update("customer.updated", now, &before, after, origin);
    Ok(())
}

/// Checks that `payment_method` exists and is attached to `customer`.
pub fn check_attached(s: &State, customer: &str, payment_method: &str, param: &str) -> ApiResult<()> {
    let pm = crate::state::find(&s.payment_methods, payment_method, "PaymentMethod", param)?;
    if pm.customer.as_deref() != Some(customer) {
        return Err(ApiError::invalid_param(
            param,
            format!("The customer does not have a payment method with the ID {payment_method}. The payment method must be attached to the customer."),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_behave_like_stripe() {
        let mut s = State::default();
        let ok = create_card(&mut s, "4242 4242 4242 4242", 12, 2034, 0).unwrap();
        assert_eq!(s.payment_methods[&ok].brand, "visa");
        assert_eq!(s.payment_methods[&ok].last4, "4242");
        assert_eq!(charge(&s, &ok), Ok(()));
        let fails = create_card(&mut s, "4000000000000341", 12, 2034, 0).unwrap();
        assert_eq!(charge(&s, &fails), Err(Decline::Generic));
        assert_eq!(create_card(&mut s, "4000000000000002", 12, 2034, 0), Err(Decline::Generic));
        assert_eq!(create_card(&mut s, "4000000000009995", 12, 2034, 0), Err(Decline::InsufficientFunds));
        assert_eq!(create_card(&mut s, "4242424242424241", 12, 2034, 0), Err(Decline::IncorrectNumber));
        let mc = create_card(&mut s, "5555555555554444", 1, 2030, 0).unwrap();
        assert_eq!(s.payment_methods[&mc].brand, "mastercard");
    }
}

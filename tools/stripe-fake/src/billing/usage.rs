//! Metered usage: aggregating meter events and pricing the result.

use crate::state::{Formula, Meter, Price, State};

/// The meter's aggregate of `customer`'s events with `start <= timestamp < end`.
pub fn aggregate(s: &State, meter: &Meter, customer: &str, start: i64, end: i64) -> f64 {
    let mut events: Vec<_> = s
        .meter_events
        .iter()
        .filter(|e| e.event_name == meter.event_name && e.customer == customer)
        .filter(|e| e.timestamp >= start && e.timestamp < end)
        // Events sent to a deactivated meter are rejected by Stripe's asynchronous validation.
        .filter(|e| meter.deactivated_at.is_none_or(|d| e.created < d))
        .collect();
    match meter.formula {
        // Not `sum()`: the float sum of nothing is -0.0, which would be sent as such.
        Formula::Sum => events.iter().fold(0.0, |total, e| total + e.value),
        Formula::Count => events.len() as f64,
        Formula::Last => {
            events.sort_by_key(|e| (e.timestamp, e.seq));
            events.last().map_or(0.0, |e| e.value)
        }
    }
}

/// A metered price's usage for `customer` in `[start, end)`, or `None` for a price without
/// a meter.
pub fn usage_for_price(s: &State, price: &Price, customer: &str, start: i64, end: i64) -> Option<f64> {
    let meter = price.recurring.as_ref()?.meter.as_ref().and_then(|m| s.meters.get(m))?;
    Some(aggregate(s, meter, customer, start, end))
}

/// What `usage` units cost at `price`: `unit_amount` per unit, or per `divide_by` units
/// rounded as the price says when it has `transform_quantity`. Integer minor units.
pub fn metered_amount(price: &Price, usage: f64) -> i64 {
    match price.transform_quantity {
        Some(t) if t.divide_by > 0 => {
            let packages = usage / t.divide_by as f64;
            let packages = if t.round_up { packages.ceil() } else { packages.floor() };
            packages as i64 * price.unit_amount
        }
        _ => (usage * price.unit_amount as f64).round() as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Interval;
    use crate::state::{Recurring, TransformQuantity, UsageType};

    fn price(unit_amount: i64, transform: Option<TransformQuantity>) -> Price {
        Price {
            id: "price_1".into(),
            created: 0,
            product: "prod_1".into(),
            currency: "usd".into(),
            unit_amount,
            nickname: None,
            lookup_key: None,
            metadata: Default::default(),
            active: true,
            recurring: Some(Recurring {
                interval: Interval::Month,
                interval_count: 1,
                usage_type: UsageType::Metered,
                meter: None,
            }),
            transform_quantity: transform,
        }
    }

    #[test]
    fn packages_round_as_the_price_says() {
        let up = price(50, Some(TransformQuantity { divide_by: 1000, round_up: true }));
        assert_eq!(metered_amount(&up, 0.0), 0);
        assert_eq!(metered_amount(&up, 1.0), 50);
        assert_eq!(metered_amount(&up, 2500.0), 150);
        assert_eq!(metered_amount(&up, 3000.0), 150);
        let down = price(50, Some(TransformQuantity { divide_by: 1000, round_up: false }));
        assert_eq!(metered_amount(&down, 2500.0), 100);
        assert_eq!(metered_amount(&price(3, None), 7.0), 21);
    }
}

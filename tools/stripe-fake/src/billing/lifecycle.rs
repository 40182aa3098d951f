//! Time passing: what comes due when a test clock advances (or the wall clock moves on).

use crate::billing::{invoices, renewal};
use crate::state::{InvoiceStatus, Origin, State, SubStatus};

/// Stripe gives an unpaid first invoice 23 hours before the subscription expires.
const INCOMPLETE_EXPIRY: i64 = 23 * 3600;
/// Stripe finalizes an auto-advancing draft about an hour after it was created.
const DRAFT_FINALIZE_DELAY: i64 = 3600;
/// A bound on the work of one advance (a daily subscription advanced by years).
const MAX_STEPS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    PeriodEnd(String),
    IncompleteExpiry(String),
    DraftFinalize(String),
}

/// Brings the objects of `clock`'s customers (`None`: customers without a test clock) up to
/// time `to`, one due thing at a time in time order: subscription periods end (renewal or
/// cancellation), unpaid incomplete subscriptions expire, auto-advancing drafts are
/// finalized and charged. Then the clock shows `to`.
pub fn advance(s: &mut State, clock: Option<&str>, to: i64) {
    let origin = Origin::default();
    for _ in 0..MAX_STEPS {
        let Some((_, _, due)) = next_due(s, clock, to) else { break };
        match due {
            Due::PeriodEnd(id) => {
                if let Err(e) = renewal::end_period(s, &id, &origin) {
                    tracing::warn!(subscription = %id, error = %e, "renewal failed");
                }
            }
            Due::IncompleteExpiry(id) => {
                let at = s.subscriptions.get(&id).map_or(to, |sub| sub.created + INCOMPLETE_EXPIRY);
                renewal::expire_incomplete(s, &id, at, &origin);
            }
            Due::DraftFinalize(id) => {
                let at = s.invoices.get(&id).map_or(to, |i| i.created + DRAFT_FINALIZE_DELAY);
                if invoices::finalize(s, &id, at, &origin).is_ok()
                    && s.invoices.get(&id).is_some_and(|i| {
                        i.status == InvoiceStatus::Open && i.collection_method == "charge_automatically"
                    })
                {
                    let _ = invoices::attempt(s, &id, at, false, None, &origin);
                }
            }
        }
    }
    if let Some(c) = clock.and_then(|c| s.clocks.get_mut(c)) {
        c.frozen_time = to;
    }
}

/// The earliest thing due at or before `to` among `clock`'s objects, with its time.
fn next_due(s: &State, clock: Option<&str>, to: i64) -> Option<(i64, u64, Due)> {
    let subs =
        s.subscriptions.values().filter(|sub| sub.test_clock.as_deref() == clock).filter_map(|sub| match sub.status {
            SubStatus::Incomplete => {
                Some((sub.created + INCOMPLETE_EXPIRY, sub.seq, Due::IncompleteExpiry(sub.id.clone())))
            }
            SubStatus::Active | SubStatus::PastDue => {
                Some((sub.current_period_end, sub.seq, Due::PeriodEnd(sub.id.clone())))
            }
            SubStatus::Canceled | SubStatus::IncompleteExpired => None,
        });
    let drafts = s
        .invoices
        .values()
        .filter(|i| i.test_clock.as_deref() == clock && i.status == InvoiceStatus::Draft && i.auto_advance)
        .map(|i| (i.created + DRAFT_FINALIZE_DELAY, i.seq, Due::DraftFinalize(i.id.clone())));
    subs.chain(drafts).filter(|(t, _, _)| *t <= to).min()
}

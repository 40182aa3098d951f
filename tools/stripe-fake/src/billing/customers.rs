//! Creating customers (from the API and from checkout sessions without one).

use crate::ids::{new_id, random_hex};
use crate::objects;
use crate::state::{Customer, Metadata, Origin, State};

/// The fields of a new customer.
#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    pub email: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub test_clock: Option<String>,
}

/// Stores a customer and records `customer.created`. The caller has checked the clock.
pub fn create(s: &mut State, new: NewCustomer, origin: &Origin) -> String {
    let created = s.now_for_clock(new.test_clock.as_deref());
    let id = new_id("cus_");
    let customer = Customer {
        id: id.clone(),
        created,
        email: new.email,
        name: new.name,
        description: new.description,
        metadata: new.metadata,
        test_clock: new.test_clock,
        default_payment_method: None,
        balance: 0,
        currency: None,
        invoice_prefix: random_hex(8),
        next_invoice_sequence: 1,
    };
    let snapshot = objects::customer(s, &customer);
    s.customers.insert(id.clone(), customer);
    s.emit("customer.created", created, snapshot, None, origin);
    id
}

//! The shared application: the state behind one lock, the webhook queue, and the stored
//! responses of idempotent requests.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::mpsc::UnboundedSender;

use crate::billing::lifecycle;
use crate::clock::wall_now;
use crate::state::State;

/// A stored idempotent request.
#[derive(Debug, Clone)]
pub enum Idempotent {
    /// The first request with the key is still running.
    InFlight,
    /// Its response, replayed for every later request with the key.
    Done { fingerprint: String, status: u16, body: Vec<u8> },
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct App {
    state: Mutex<State>,
    webhooks: UnboundedSender<String>,
    /// Idempotency keys and their responses.
    pub idempotency: Mutex<HashMap<String, Idempotent>>,
}

/// Locks a mutex, carrying on after a panic in another handler (the state is plain data).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl App {
    /// An app over `state` whose events go to the webhook sender through `webhooks`.
    pub fn new(state: State, webhooks: UnboundedSender<String>) -> Self {
        App { state: Mutex::new(state), webhooks, idempotency: Mutex::new(HashMap::new()) }
    }

    /// Runs `f` on the state. First, whatever came due on the wall clock since the last
    /// request happens (renewals of customers without a test clock); afterwards the events
    /// `f` recorded are queued for delivery, still under the lock so that deliveries keep
    /// the order in which changes happened.
    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = lock(&self.state);
        lifecycle::advance(&mut state, None, wall_now());
        let result = f(&mut state);
        for id in state.outbox.drain(..) {
            // The sender only stops with the server; then nobody waits for webhooks.
            let _ = self.webhooks.send(id);
        }
        result
    }

    /// Runs `f` on the state without advancing anything (for the webhook sender).
    pub fn peek<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut lock(&self.state))
    }
}

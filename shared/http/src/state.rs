//! Application state: the adapters plugged into the ports, shared by every handler.

use crate::password::Argon2Passwords;
use crate::{JwtKeys, Settings};
use std::sync::Arc;
use tollgate_domain::{AuditEvent, Clock, Mailer, PasswordHasher, Payments, Queue, QueueMessage, QueueName, Store};

/// What every handler can reach: the [`Ports`] behind one `Arc`, so the clone that every
/// request makes (axum's `State`, the middleware) is one reference count, not one per port.
/// Read a port through it (`state.store`); the `with_*` builders set the optional ones.
#[derive(Clone)]
pub struct AppState(Arc<Ports>);

impl std::ops::Deref for AppState {
    type Target = Ports;

    fn deref(&self) -> &Ports {
        &self.0
    }
}

/// The adapters plugged into the ports, and the settings.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub mailer: Arc<dyn Mailer>,
    /// Argon2id in every target.
    pub passwords: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
    pub jwt: Arc<JwtKeys>,
    pub settings: Arc<Settings>,
    /// The payment provider (Stripe), when a key is configured; without one the billing
    /// routes answer 503 `billing_not_configured` and admins assign plans by hand.
    pub payments: Option<Arc<dyn Payments>>,
    /// What the scheduled jobs act through, where jobs can be run by hand (the local server,
    /// the admin function); without it `POST /api/admin/jobs/{name}/run` answers 503.
    pub jobs: Option<tollgate_app::jobs::JobPorts>,
    /// The outgoing queues, for the routes that queue work (a webhook's test event goes to
    /// the notifications queue); without them such routes answer 503.
    pub queue: Option<Arc<dyn Queue>>,
    /// The HTTP client of OpenID Connect sign-in (with `Settings::oidc`); without it the
    /// OIDC routes answer 503 `oidc_not_configured`.
    pub oidc: Option<Arc<dyn tollgate_domain::OidcHttp>>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        jwt: JwtKeys,
        settings: Settings,
    ) -> Self {
        let passwords = Arc::new(Argon2Passwords::default());
        AppState(Arc::new(Ports {
            store,
            mailer,
            passwords,
            clock,
            jwt: Arc::new(jwt),
            settings: Arc::new(settings),
            payments: None,
            jobs: None,
            queue: None,
            oidc: None,
        }))
    }

    /// The ports to change while the state is being assembled (a copy if it is already
    /// shared).
    fn ports_mut(&mut self) -> &mut Ports {
        Arc::make_mut(&mut self.0)
    }

    /// The same state with billing through `payments`.
    pub fn with_payments(mut self, payments: Arc<dyn Payments>) -> Self {
        self.ports_mut().payments = Some(payments);
        self
    }

    /// The same state able to run jobs by hand through `ports`.
    pub fn with_jobs(mut self, ports: tollgate_app::jobs::JobPorts) -> Self {
        self.ports_mut().jobs = Some(ports);
        self
    }

    /// The same state sending to `queue`.
    pub fn with_queue(mut self, queue: Arc<dyn Queue>) -> Self {
        self.ports_mut().queue = Some(queue);
        self
    }

    /// The same state reaching OpenID Connect providers through `http`.
    pub fn with_oidc(mut self, http: Arc<dyn tollgate_domain::OidcHttp>) -> Self {
        self.ports_mut().oidc = Some(http);
        self
    }

    /// Sends `messages` to `name`: 503 `service_unavailable` without queues or when the
    /// queue fails.
    pub async fn enqueue(&self, name: QueueName, messages: &[QueueMessage]) -> Result<(), crate::ApiError> {
        let queue = self.queue.as_deref().ok_or_else(|| {
            crate::ApiError::Unavailable(Box::new(tollgate_domain::PortError::new("no queue is configured")))
        })?;
        queue.send(name, messages).await?;
        Ok(())
    }

    /// The payment provider, or 503 `billing_not_configured`.
    pub fn payments(&self) -> Result<&dyn Payments, tollgate_app::AppError> {
        self.payments.as_deref().ok_or(tollgate_app::AppError::BillingNotConfigured)
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Records an audit event. The audit log must not make a request fail after its effect
    /// happened, so a failure here is logged, not returned.
    ///
    /// An event recorded while a management token acts (`AdminUser`) names the token in
    /// `details.management_token`, beside the admin who created it as the actor.
    pub async fn audit(&self, event: AuditEvent) {
        let event = match crate::extract::acting_management_token() {
            Some(token) => with_detail(event, "management_token", serde_json::Value::from(token.to_string())),
            None => event,
        };
        if let Err(e) = self.store.record_audit(&event).await {
            tracing::error!(action = %event.action, error = %e, "could not write audit event");
        }
    }
}

/// `event` with `details[name] = value` (details that are not an object are kept as
/// `details.value`).
fn with_detail(mut event: AuditEvent, name: &str, value: serde_json::Value) -> AuditEvent {
    match &mut event.details {
        serde_json::Value::Object(map) => {
            map.insert(name.to_string(), value);
        }
        serde_json::Value::Null => event.details = serde_json::json!({ name: value }),
        other => event.details = serde_json::json!({ "value": other.take(), name: value }),
    }
    event
}

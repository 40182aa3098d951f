//! Delivering events: a background task posts each queued event, in order, to the webhook URL
//! with a `Stripe-Signature` header, retrying a few times on failure.

use std::sync::Weak;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::clock::wall_now;

/// Pauses before the 2nd, 3rd and 4th attempt; then the event is given up (and logged).
const BACKOFF: [Duration; 3] = [Duration::from_millis(100), Duration::from_millis(400), Duration::from_millis(1500)];

/// The `Stripe-Signature` header for `body` sent at `timestamp`:
/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Starts the sender: it receives event ids from `queue`, reads each event from the state
/// (so `pending_webhooks` is current), and posts it. It stops when the app is gone.
pub fn spawn(app: Weak<App>, mut queue: UnboundedReceiver<String>, secret: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        let client = match tollgate_outbound::https::client_builder().timeout(Duration::from_secs(5)).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhook client could not be built; events are recorded but not sent");
                return;
            }
        };
        while let Some(id) = queue.recv().await {
            let Some(found) =
                app.upgrade().map(|a| a.peek(|s| Some((s.webhook_url.clone()?, s.event(&id)?.to_string()))))
            else {
                return;
            };
            let Some((url, body)) = found else { continue };
            if deliver(&client, &url, &secret, &id, &body).await {
                if let Some(a) = app.upgrade() {
                    a.peek(|s| s.mark_delivered(&id));
                }
            }
        }
    })
}

/// Posts one event, retrying with [`BACKOFF`]; whether it was accepted (2xx).
async fn deliver(client: &reqwest::Client, url: &str, secret: &str, id: &str, body: &str) -> bool {
    for attempt in 0..=BACKOFF.len() {
        if attempt > 0 {
            tokio::time::sleep(BACKOFF[attempt - 1]).await;
        }
        // Signed anew for each attempt, as Stripe does: the receiver checks the timestamp.
        let header = signature(secret, wall_now(), body);
        let result = client
            .post(url)
            .header("content-type", "application/json; charset=utf-8")
            .header("stripe-signature", header)
            .header("user-agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
            .body(body.to_string())
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) => tracing::warn!(event = %id, status = %r.status(), attempt, "webhook refused"),
            Err(e) => tracing::warn!(event = %id, error = %e, attempt, "webhook not delivered"),
        }
    }
    tracing::error!(event = %id, url, "webhook given up after {} attempts", BACKOFF.len() + 1);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_stripes_scheme() {
        // Computed independently: Python's hmac.new(b"whsec_x", b"1700000000.{}", sha256).
        assert_eq!(
            signature("whsec_x", 1_700_000_000, "{}"),
            "t=1700000000,v1=be8cb8325f2202445260a855532f967e30ad2a9394ce28da66ee02880ddcb661"
        );
    }
}

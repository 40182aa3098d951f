//! Recording events: each change appends an `event` object (a snapshot of the changed object,
//! with `previous_attributes` on updates) and queues it for the webhook sender.

use serde_json::{Map, Value};

use crate::ids::new_id;
use crate::objects;
use crate::state::{Origin, State};

impl State {
    /// Records an event of type `kind` about `object` (already rendered), created at
    /// `created` (the object's clock), and queues it for delivery.
    pub fn emit(&mut self, kind: &str, created: i64, object: Value, previous: Option<Value>, origin: &Origin) {
        let id = new_id("evt_");
        let pending = u32::from(self.webhook_url.is_some());
        let event = objects::event(&id, kind, created, object, previous, pending, origin);
        self.events.push(event);
        self.outbox.push(id);
    }

    /// Records `<kind>` with `previous_attributes` computed from the object before and after
    /// a change; records nothing when nothing visible changed.
    pub fn emit_update(&mut self, kind: &str, created: i64, before: &Value, after: Value, origin: &Origin) {
        let previous = previous_attributes(before, &after);
        if previous.is_empty() {
            return;
        }
        self.emit(kind, created, after, Some(Value::Object(previous)), origin);
    }

    /// Records that an event's webhook was delivered (`pending_webhooks` drops to 0).
    pub fn mark_delivered(&mut self, id: &str) {
        if let Some(e) = self.events.iter_mut().find(|e| e["id"] == id) {
            e["pending_webhooks"] = Value::from(0);
        }
    }

    /// The event with this id.
    pub fn event(&self, id: &str) -> Option<&Value> {
        self.events.iter().find(|e| e["id"] == id)
    }
}

/// The top-level fields of `before` that differ in `after`, with their old values (Stripe's
/// `previous_attributes`; for nested hashes Stripe sends only the changed keys, and so do we).
fn previous_attributes(before: &Value, after: &Value) -> Map<String, Value> {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else { return Map::new() };
    before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(*v))
        .map(|(k, v)| {
            let old = match (v, after.get(k)) {
                (Value::Object(old), Some(Value::Object(new))) if k != "metadata" => Value::Object(
                    old.iter()
                        .filter(|(nk, nv)| new.get(*nk) != Some(*nv))
                        .map(|(a, b)| (a.clone(), b.clone()))
                        .collect(),
                ),
                _ => v.clone(),
            };
            (k.clone(), old)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn previous_attributes_has_old_values_of_changed_fields() {
        let before = json!({"status": "active", "name": "a", "invoice_settings": {"default_payment_method": null, "footer": null}, "metadata": {"a": "1"}});
        let after = json!({"status": "past_due", "name": "a", "invoice_settings": {"default_payment_method": "pm_1", "footer": null}, "metadata": {"a": "1", "b": "2"}});
        assert_eq!(
            Value::Object(previous_attributes(&before, &after)),
            json!({"status": "active", "invoice_settings": {"default_payment_method": null}, "metadata": {"a": "1"}})
        );
    }
}

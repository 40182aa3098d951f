// Webhook endpoints of the current organization: list, add (the signing secret shown once),
// send a test event, rotate the signing secret (the new one shown once), delete, and each
// endpoint's deliveries log.
import { useState, type FormEvent } from "react";
import { api, unwrap } from "../api/client";
import { CopyButton } from "../components/CopyButton";
import { Field } from "../components/Field";
import { Empty, ErrorState, FormError, Loading } from "../components/States";
import { formatDateTime } from "../lib/format";
import { useAsync } from "../lib/useAsync";
import { useSession } from "../lib/useSession";
import { collect, isValid, type Errors } from "../lib/validate";

export function validateWebhook(url: string, events: string[]): Errors<"url" | "events"> {
  let urlError: string | undefined;
  try {
    const u = new URL(url.trim());
    if (u.protocol !== "https:" && u.protocol !== "http:") urlError = "Use an https:// address.";
  } catch {
    urlError = "Enter the full address, like https://example.com/hooks/tollgate.";
  }
  return collect({ url: urlError, events: events.length ? undefined : "Choose at least one event type." });
}

/** An endpoint's deliveries, newest first (the last 20): status, attempts, last answer. */
export function Deliveries({ id, url }: { id: string; url: string }) {
  const list = useAsync(async () => unwrap(await api.GET("/api/user/webhooks/{id}/deliveries", { params: { path: { id }, query: { limit: 20 } } })), [id]);
  return (
    <div id={`deliveries-${id}`}>
      <button type="button" onClick={list.reload} disabled={list.status === "loading"}>
        Refresh<span className="visually-hidden"> the deliveries</span>
      </button>
      {list.status === "loading" && <Loading label="Loading the deliveries" />}
      {list.status === "error" && <ErrorState error={list.error} onRetry={list.reload} />}
      {list.status === "ok" &&
        (list.data.data.length === 0 ? (
          <Empty>No deliveries to this endpoint yet.</Empty>
        ) : (
          <div className="table-wrap">
            <table data-testid="deliveries">
              <caption>Deliveries to {url}, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Event</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="num">Attempts</th>
                  <th scope="col">Last answer</th>
                </tr>
              </thead>
              <tbody>
                {list.data.data.map((d) => (
                  <tr key={d.id}>
                    <td>{formatDateTime(d.created_at)}</td>
                    <th scope="row">{d.event_type}</th>
                    <td>
                      <span className={`badge badge-${d.status === "succeeded" ? "active" : d.status === "failed" ? "revoked" : "expired"}`}>{d.status}</span>
                      {d.status === "pending" && d.next_attempt_at && <div className="muted">next try {formatDateTime(d.next_attempt_at)}</div>}
                    </td>
                    <td className="num">{d.attempts}</td>
                    <td>
                      {d.last_status_code != null ? `HTTP ${d.last_status_code}` : d.attempts > 0 ? "no answer" : "-"}
                      {d.last_latency_ms != null && ` in ${d.last_latency_ms} ms`}
                      {d.last_error && <div className="field-error">{d.last_error}</div>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
    </div>
  );
}

export function WebhooksSection() {
  const [open, setOpen] = useState<string | null>(null);
  const { orgId } = useSession();
  const list = useAsync(async () => unwrap(await api.GET("/api/user/webhooks")), [orgId]);
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<string[]>([]);
  const [errors, setErrors] = useState<Errors<"url" | "events">>({});
  const [error, setError] = useState<unknown>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  async function add(e: FormEvent) {
    e.preventDefault();
    const found = validateWebhook(url, events);
    setErrors(found);
    if (!isValid(found)) return;
    setError(null);
    try {
      const created = unwrap(await api.POST("/api/user/webhooks", { body: { url: url.trim(), events } }));
      setSecret(created.secret);
      setUrl("");
      setEvents([]);
      list.reload();
    } catch (err) {
      setError(err);
    }
  }
  async function act(id: string, what: "test" | "delete" | "rotate") {
    setError(null);
    setNotice(null);
    try {
      if (what === "rotate") {
        if (!window.confirm("Replace this endpoint's signing secret? Deliveries are signed with the new one at once.")) return;
        const rotated = unwrap(await api.POST("/api/user/webhooks/{id}/rotate-secret", { params: { path: { id } } }));
        setSecret(rotated.secret);
        setNotice("The signing secret is replaced.");
      } else if (what === "test") {
        unwrap(await api.POST("/api/user/webhooks/{id}/test", { params: { path: { id } } }));
        setNotice("Test event queued.");
      } else {
        if (!window.confirm("Delete this webhook endpoint?")) return;
        unwrap(await api.DELETE("/api/user/webhooks/{id}", { params: { path: { id } } }));
        list.reload();
      }
    } catch (err) {
      setError(err);
    }
  }

  return (
    <section aria-labelledby="webhooks">
      <h2 id="webhooks">Webhooks</h2>
      {list.status === "loading" && <Loading label="Loading the webhooks" />}
      {list.status === "error" && <ErrorState error={list.error} onRetry={list.reload} />}
      {list.status === "ok" && (
        <>
          {secret && (
            <div className="card secret" role="region" aria-label="New signing secret">
              <p>The endpoint's signing secret, shown only this once:</p>
              <code className="secret-value">{secret}</code>
              <CopyButton text={secret} label="Copy the secret" />{" "}
              <button type="button" onClick={() => setSecret(null)}>
                Done
              </button>
            </div>
          )}
          {list.data.data.length === 0 ? (
            <Empty>No webhook endpoints yet.</Empty>
          ) : (
            <ul className="org-list">
              {list.data.data.map((w) => (
                <li key={w.id}>
                  <code>{w.url}</code> · {w.events.join(", ")}{" "}
                  <button type="button" onClick={() => act(w.id, "test")}>
                    Send a test<span className="visually-hidden"> to {w.url}</span>
                  </button>{" "}
                  <button type="button" onClick={() => act(w.id, "rotate")}>
                    Rotate the secret<span className="visually-hidden"> of {w.url}</span>
                  </button>{" "}
                  <button type="button" className="danger" onClick={() => act(w.id, "delete")}>
                    Delete<span className="visually-hidden"> {w.url}</span>
                  </button>{" "}
                  <button
                    type="button"
                    aria-expanded={open === w.id}
                    aria-controls={`deliveries-${w.id}`}
                    onClick={() => setOpen((o) => (o === w.id ? null : w.id))}
                  >
                    {open === w.id ? "Hide deliveries" : "Deliveries"}
                    <span className="visually-hidden"> of {w.url}</span>
                  </button>
                  {open === w.id && <Deliveries id={w.id} url={w.url} />}
                </li>
              ))}
            </ul>
          )}
          <p role="status">{notice ?? ""}</p>
          {list.data.data.length < list.data.limit && (
            <form onSubmit={add} noValidate aria-label="Add a webhook endpoint">
              <Field label="Endpoint URL" type="url" value={url} onChange={(e) => setUrl(e.target.value)} error={errors.url} placeholder="https://example.com/hooks/tollgate" />
              <fieldset aria-describedby={errors.events ? "webhook-events-error" : undefined}>
                <legend>Events</legend>
                {list.data.event_types.map((t) => (
                  <label key={t} className="check">
                    <input
                      type="checkbox"
                      checked={events.includes(t)}
                      onChange={(e) => setEvents((ev) => (e.target.checked ? [...ev, t] : ev.filter((x) => x !== t)))}
                    />{" "}
                    {t}
                  </label>
                ))}
                {errors.events && (
                  <small id="webhook-events-error" className="field-error">
                    {errors.events}
                  </small>
                )}
              </fieldset>
              <button type="submit">Add endpoint</button>
            </form>
          )}
          <FormError error={error} />
        </>
      )}
    </section>
  );
}

import { useId, useState, type FormEvent } from "react";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { CopyButton } from "../components/CopyButton";
import { Field } from "../components/Field";
import { Empty, ErrorState, FormError, Loading } from "../components/States";
import { formatDateTime } from "../lib/format";
import { useAsync } from "../lib/useAsync";
import { useSession } from "../lib/useSession";
import { useAction } from "../lib/useAction";
import { collect, isValid, keyExpiry, name as checkName, type Errors } from "../lib/validate";

type ApiKey = components["schemas"]["ApiKeyView"];

/** How long a rotated key's old secret keeps working (the server allows 0 to 7 days). */
const GRACE_PERIODS = [
  { seconds: 0, label: "No grace period" },
  { seconds: 3600, label: "1 hour" },
  { seconds: 86_400, label: "24 hours" },
  { seconds: 604_800, label: "7 days" },
] as const;

/** Expired: so marked by the server, or past its expiry since the list was read. */
export function isExpired(k: Pick<ApiKey, "status" | "expires_at">, now = new Date()): boolean {
  return k.status === "expired" || (k.status === "active" && !!k.expires_at && new Date(k.expires_at).getTime() <= now.getTime());
}

/** A new secret: shown once, with a copy button. */
function SecretOnce({ title, secret, note, onDone }: { title: string; secret: string; note?: string; onDone: () => void }) {
  return (
    <section className="card secret" aria-labelledby="secret-title" role="region">
      <h2 id="secret-title">{title}</h2>
      <p>Copy it now: it is shown only this once and cannot be shown again.</p>
      <p>
        <code className="secret-value" data-testid="new-secret">{secret}</code>
      </p>
      {note && <p className="muted">{note}</p>}
      <CopyButton text={secret} label="Copy the key" />{" "}
      <button type="button" onClick={onDone}>
        Done
      </button>
    </section>
  );
}

function CreateKey({ onCreated }: { onCreated: (secret: string) => void }) {
  const [name, setName] = useState("");
  const [expiry, setExpiry] = useState("");
  const [errors, setErrors] = useState<Errors<"name" | "expiry">>({});
  const { busy, error, run } = useAction();
  async function submit(e: FormEvent) {
    e.preventDefault();
    const expires = keyExpiry(expiry);
    const found = collect({ name: checkName(name, "a name for the key"), expiry: expires.error });
    setErrors(found);
    if (!isValid(found)) return;
    await run(async () => {
      const created = unwrap(await api.POST("/api/user/api-keys", {
          body: { name: name.trim(), ...(expires.expiresAt ? { expires_at: expires.expiresAt } : {}) },
        }));
      setName("");
      setExpiry("");
      onCreated(created.secret);
    });
  }
  return (
    <form onSubmit={submit} noValidate className="inline-form" aria-label="Create an API key">
      <Field label="Key name" value={name} onChange={(e) => setName(e.target.value)} error={errors.name} placeholder="production server" />
      <Field
        label="Expires on (optional)"
        type="date"
        value={expiry}
        onChange={(e) => setExpiry(e.target.value)}
        error={errors.expiry}
        hint="At the end of that day (UTC). Empty: never."
        min={new Date().toISOString().slice(0, 10)}
      />
      <button type="submit" className="primary" disabled={busy}>
        Create key
      </button>
      <FormError error={error} />
    </form>
  );
}

function KeyRow({ k, onChanged, onSecret }: { k: ApiKey; onChanged: () => void; onSecret: (s: string, note?: string) => void }) {
  const { busy, error, run } = useAction();
  const [grace, setGrace] = useState<number>(0);
  const graceId = useId();
  const expired = isExpired(k);
  async function act(action: "rotate" | "revoke") {
    const question =
      action === "revoke"
        ? `Revoke the key "${k.name}"? Calls with it stop working within 5 seconds.`
        : `Rotate the key "${k.name}"? The old secret ${
            grace === 0 ? "stops working at once" : `keeps working for ${GRACE_PERIODS.find((g) => g.seconds === grace)?.label ?? `${grace} s`}`
          }.`;
    if (!window.confirm(question)) return;
    await run(async () => {
      if (action === "revoke") {
        unwrap(await api.DELETE("/api/user/api-keys/{id}", { params: { path: { id: k.id } } }));
      } else {
        const rotated = unwrap(
          await api.POST("/api/user/api-keys/{id}/rotate", {
            params: { path: { id: k.id } },
            body: grace === 0 ? null : { grace_period_seconds: grace },
          }),
        );
        const until = rotated.previous_secret_valid_until;
        onSecret(
          rotated.secret,
          `The new secret of "${k.name}". ${until ? `The old secret works until ${formatDateTime(until)}.` : "The old secret no longer works."}`,
        );
      }
      onChanged();
    });
  }
  return (
    <tr>
      <th scope="row">{k.name}</th>
      <td>
        <code>
          {k.prefix}…{k.last4}
        </code>
      </td>
      <td>
        <span className={`badge badge-${expired ? "expired" : k.status}`}>{expired ? "expired" : k.status}</span>
      </td>
      <td>{formatDateTime(k.created_at)}</td>
      <td>{k.expires_at ? formatDateTime(k.expires_at) : "never"}</td>
      <td>{formatDateTime(k.last_used_at)}</td>
      <td className="actions">
        {k.status === "active" && !expired && (
          <>
            <label htmlFor={graceId} className="visually-hidden">
              Old secret of {k.name} works after rotation for
            </label>
            <select id={graceId} value={grace} disabled={busy} onChange={(e) => setGrace(Number(e.target.value))}>
              {GRACE_PERIODS.map((g) => (
                <option key={g.seconds} value={g.seconds}>
                  {g.seconds === 0 ? g.label : `Old secret: ${g.label}`}
                </option>
              ))}
            </select>
            <button type="button" disabled={busy} onClick={() => act("rotate")} aria-label={`Rotate ${k.name}`}>
              Rotate
            </button>
            <button type="button" className="danger" disabled={busy} onClick={() => act("revoke")} aria-label={`Revoke ${k.name}`}>
              Revoke
            </button>
          </>
        )}
        <FormError error={error} />
      </td>
    </tr>
  );
}

export function KeysPage() {
  const { orgId } = useSession();
  const keys = useAsync(async () => unwrap(await api.GET("/api/user/api-keys")), [orgId]);
  const [secret, setSecret] = useState<{ value: string; note?: string } | null>(null);
  return (
    <>
      <h1>API keys</h1>
      <p>
        Send a key as <code>X-API-Key</code> (or <code>Authorization: Bearer</code>) with every call to <code>/api/v1/…</code>.
      </p>
      {secret ? (
        <SecretOnce
          title="Your new API key"
          secret={secret.value}
          {...(secret.note ? { note: secret.note } : {})}
          onDone={() => setSecret(null)}
        />
      ) : (
        <CreateKey
          onCreated={(s) => {
            setSecret({ value: s });
            keys.reload();
          }}
        />
      )}
      {keys.status === "loading" && <Loading label="Loading your keys" />}
      {keys.status === "error" && <ErrorState error={keys.error} onRetry={keys.reload} />}
      {keys.status === "ok" && (
        <>
          <p className="muted">
            {keys.data.active} of {keys.data.limit} usable keys on your plan.
          </p>
          {keys.data.data.length === 0 ? (
            <Empty>No API keys yet. Create one above.</Empty>
          ) : (
            <div className="table-wrap">
              <table>
                <caption>Your API keys</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Key</th>
                    <th scope="col">Status</th>
                    <th scope="col">Created</th>
                    <th scope="col">Expires</th>
                    <th scope="col">Last used</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {keys.data.data.map((k) => (
                    <KeyRow key={k.id} k={k} onChanged={keys.reload} onSecret={(value, note) => setSecret({ value, ...(note ? { note } : {}) })} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </>
  );
}

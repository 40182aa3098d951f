// The endpoint catalog: what the gateway serves under /api/v1. List, create, edit, delete.
import { useState } from "react";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { Field } from "../components/Field";
import { Empty, ErrorState, FormError, Loading } from "../components/States";
import { formatNumber } from "../lib/format";
import { useAction } from "../lib/useAction";
import { useAsync } from "../lib/useAsync";
import { useDraftForm } from "../lib/useDraftForm";

type Endpoint = components["schemas"]["Endpoint"];

const METHODS = ["ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

interface Draft {
  name: string;
  description: string;
  method: string;
  path: string;
  upstream_url: string;
  cost_units: string;
  rate_limit: string;
  scope: string;
  public: boolean;
}

const EMPTY: Draft = { name: "", description: "", method: "GET", path: "", upstream_url: "", cost_units: "1", rate_limit: "", scope: "", public: false };

function toDraft(e: Endpoint): Draft {
  return {
    name: e.name,
    description: e.description ?? "",
    method: e.method.toUpperCase(),
    path: e.path,
    upstream_url: e.upstream_url,
    cost_units: String(e.cost_units),
    rate_limit: e.rate_limit == null ? "" : String(e.rate_limit),
    scope: e.scope ?? "",
    public: e.public,
  };
}

type Errors = Partial<Record<keyof Draft, string>>;

/** The server's rules, checked before sending; and the body. */
export function endpointBody(d: Draft): { errors: Errors; body?: components["schemas"]["CreateEndpointRequest"] } {
  const errors: Errors = {};
  const name = d.name.trim();
  if (!name || name.length > 100) errors.name = "Enter a name of 1 to 100 characters.";
  if (d.description.length > 500) errors.description = "At most 500 characters.";
  const path = d.path.trim();
  if (!path.startsWith("/") || path.length > 200) errors.path = "Enter a path starting with /, at most 200 characters, e.g. /weather/{city}.";
  const upstream = d.upstream_url.trim();
  if (!(upstream === "builtin:echo" || /^https?:\/\/\S+$/.test(upstream)) || upstream.length > 500) errors.upstream_url = "Enter an http(s):// URL or builtin:echo.";
  if (!/^\d+$/.test(d.cost_units.trim()) || Number(d.cost_units) < 1 || Number(d.cost_units) > 1_000_000) errors.cost_units = "Enter 1 to 1,000,000.";
  if (d.rate_limit.trim() && (!/^\d+$/.test(d.rate_limit.trim()) || Number(d.rate_limit) < 1)) errors.rate_limit = "Enter a whole number of at least 1, or leave empty.";
  const scope = d.scope.trim();
  if (scope && !/^[a-z0-9][a-z0-9_.:-]{0,49}$/.test(scope)) errors.scope = "Lower-case letters, digits and _ . : - (at most 50), or leave empty.";
  if (Object.keys(errors).length) return { errors };
  return {
    errors,
    body: {
      name,
      description: d.description.trim() || null,
      method: d.method,
      path,
      upstream_url: upstream,
      cost_units: Number(d.cost_units.trim()),
      rate_limit: d.rate_limit.trim() ? Number(d.rate_limit.trim()) : null,
      scope: scope || null,
      public: d.public,
    },
  };
}

function EndpointForm({ endpoint, onDone, onCancel }: { endpoint: Endpoint | null; onDone: (m: string) => void; onCancel: () => void }) {
  const { draft: d, setDraft: setD, set, errors, busy, error, submit } = useDraftForm(endpoint ? toDraft(endpoint) : EMPTY, endpointBody, async (body) => {
    if (endpoint) {
      unwrap(await api.PUT("/api/admin/endpoints/{id}", { params: { path: { id: endpoint.id } }, body }));
      onDone(`Endpoint ${body.name} saved.`);
    } else {
      unwrap(await api.POST("/api/admin/endpoints", { body }));
      onDone(`Endpoint ${body.name} created.`);
    }
  });

  return (
    <form className="card" onSubmit={submit} noValidate aria-labelledby="endpoint-form-title">
      <h2 id="endpoint-form-title">{endpoint ? `Edit ${endpoint.name}` : "New endpoint"}</h2>
      <Field label="Name" value={d.name} onChange={set("name")} error={errors.name} />
      <Field label="Description" value={d.description} onChange={set("description")} error={errors.description} hint="Optional." />
      <div className="field">
        <label htmlFor="endpoint-method">Method</label>
        <select id="endpoint-method" value={d.method} onChange={set("method")}>
          {METHODS.map((m) => (
            <option key={m} value={m}>{m}</option>
          ))}
        </select>
      </div>
      <Field label="Path under /api/v1" value={d.path} onChange={set("path")} error={errors.path} hint="e.g. /weather/{city} or /echo/{*rest}" />
      <Field label="Upstream URL" value={d.upstream_url} onChange={set("upstream_url")} error={errors.upstream_url} hint="https://... or builtin:echo" />
      <Field label="Cost units per call" inputMode="numeric" value={d.cost_units} onChange={set("cost_units")} error={errors.cost_units} />
      <Field label="Rate limit (per minute)" inputMode="numeric" value={d.rate_limit} onChange={set("rate_limit")} error={errors.rate_limit} hint="On top of the plan's; empty: none." />
      <Field label="Scope" value={d.scope} onChange={set("scope")} error={errors.scope} hint="The group keys with scopes must name; empty: every key." />
      <p>
        <label className="check">
          <input type="checkbox" checked={d.public} onChange={(e) => setD((x) => ({ ...x, public: e.target.checked }))} />
          Public (no key; limited per client IP, no quota)
        </label>
      </p>
      <FormError error={error} />
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Saving…" : endpoint ? "Save endpoint" : "Create endpoint"}
        </button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}

export function EndpointsPage() {
  const list = useAsync(async () => unwrap(await api.GET("/api/admin/endpoints")), []);
  const [editing, setEditing] = useState<Endpoint | "new" | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const { busy, error, run } = useAction();

  function finished(message: string) {
    setEditing(null);
    setDone(message);
    list.reload();
  }

  async function remove(e: Endpoint) {
    if (!window.confirm(`Delete the endpoint ${e.name}? The gateway stops serving it.`)) return;
    setDone(null);
    await run(async () => {
      unwrap(await api.DELETE("/api/admin/endpoints/{id}", { params: { path: { id: e.id } } }));
      setDone(`${e.name} is deleted.`);
      list.reload();
    });
  }

  return (
    <>
      <h1>Endpoints</h1>
      <p role="status">{done ?? ""}</p>
      <FormError error={error} />
      {editing === null ? (
        <p>
          <button type="button" className="primary" onClick={() => { setDone(null); setEditing("new"); }}>
            New endpoint
          </button>
        </p>
      ) : (
        <EndpointForm key={editing === "new" ? "new" : editing.id} endpoint={editing === "new" ? null : editing} onDone={finished} onCancel={() => setEditing(null)} />
      )}
      {list.status === "loading" && <Loading label="Loading the endpoints" />}
      {list.status === "error" && <ErrorState error={list.error} onRetry={list.reload} />}
      {list.status === "ok" &&
        (list.data.data.length === 0 ? (
          <Empty>No endpoints yet: the gateway serves nothing.</Empty>
        ) : (
          <div className="table-wrap">
            <table data-testid="endpoints">
              <caption>The endpoints the gateway serves under /api/v1</caption>
              <thead>
                <tr>
                  <th scope="col">Endpoint</th>
                  <th scope="col">Route</th>
                  <th scope="col">Upstream</th>
                  <th scope="col" className="num">Cost</th>
                  <th scope="col">Access</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.data.data.map((e) => (
                  <tr key={e.id}>
                    <th scope="row">
                      {e.name}
                      <div className="muted"><code>{e.id}</code></div>
                    </th>
                    <td className="path">{e.method} {e.path}</td>
                    <td className="path">{e.upstream_url}</td>
                    <td className="num">{formatNumber(e.cost_units)}</td>
                    <td>
                      {e.public ? "public" : "key"}
                      {e.scope && <div className="muted">scope {e.scope}</div>}
                      {e.rate_limit != null && <div className="muted">{formatNumber(e.rate_limit)} / min</div>}
                    </td>
                    <td>
                      <div className="actions">
                        <button type="button" disabled={busy} onClick={() => { setDone(null); setEditing(e); }}>
                          Edit<span className="visually-hidden"> {e.name}</span>
                        </button>
                        <button type="button" disabled={busy} onClick={() => remove(e)}>
                          Delete<span className="visually-hidden"> {e.name}</span>
                        </button>
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
    </>
  );
}

// The plans editor: every plan (archived ones included), create, edit, archive and delete.
import { useState } from "react";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { Field } from "../components/Field";
import { Empty, ErrorState, FormError, Loading } from "../components/States";
import { formatMoney, formatNumber } from "../lib/format";
import { useAction } from "../lib/useAction";
import { useAsync } from "../lib/useAsync";
import { useDraftForm } from "../lib/useDraftForm";

type Plan = components["schemas"]["Plan"];
type BillingType = components["schemas"]["BillingType"];
type PlanStatus = components["schemas"]["PlanStatus"];

const BILLING: Record<BillingType, string> = {
  subscription: "Subscription",
  pay_as_you_go: "Pay as you go",
  hybrid: "Hybrid (quota + overage)",
};

interface Draft {
  name: string;
  description: string;
  currency: string;
  billing_type: BillingType;
  price: string;
  overage_price: string;
  monthly_limit: string;
  rate_limit: string;
  burst: string;
  max_api_keys: string;
  retention_days: string;
  status: PlanStatus;
}

const EMPTY: Draft = {
  name: "",
  description: "",
  currency: "usd",
  billing_type: "subscription",
  price: "0",
  overage_price: "",
  monthly_limit: "",
  rate_limit: "60",
  burst: "",
  max_api_keys: "10",
  retention_days: "30",
  status: "active",
};

function toDraft(p: Plan): Draft {
  const n = (v: number | null | undefined) => (v == null ? "" : String(v));
  return {
    name: p.name,
    description: p.description ?? "",
    currency: p.currency,
    billing_type: p.billing_type,
    price: (p.price / 100).toFixed(2),
    overage_price: n(p.overage_price),
    monthly_limit: n(p.monthly_limit),
    rate_limit: String(p.rate_limit),
    burst: n(p.burst),
    max_api_keys: String(p.max_api_keys),
    retention_days: String(p.retention_days),
    status: p.status,
  };
}

type Errors = Partial<Record<keyof Draft, string>>;

const isInt = (s: string) => /^\d+$/.test(s.trim());

/** The checks the server makes too, before sending; and the body (money in minor units). */
export function planBody(d: Draft): { errors: Errors; body?: components["schemas"]["CreatePlanRequest"] } {
  const errors: Errors = {};
  const name = d.name.trim();
  if (!name || name.length > 100) errors.name = "Enter a name of 1 to 100 characters.";
  if (d.description.length > 500) errors.description = "At most 500 characters.";
  if (!/^[a-z]{3}$/i.test(d.currency.trim())) errors.currency = "Enter a three-letter currency code (usd).";
  if (!/^\d+(\.\d{1,2})?$/.test(d.price.trim())) errors.price = "Enter a price such as 19 or 19.00.";
  if (d.overage_price.trim() && !isInt(d.overage_price)) errors.overage_price = "Enter a whole number of minor units (cents).";
  if (d.billing_type !== "subscription" && !d.overage_price.trim()) errors.overage_price = "Needed for pay as you go and hybrid plans.";
  if (d.monthly_limit.trim() && (!isInt(d.monthly_limit) || Number(d.monthly_limit) < 1)) errors.monthly_limit = "Enter a whole number of at least 1, or leave empty for unlimited.";
  if (!isInt(d.rate_limit) || Number(d.rate_limit) < 1 || Number(d.rate_limit) > 1_000_000) errors.rate_limit = "Enter 1 to 1,000,000.";
  if (d.burst.trim() && (!isInt(d.burst) || Number(d.burst) > 1_000_000)) errors.burst = "Enter 0 to 1,000,000, or leave empty.";
  if (!isInt(d.max_api_keys) || Number(d.max_api_keys) < 1 || Number(d.max_api_keys) > 1000) errors.max_api_keys = "Enter 1 to 1000.";
  if (!isInt(d.retention_days) || Number(d.retention_days) < 1 || Number(d.retention_days) > 3650) errors.retention_days = "Enter 1 to 3650.";
  if (Object.keys(errors).length) return { errors };
  const opt = (s: string) => (s.trim() ? Number(s.trim()) : null);
  return {
    errors,
    body: {
      name,
      description: d.description.trim() || null,
      currency: d.currency.trim().toLowerCase(),
      billing_type: d.billing_type,
      price: Math.round(Number(d.price.trim()) * 100),
      overage_price: opt(d.overage_price),
      monthly_limit: opt(d.monthly_limit),
      rate_limit: Number(d.rate_limit.trim()),
      burst: opt(d.burst),
      max_api_keys: Number(d.max_api_keys.trim()),
      retention_days: Number(d.retention_days.trim()),
      status: d.status,
    },
  };
}

function PlanForm({ plan, onDone, onCancel }: { plan: Plan | null; onDone: (message: string) => void; onCancel: () => void }) {
  const { draft: d, set, errors, busy, error, submit } = useDraftForm(plan ? toDraft(plan) : EMPTY, planBody, async (body) => {
    if (plan) {
      unwrap(await api.PUT("/api/admin/plans/{id}", { params: { path: { id: plan.id } }, body }));
      onDone(`Plan ${body.name} saved.`);
    } else {
      unwrap(await api.POST("/api/admin/plans", { body }));
      onDone(`Plan ${body.name} created.`);
    }
  });

  return (
    <form className="card" onSubmit={submit} noValidate aria-labelledby="plan-form-title">
      <h2 id="plan-form-title">{plan ? `Edit ${plan.name}` : "New plan"}</h2>
      <Field label="Name" value={d.name} onChange={set("name")} error={errors.name} required />
      <Field label="Description" value={d.description} onChange={set("description")} error={errors.description} hint="Shown on the pricing page; optional." />
      <div className="field">
        <label htmlFor="plan-billing">Billing</label>
        <select id="plan-billing" value={d.billing_type} onChange={set("billing_type")}>
          {Object.entries(BILLING).map(([k, label]) => (
            <option key={k} value={k}>{label}</option>
          ))}
        </select>
      </div>
      <Field label="Currency" value={d.currency} onChange={set("currency")} error={errors.currency} maxLength={3} />
      <Field label="Price per period" inputMode="decimal" value={d.price} onChange={set("price")} error={errors.price} hint="In the currency's units, e.g. 19.00." />
      <Field
        label="Overage price per 1,000 units (cents)"
        inputMode="numeric"
        value={d.overage_price}
        onChange={set("overage_price")}
        error={errors.overage_price}
        hint="Minor units; needed for pay as you go and hybrid plans."
      />
      <Field label="Monthly limit (units)" inputMode="numeric" value={d.monthly_limit} onChange={set("monthly_limit")} error={errors.monthly_limit} hint="Empty: unlimited." />
      <Field label="Rate limit (requests per minute per key)" inputMode="numeric" value={d.rate_limit} onChange={set("rate_limit")} error={errors.rate_limit} />
      <Field label="Burst" inputMode="numeric" value={d.burst} onChange={set("burst")} error={errors.burst} hint="Extra requests above the rate; empty: none." />
      <Field label="API keys per organization" inputMode="numeric" value={d.max_api_keys} onChange={set("max_api_keys")} error={errors.max_api_keys} />
      <Field label="Log retention (days)" inputMode="numeric" value={d.retention_days} onChange={set("retention_days")} error={errors.retention_days} />
      <div className="field">
        <label htmlFor="plan-status">Status</label>
        <select id="plan-status" value={d.status} onChange={set("status")}>
          <option value="active">Active (offered)</option>
          <option value="archived">Archived (not offered)</option>
        </select>
      </div>
      <FormError error={error} />
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Saving…" : plan ? "Save plan" : "Create plan"}
        </button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}

export function PlansPage() {
  const plans = useAsync(async () => unwrap(await api.GET("/api/admin/plans")), []);
  const [editing, setEditing] = useState<Plan | "new" | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const { busy, error, run } = useAction();

  function finished(message: string) {
    setEditing(null);
    setDone(message);
    plans.reload();
  }

  async function remove(p: Plan) {
    if (!window.confirm(`Delete the plan ${p.name}? A plan with subscribers is archived instead.`)) return;
    setDone(null);
    await run(async () => {
      const r = unwrap(await api.DELETE("/api/admin/plans/{id}", { params: { path: { id: p.id } } }));
      setDone(r.archived ? `${p.name} has subscribers: it is archived instead.` : `${p.name} is deleted.`);
      plans.reload();
    });
  }

  async function archive(p: Plan, status: PlanStatus) {
    setDone(null);
    await run(async () => {
      unwrap(await api.PUT("/api/admin/plans/{id}", { params: { path: { id: p.id } }, body: { status } }));
      setDone(status === "archived" ? `${p.name} is archived.` : `${p.name} is offered again.`);
      plans.reload();
    });
  }

  return (
    <>
      <h1>Plans</h1>
      <p role="status">{done ?? ""}</p>
      <FormError error={error} />
      {editing === null && (
        <p>
          <button type="button" className="primary" onClick={() => { setDone(null); setEditing("new"); }}>
            New plan
          </button>
        </p>
      )}
      {editing !== null && (
        <PlanForm key={editing === "new" ? "new" : editing.id} plan={editing === "new" ? null : editing} onDone={finished} onCancel={() => setEditing(null)} />
      )}
      {plans.status === "loading" && <Loading label="Loading the plans" />}
      {plans.status === "error" && <ErrorState error={plans.error} onRetry={plans.reload} />}
      {plans.status === "ok" &&
        (plans.data.data.length === 0 ? (
          <Empty>No plans yet.</Empty>
        ) : (
          <div className="table-wrap">
            <table data-testid="plans">
              <caption>Every plan, archived ones included</caption>
              <thead>
                <tr>
                  <th scope="col">Plan</th>
                  <th scope="col">Billing</th>
                  <th scope="col" className="num">Price</th>
                  <th scope="col" className="num">Monthly limit</th>
                  <th scope="col" className="num">Rate / min</th>
                  <th scope="col">Status</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {plans.data.data.map((p) => (
                  <tr key={p.id}>
                    <th scope="row">
                      {p.name}
                      <div className="muted"><code>{p.id}</code></div>
                    </th>
                    <td>{BILLING[p.billing_type]}</td>
                    <td className="num">
                      {formatMoney(p.price, p.currency)}
                      {p.overage_price != null && <div className="muted">+{formatMoney(p.overage_price, p.currency)} / 1k</div>}
                    </td>
                    <td className="num">{p.monthly_limit == null ? "unlimited" : formatNumber(p.monthly_limit)}</td>
                    <td className="num">{formatNumber(p.rate_limit)}</td>
                    <td><span className={`badge badge-${p.status === "active" ? "active" : "expired"}`}>{p.status}</span></td>
                    <td>
                      <div className="actions">
                        <button type="button" disabled={busy} onClick={() => { setDone(null); setEditing(p); }}>
                          Edit<span className="visually-hidden"> {p.name}</span>
                        </button>
                        {p.status === "active" ? (
                          <button type="button" disabled={busy} onClick={() => archive(p, "archived")}>
                            Archive<span className="visually-hidden"> {p.name}</span>
                          </button>
                        ) : (
                          <button type="button" disabled={busy} onClick={() => archive(p, "active")}>
                            Restore<span className="visually-hidden"> {p.name}</span>
                          </button>
                        )}
                        <button type="button" disabled={busy} onClick={() => remove(p)}>
                          Delete<span className="visually-hidden"> {p.name}</span>
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

// Subscriptions, newest first, filtered by user, organization or plan; change a plan or
// cancel at once (both take effect immediately, the gateway within its cache time).
import { useState, type FormEvent } from "react";
import { useSearchParams } from "react-router-dom";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { Empty, ErrorState, FormError, Loading } from "../components/States";
import { formatDate } from "../lib/format";
import { useAction } from "../lib/useAction";
import { useAsync } from "../lib/useAsync";

type Subscription = components["schemas"]["SubscriptionView"];
type Plan = components["schemas"]["Plan"];

const FILTERS = ["user_id", "org_id", "plan_id"] as const;
type Filter = (typeof FILTERS)[number];

function ChangePlan({ sub, plans, disabled, onChange }: { sub: Subscription; plans: Plan[]; disabled: boolean; onChange: (planId: string) => void }) {
  const [planId, setPlanId] = useState(sub.plan_id);
  const id = `plan-of-${sub.id}`;
  const offered = plans.filter((p) => p.status === "active" || p.id === sub.plan_id);
  return (
    <div className="actions">
      <label htmlFor={id} className="visually-hidden">Plan of {sub.org_id}</label>
      <select id={id} value={planId} onChange={(e) => setPlanId(e.target.value)} disabled={disabled}>
        {offered.map((p) => (
          <option key={p.id} value={p.id}>{p.name}</option>
        ))}
      </select>
      <button type="button" disabled={disabled || planId === sub.plan_id} onClick={() => onChange(planId)}>
        Change plan<span className="visually-hidden"> of {sub.org_id}</span>
      </button>
    </div>
  );
}

export function SubscriptionsPage() {
  const [params, setParams] = useSearchParams();
  const filters = Object.fromEntries(FILTERS.flatMap((f) => (params.get(f) ? [[f, params.get(f) ?? ""]] : []))) as Partial<Record<Filter, string>>;
  const [draft, setDraft] = useState<Record<Filter, string>>({ user_id: filters.user_id ?? "", org_id: filters.org_id ?? "", plan_id: filters.plan_id ?? "" });
  const key = params.toString();
  const plans = useAsync(async () => unwrap(await api.GET("/api/admin/plans")).data, []);
  const subs = useAsync(async () => unwrap(await api.GET("/api/admin/subscriptions", { params: { query: { limit: 100, ...filters } } })), [key]);
  const { busy, error, run } = useAction();
  const [done, setDone] = useState<string | null>(null);

  function search(e: FormEvent) {
    e.preventDefault();
    const next: Record<string, string> = {};
    for (const f of FILTERS) if (draft[f].trim()) next[f] = draft[f].trim();
    setParams(next);
  }

  async function act(what: () => Promise<unknown>, message: string) {
    setDone(null);
    await run(async () => {
      await what();
      setDone(message);
      subs.reload();
    });
  }

  const planList = plans.status === "ok" ? plans.data : [];
  return (
    <>
      <h1>Subscriptions</h1>
      <form role="search" className="inline-form" onSubmit={search} aria-label="Filter the subscriptions">
        <div className="field">
          <label htmlFor="sub-user">User id</label>
          <input id="sub-user" value={draft.user_id} onChange={(e) => setDraft((d) => ({ ...d, user_id: e.target.value }))} />
        </div>
        <div className="field">
          <label htmlFor="sub-org">Organization id</label>
          <input id="sub-org" value={draft.org_id} onChange={(e) => setDraft((d) => ({ ...d, org_id: e.target.value }))} />
        </div>
        <div className="field">
          <label htmlFor="sub-plan">Plan</label>
          <select id="sub-plan" value={draft.plan_id} onChange={(e) => setDraft((d) => ({ ...d, plan_id: e.target.value }))}>
            <option value="">Any plan</option>
            {planList.map((p) => (
              <option key={p.id} value={p.id}>{p.name}</option>
            ))}
          </select>
        </div>
        <button type="submit">Filter</button>
      </form>
      <p role="status">{done ?? ""}</p>
      <FormError error={error} />
      {subs.status === "loading" && <Loading label="Loading the subscriptions" />}
      {subs.status === "error" && <ErrorState error={subs.error} onRetry={subs.reload} />}
      {subs.status === "ok" &&
        (subs.data.data.length === 0 ? (
          <Empty>{key ? "No subscription matches these filters." : "No subscriptions yet."}</Empty>
        ) : (
          <div className="table-wrap">
            <table data-testid="subscriptions">
              <caption>Subscriptions, newest first (at most 100)</caption>
              <thead>
                <tr>
                  <th scope="col">Organization</th>
                  <th scope="col">Plan</th>
                  <th scope="col">Status</th>
                  <th scope="col">Period ends</th>
                  <th scope="col">Created</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {subs.data.data.map((s) => (
                  <tr key={s.id}>
                    <th scope="row"><code>{s.org_id}</code></th>
                    <td>{s.plan_name ?? s.plan_id}</td>
                    <td>
                      <span className={`badge badge-${s.status === "active" ? "active" : s.status === "canceled" ? "revoked" : "expired"}`}>{s.status}</span>
                      {s.cancel_at_period_end && <div className="muted">cancels at period end</div>}
                    </td>
                    <td>{formatDate(s.billing?.current_period_end)}</td>
                    <td>{formatDate(s.created_at)}</td>
                    <td>
                      {s.status === "canceled" ? (
                        <span className="muted">canceled {formatDate(s.canceled_at)}</span>
                      ) : (
                        <>
                          {plans.status === "ok" && (
                            <ChangePlan
                              sub={s}
                              plans={planList}
                              disabled={busy}
                              onChange={(planId) =>
                                act(
                                  async () => unwrap(await api.PUT("/api/admin/subscriptions/{id}", { params: { path: { id: s.id } }, body: { plan_id: planId } })),
                                  `${s.org_id} is now on ${planList.find((p) => p.id === planId)?.name ?? planId}.`,
                                )
                              }
                            />
                          )}
                          <button
                            type="button"
                            disabled={busy}
                            onClick={() =>
                              window.confirm(`Cancel the subscription of ${s.org_id} now? The gateway then refuses its keys.`) &&
                              act(async () => unwrap(await api.POST("/api/admin/subscriptions/{id}/cancel", { params: { path: { id: s.id } } })), `The subscription of ${s.org_id} is canceled.`)
                            }
                          >
                            Cancel now<span className="visually-hidden"> for {s.org_id}</span>
                          </button>
                        </>
                      )}
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

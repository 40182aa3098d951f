import { useEffect, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { api, unwrap } from "../api/client";
import { ProgressBar } from "../components/ProgressBar";
import { Empty, ErrorState, FormError, Loading } from "../components/States";
import { formatDate, formatMoney, formatNumber, formatPriceDifference } from "../lib/format";
import { useAction } from "../lib/useAction";
import { useAsync } from "../lib/useAsync";
import { useSession } from "../lib/useSession";
import { PlanCard, type Plan } from "./Pricing";

/** The organization's cards: add one on the provider's hosted page, choose the default, remove. */
function PaymentMethods() {
  const { orgId } = useSession();
  const methods = useAsync(async () => unwrap(await api.GET("/api/user/billing/payment-methods")), [orgId]);
  const action = useAction();
  const { busy, error } = action;
  const [notice, setNotice] = useState<string | null>(null);
  async function run(what: () => Promise<string | null>) {
    setNotice(null);
    await action.run(async () => {
      const message = await what();
      if (message) {
        setNotice(message);
        methods.reload();
      }
    });
  }
  const label = (m: { brand?: string | null; kind: string; last4?: string | null }) => `${m.brand ?? m.kind} ending ${m.last4 ?? "????"}`;
  return (
    <section aria-labelledby="payment-methods">
      <h2 id="payment-methods">Payment methods</h2>
      {methods.status === "loading" && <Loading label="Loading the payment methods" />}
      {methods.status === "error" && <ErrorState error={methods.error} onRetry={methods.reload} />}
      {methods.status === "ok" &&
        (methods.data.data.length === 0 ? (
          <Empty>No payment method on file.</Empty>
        ) : (
          <ul className="org-list" data-testid="payment-methods">
            {methods.data.data.map((m) => (
              <li key={m.id}>
                <strong>{label(m)}</strong>
                {m.exp_month != null && m.exp_year != null && <> · expires {String(m.exp_month).padStart(2, "0")}/{m.exp_year}</>}{" "}
                {m.is_default ? (
                  <span className="badge">default</span>
                ) : (
                  <>
                    <button
                      type="button"
                      disabled={busy}
                      onClick={() => run(async () => { unwrap(await api.POST("/api/user/billing/payment-methods/{id}/default", { params: { path: { id: m.id } } })); return `${label(m)} is now the default.`; })}
                    >
                      Make default<span className="visually-hidden"> {label(m)}</span>
                    </button>{" "}
                    <button
                      type="button"
                      className="danger"
                      disabled={busy}
                      onClick={() =>
                        window.confirm(`Remove the ${label(m)}?`) &&
                        run(async () => { unwrap(await api.DELETE("/api/user/billing/payment-methods/{id}", { params: { path: { id: m.id } } })); return `${label(m)} is removed.`; })
                      }
                    >
                      Remove<span className="visually-hidden"> {label(m)}</span>
                    </button>
                  </>
                )}
              </li>
            ))}
          </ul>
        ))}
      <p>
        <button
          type="button"
          disabled={busy}
          onClick={() =>
            run(async () => {
              // The provider's hosted page takes the card; it sends the browser back here.
              const link = unwrap(await api.POST("/api/user/billing/payment-methods"));
              window.location.assign(link.checkout_url);
              return null;
            })
          }
        >
          Add a payment method
        </button>
      </p>
      <p role="status">{notice ?? ""}</p>
      <FormError error={error} />
    </section>
  );
}

/**
 * An invoice's PDF: the server answers its URL (JSON) for the access token the client sends;
 * it opens in a new tab, or as a link when the browser blocks the tab.
 */
function DownloadInvoice({ id, label }: { id: string; label: string }) {
  const { busy, error, run } = useAction();
  const [url, setUrl] = useState<string | null>(null);
  async function download() {
    await run(async () => {
      const link = unwrap(await api.POST("/api/user/billing/download-invoice/{id}", { params: { path: { id } } }));
      const tab = window.open(link.url, "_blank");
      if (tab) tab.opener = null;
      else setUrl(link.url);
    });
  }
  return (
    <>
      {url ? (
        <a href={url} target="_blank" rel="noreferrer noopener">
          Open the PDF<span className="visually-hidden"> of invoice {label}</span>
        </a>
      ) : (
        <button type="button" disabled={busy} onClick={download}>
          Download<span className="visually-hidden"> invoice {label}</span>
        </button>
      )}
      <FormError error={error} />
    </>
  );
}

function Invoices() {
  const { orgId } = useSession();
  const invoices = useAsync(async () => unwrap(await api.GET("/api/user/billing/invoices", { params: { query: { limit: 24 } } })), [orgId]);
  return (
    <section aria-labelledby="invoices">
      <h2 id="invoices">Invoices</h2>
      {invoices.status === "loading" && <Loading label="Loading the invoices" />}
      {invoices.status === "error" && <ErrorState error={invoices.error} onRetry={invoices.reload} />}
      {invoices.status === "ok" &&
        (invoices.data.data.length === 0 ? (
          <Empty>No invoices yet.</Empty>
        ) : (
          <div className="table-wrap">
            <table>
              <caption>Your invoices, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Number</th>
                  <th scope="col">Period</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="num">Amount</th>
                  <th scope="col">Invoice</th>
                  <th scope="col">PDF</th>
                </tr>
              </thead>
              <tbody>
                {invoices.data.data.map((inv) => (
                  <tr key={inv.id}>
                    <th scope="row">{inv.number ?? inv.id}</th>
                    <td>
                      {formatDate(inv.period_start)} to {formatDate(inv.period_end)}
                    </td>
                    <td>
                      <span className={`badge badge-${inv.status}`}>{inv.status}</span>
                    </td>
                    <td className="num">{formatMoney(inv.status === "paid" ? inv.amount_paid : inv.amount_due, inv.currency)}</td>
                    <td>
                      {inv.hosted_invoice_url ? (
                        <a href={inv.hosted_invoice_url} target="_blank" rel="noreferrer noopener">
                          View<span className="visually-hidden"> invoice {inv.number ?? inv.id}</span>
                        </a>
                      ) : (
                        "-"
                      )}
                    </td>
                    <td>
                      <DownloadInvoice id={inv.id} label={inv.number ?? inv.id} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
    </section>
  );
}

export function BillingPage() {
  const { orgId } = useSession();
  const [params] = useSearchParams();
  const checkout = params.get("checkout");
  const details = useAsync(async () => {
    const [sub, plans] = await Promise.all([api.GET("/api/user/subscription").then(unwrap), api.GET("/api/plans").then(unwrap)]);
    return { sub, plans: plans.data };
  }, [orgId]);
  const action = useAction();
  const { busy, error } = action;
  const [notice, setNotice] = useState<string | null>(null);

  // Back from Checkout: the plan changes when the payment provider's webhook arrives.
  const [polls, setPolls] = useState(0);
  const reload = details.reload;
  useEffect(() => {
    if (checkout !== "success" || polls >= 8) return;
    const t = setTimeout(() => {
      setPolls((n) => n + 1);
      reload();
    }, 1500);
    return () => clearTimeout(t);
  }, [checkout, polls, reload]);

  async function run(what: () => Promise<void>) {
    setNotice(null);
    await action.run(what);
  }

  function changePlan(current: Plan, target: Plan) {
    return run(async () => {
      if (target.price > current.price) {
        const answer = unwrap(await api.POST("/api/user/subscription/upgrade", { body: { plan_id: target.id } }));
        if (answer.checkout_url) {
          window.location.assign(answer.checkout_url);
          return;
        }
        setNotice(`You are now on ${target.name}.`);
      } else {
        unwrap(await api.POST("/api/user/subscription/downgrade", { body: { plan_id: target.id } }));
        setNotice(`Your plan changes to ${target.name}.`);
      }
      details.reload();
    });
  }

  return (
    <>
      <h1>Billing</h1>
      {checkout === "success" && <p className="banner" role="status">Payment received. Your new plan applies as soon as the payment provider confirms it.</p>}
      {checkout === "canceled" && <p className="banner" role="status">Checkout was canceled: nothing changed.</p>}
      {details.status === "loading" && <Loading label="Loading your subscription" />}
      {details.status === "error" && <ErrorState error={details.error} onRetry={details.reload} />}
      {details.status === "ok" && (() => {
        const { sub, plans } = details.data;
        const current = sub.plan;
        const limit = sub.usage.limit ?? null;
        return (
          <>
            <section className="card" aria-labelledby="current-plan">
              <h2 id="current-plan">
                Current plan: <span data-testid="current-plan">{current.name}</span>
              </h2>
              <p>
                Status <span className={`badge badge-${sub.subscription.status}`}>{sub.subscription.status}</span>
                {sub.subscription.cancel_at_period_end && <> · ends on {formatDate(sub.period.end)}</>}
              </p>
              <p>
                {formatNumber(sub.usage.used)} calls used{limit != null && <> of <span data-testid="quota">{formatNumber(limit)}</span></>} this period ·
                projected cost {formatMoney(sub.usage.projected_cost, sub.usage.currency)}
              </p>
              {limit != null && <ProgressBar value={sub.usage.used} max={limit} label="Quota used" />}
              {sub.next_invoice && <p className="muted">Next invoice: {formatMoney(sub.next_invoice.amount_due, sub.next_invoice.currency)}</p>}
              {current.price > 0 &&
                (sub.subscription.cancel_at_period_end ? (
                  <button type="button" disabled={busy} onClick={() => run(async () => { unwrap(await api.POST("/api/user/subscription/resume")); setNotice("Your subscription continues."); details.reload(); })}>
                    Resume subscription
                  </button>
                ) : (
                  <button
                    type="button"
                    className="danger"
                    disabled={busy}
                    onClick={() =>
                      window.confirm("Cancel at the end of the period? You keep the plan until then.") &&
                      run(async () => { unwrap(await api.POST("/api/user/subscription/cancel")); setNotice("Your subscription ends at the end of the period."); details.reload(); })
                    }
                  >
                    Cancel subscription
                  </button>
                ))}
              {notice && <p role="status">{notice}</p>}
              <FormError error={error} />
            </section>
            <section aria-labelledby="change-plan">
              <h2 id="change-plan">Change plan</h2>
              <div className="grid plans">
                {plans
                  .filter((p) => p.status === "active" || p.id === current.id)
                  .map((p) => (
                    <PlanCard
                      key={p.id}
                      plan={p}
                      action={
                        p.id === current.id ? (
                          <p className="muted">Your plan</p>
                        ) : (
                          <>
                            {(() => {
                              const diff = formatPriceDifference(p, current);
                              return diff && <p className="price-diff" data-testid={`price-diff-${p.name}`}>{diff} against {current.name}</p>;
                            })()}
                            <button type="button" className="primary" disabled={busy} onClick={() => changePlan(current, p)}>
                              {p.price > current.price ? "Upgrade" : "Switch"} to {p.name}
                            </button>
                          </>
                        )
                      }
                    />
                  ))}
              </div>
            </section>
            <PaymentMethods />
            <Invoices />
          </>
        );
      })()}
    </>
  );
}

// The platform's usage and customers over whole UTC days: calls per day, error rate,
// latency percentiles, the busiest endpoints, signups and active organizations per day, and
// the top customers by calls and by revenue (per currency).
import { useId, useMemo, useState, type FormEvent } from "react";
import { useSearchParams } from "react-router-dom";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { LazyTimeChart } from "../charts/LazyChart";
import { Empty, ErrorState, Loading } from "../components/States";
import { formatMoney, formatNumber, formatPercent } from "../lib/format";
import { useAsync } from "../lib/useAsync";
import { EndpointTable } from "../pages/Overview";

type TimeseriesPoint = components["schemas"]["TimeseriesPoint"];

const DAY_MS = 86_400_000;
const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/** `YYYY-MM-DD` (UTC) of a date. */
export function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** The default range: the last 30 days, today included. */
export function defaultRange(now = new Date()): { from: string; to: string } {
  return { from: isoDay(new Date(now.getTime() - 29 * DAY_MS)), to: isoDay(now) };
}

/** The problem with a range, or null: both days `YYYY-MM-DD`, from <= to, at most 400 days. */
export function rangeError(from: string, to: string): string | null {
  if (!DAY_RE.test(from) || Number.isNaN(Date.parse(from))) return "Enter the first day as YYYY-MM-DD.";
  if (!DAY_RE.test(to) || Number.isNaN(Date.parse(to))) return "Enter the last day as YYYY-MM-DD.";
  if (from > to) return "The first day must not be after the last day.";
  if ((Date.parse(to) - Date.parse(from)) / DAY_MS + 1 > 400) return "At most 400 days.";
  return null;
}

/** Sums the buckets (hours up to 31 days) into UTC days, oldest first. */
export function perDay(points: TimeseriesPoint[]): { day: string; calls: number; errors: number }[] {
  const days = new Map<string, { day: string; calls: number; errors: number }>();
  for (const p of points) {
    const day = p.bucket_start.slice(0, 10);
    const d = days.get(day) ?? { day, calls: 0, errors: 0 };
    d.calls += p.count;
    d.errors += p.errors;
    days.set(day, d);
  }
  return [...days.values()].sort((a, b) => a.day.localeCompare(b.day));
}

const daySeconds = (day: string) => Date.parse(`${day}T00:00:00Z`) / 1000;
const ms = (v: number | null | undefined) => (v == null ? "-" : `${v} ms`);

function Customer({ name, email, id }: { name?: string | null; email?: string | null; id: string }) {
  return (
    <>
      {name ?? <span className="muted">(deleted)</span>}
      {email && <div className="muted">{email}</div>}
      <div className="muted"><code>{id}</code></div>
    </>
  );
}

export function AnalyticsPage() {
  const [params, setParams] = useSearchParams();
  const fallback = useMemo(() => defaultRange(), []);
  const from = params.get("from") ?? fallback.from;
  const to = params.get("to") ?? fallback.to;
  const [draft, setDraft] = useState({ from, to });
  const [invalid, setInvalid] = useState<string | null>(null);
  const fromId = useId();
  const toId = useId();
  const errorId = useId();

  const data = useAsync(async () => {
    const query = { from, to };
    const [usage, users, customers] = await Promise.all([
      api.GET("/api/admin/analytics/usage", { params: { query } }).then(unwrap),
      api.GET("/api/admin/analytics/users", { params: { query } }).then(unwrap),
      api.GET("/api/admin/analytics/top-customers", { params: { query } }).then(unwrap),
    ]);
    return { usage, users, customers };
  }, [from, to]);

  const charts = useMemo(() => {
    if (data.status !== "ok") return null;
    const days = perDay(data.data.usage.timeseries);
    const userDays = data.data.users.days;
    return {
      calls: {
        times: days.map((d) => daySeconds(d.day)),
        series: [
          { label: "Calls", values: days.map((d) => d.calls), color: "#1f5fbf" },
          { label: "Errors", values: days.map((d) => d.errors), color: "#b3261e" },
        ],
      },
      users: {
        times: userDays.map((d) => daySeconds(d.day)),
        series: [
          { label: "Signups", values: userDays.map((d) => d.signups), color: "#1f7a3a" },
          { label: "Active organizations", values: userDays.map((d) => d.active_organizations), color: "#7a4cc2" },
        ],
      },
    };
  }, [data]);

  function apply(e: FormEvent) {
    e.preventDefault();
    const problem = rangeError(draft.from, draft.to);
    setInvalid(problem);
    if (problem) return;
    setParams({ from: draft.from, to: draft.to });
  }

  return (
    <>
      <h1>Usage and customers</h1>
      <form className="inline-form" onSubmit={apply} noValidate aria-label="Range of days">
        <div className="field">
          <label htmlFor={fromId}>First day (UTC)</label>
          <input
            id={fromId}
            type="date"
            value={draft.from}
            max={draft.to || undefined}
            aria-invalid={invalid ? true : undefined}
            aria-describedby={invalid ? errorId : undefined}
            onChange={(e) => setDraft((d) => ({ ...d, from: e.target.value }))}
          />
        </div>
        <div className="field">
          <label htmlFor={toId}>Last day (UTC)</label>
          <input
            id={toId}
            type="date"
            value={draft.to}
            min={draft.from || undefined}
            aria-invalid={invalid ? true : undefined}
            aria-describedby={invalid ? errorId : undefined}
            onChange={(e) => setDraft((d) => ({ ...d, to: e.target.value }))}
          />
        </div>
        <button type="submit">Show</button>
        {invalid && (
          <p id={errorId} className="form-error" role="alert">
            {invalid}
          </p>
        )}
      </form>
      {data.status === "loading" && <Loading label="Loading the analytics" />}
      {data.status === "error" && <ErrorState error={data.error} onRetry={data.reload} />}
      {data.status === "ok" && charts && (() => {
        const { usage, users, customers } = data.data;
        return (
          <>
            <section className="grid stats" aria-label={`From ${from} to ${to}`}>
              <div className="card stat">
                <h2>Calls</h2>
                <p className="figure" data-testid="admin-calls">{formatNumber(usage.calls)}</p>
                <p className="muted">{formatNumber(usage.cost_units)} cost units</p>
              </div>
              <div className="card stat">
                <h2>Error rate</h2>
                <p className="figure">{formatPercent(usage.error_rate)}</p>
                <p className="muted">
                  4xx {formatPercent(usage.error_rate_4xx)} · 5xx {formatPercent(usage.error_rate_5xx)}
                </p>
              </div>
              <div className="card stat">
                <h2>Latency</h2>
                <p className="figure">{ms(usage.p95_ms)}</p>
                <p className="muted">
                  p50 {ms(usage.p50_ms)} · p95 {ms(usage.p95_ms)} · p99 {ms(usage.p99_ms)}
                </p>
              </div>
              <div className="card stat">
                <h2>Signups</h2>
                <p className="figure" data-testid="admin-signups">{formatNumber(users.signups)}</p>
                <p className="muted">new users in the range</p>
              </div>
            </section>

            <section aria-labelledby="calls-per-day">
              <h2 id="calls-per-day">Calls per day</h2>
              {usage.calls === 0 ? (
                <Empty>No calls in this range.</Empty>
              ) : (
                <LazyTimeChart
                  times={charts.calls.times}
                  series={charts.calls.series}
                  label={`Calls per day: ${usage.calls} calls over ${charts.calls.times.length} days`}
                />
              )}
            </section>

            <section aria-labelledby="users-per-day">
              <h2 id="users-per-day">Signups and active organizations per day</h2>
              {users.days.every((d) => d.signups === 0 && d.active_organizations === 0) ? (
                <Empty>No signups and no active organizations in this range.</Empty>
              ) : (
                <LazyTimeChart
                  times={charts.users.times}
                  series={charts.users.series}
                  label={`Signups and active organizations per day: ${users.signups} signups over ${users.days.length} days`}
                />
              )}
            </section>

            <section aria-labelledby="top-endpoints">
              <h2 id="top-endpoints">Top endpoints</h2>
              {usage.top_endpoints.length === 0 ? (
                <Empty>No calls to any endpoint in this range.</Empty>
              ) : (
                <EndpointTable rows={usage.top_endpoints} caption="The busiest endpoints, busiest first" />
              )}
            </section>

            <section aria-labelledby="top-by-calls">
              <h2 id="top-by-calls">Top customers by calls</h2>
              {customers.by_calls.length === 0 ? (
                <Empty>No customer made a call in this range.</Empty>
              ) : (
                <div className="table-wrap">
                  <table data-testid="top-by-calls">
                    <caption>Organizations with the most calls</caption>
                    <thead>
                      <tr>
                        <th scope="col">Organization</th>
                        <th scope="col" className="num">Calls</th>
                        <th scope="col" className="num">Cost units</th>
                      </tr>
                    </thead>
                    <tbody>
                      {customers.by_calls.map((c) => (
                        <tr key={c.org_id}>
                          <th scope="row"><Customer name={c.name} email={c.owner_email} id={c.org_id} /></th>
                          <td className="num">{formatNumber(c.calls)}</td>
                          <td className="num">{formatNumber(c.cost_units)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
            </section>

            <section aria-labelledby="top-by-revenue">
              <h2 id="top-by-revenue">Top customers by revenue</h2>
              {customers.by_revenue.length === 0 ? (
                <Empty>No revenue collected in this range.</Empty>
              ) : (
                customers.by_revenue.map((r) => (
                  <div key={r.currency} className="table-wrap">
                    <table>
                      <caption>Revenue collected in {r.currency.toUpperCase()}</caption>
                      <thead>
                        <tr>
                          <th scope="col">Organization</th>
                          <th scope="col" className="num">Collected</th>
                          <th scope="col" className="num">Invoices paid</th>
                        </tr>
                      </thead>
                      <tbody>
                        {r.customers.map((c) => (
                          <tr key={c.org_id}>
                            <th scope="row"><Customer name={c.name} email={c.owner_email} id={c.org_id} /></th>
                            <td className="num">{formatMoney(c.amount, r.currency)}</td>
                            <td className="num">{formatNumber(c.invoices)}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </div>
                ))
              )}
            </section>
          </>
        );
      })()}
    </>
  );
}

import { useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { api, errorMessage, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { LazyTimeChart } from "../charts/LazyChart";
import { ProgressBar } from "../components/ProgressBar";
import { Empty, ErrorState, Loading } from "../components/States";
import { daysLeft, formatDate, formatNumber, formatPercent } from "../lib/format";
import { useAsync } from "../lib/useAsync";
import { useSession } from "../lib/useSession";

type EndpointUsage = components["schemas"]["EndpointUsage"];
type TimeseriesPoint = components["schemas"]["TimeseriesPoint"];

function VerifyBanner() {
  const [state, setState] = useState<"idle" | "sent" | string>("idle");
  async function resend() {
    try {
      unwrap(await api.POST("/api/user/auth/resend-verification"));
      setState("sent");
    } catch (e) {
      setState(errorMessage(e));
    }
  }
  return (
    <div className="banner" role="region" aria-label="Email verification">
      <p>Your email address is not verified yet: open the link we mailed you.</p>
      <button type="button" onClick={resend}>
        Send the link again
      </button>
      <span role="status">{state === "idle" ? "" : state === "sent" ? "Sent." : state}</span>
    </div>
  );
}

export function EndpointTable({ rows, caption }: { rows: EndpointUsage[]; caption: string }) {
  return (
    <div className="table-wrap">
      <table>
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Endpoint</th>
            <th scope="col" className="num">Calls</th>
            <th scope="col" className="num">Error rate</th>
            <th scope="col" className="num">p50</th>
            <th scope="col" className="num">p95</th>
            <th scope="col" className="num">p99</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.endpoint_id}>
              <th scope="row">{r.name ?? `${r.method ?? ""} ${r.path ?? r.endpoint_id}`}</th>
              <td className="num">{formatNumber(r.count)}</td>
              <td className="num">{formatPercent(r.error_rate)}</td>
              <td className="num">{r.p50_ms == null ? "-" : `${r.p50_ms} ms`}</td>
              <td className="num">{r.p95_ms == null ? "-" : `${r.p95_ms} ms`}</td>
              <td className="num">{r.p99_ms == null ? "-" : `${r.p99_ms} ms`}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function CallsChart({ points, label }: { points: TimeseriesPoint[]; label: string }) {
  const data = useMemo(
    () => ({
      times: points.map((p) => new Date(p.bucket_start).getTime() / 1000),
      series: [
        { label: "Calls", values: points.map((p) => p.count), color: "#1f5fbf" },
        { label: "Errors", values: points.map((p) => p.errors), color: "#b3261e" },
      ],
    }),
    [points],
  );
  const total = points.reduce((n, p) => n + p.count, 0);
  return <LazyTimeChart times={data.times} series={data.series} label={`${label}: ${total} calls in ${points.length} buckets`} />;
}

export function OverviewPage() {
  const { user, orgId } = useSession();
  const overview = useAsync(async () => {
    const summary = unwrap(await api.GET("/api/user/usage/summary"));
    const analytics = unwrap(
      await api.GET("/api/user/usage/analytics", {
        params: { query: { from: summary.period.start, to: new Date().toISOString(), top: 5 } },
      }),
    );
    return { summary, analytics };
  }, [orgId]);

  return (
    <>
      <h1>Overview</h1>
      {user && !user.email_verified && <VerifyBanner />}
      {overview.status === "loading" && <Loading label="Loading your usage" />}
      {overview.status === "error" && <ErrorState error={overview.error} onRetry={overview.reload} />}
      {overview.status === "ok" && (() => {
        const { summary, analytics } = overview.data;
        const limit = summary.limit ?? null;
        return (
          <>
            <section className="grid stats" aria-label="This period">
              <div className="card stat">
                <h2>Calls this period</h2>
                <p className="figure" data-testid="calls-used">
                  {formatNumber(summary.used)}
                  {limit != null && <span className="of"> of {formatNumber(limit)}</span>}
                </p>
                {limit != null ? (
                  <ProgressBar value={summary.used} max={limit} label="Quota used" />
                ) : (
                  <p>Unlimited on {summary.plan_name}.</p>
                )}
                <p className="muted">
                  Plan <strong data-testid="plan-name">{summary.plan_name}</strong> ·{" "}
                  {summary.percent == null ? "no quota" : `${summary.percent.toFixed(1)} % used`}
                </p>
              </div>
              <div className="card stat">
                <h2>Days left</h2>
                <p className="figure">{daysLeft(summary.period.end)}</p>
                <p className="muted">Period {formatDate(summary.period.start)} to {formatDate(summary.period.end)} (UTC)</p>
              </div>
              <div className="card stat">
                <h2>Error rate</h2>
                <p className="figure">{formatPercent(analytics.error_rate)}</p>
                <p className="muted">
                  {formatNumber(analytics.status_4xx)} client and {formatNumber(analytics.status_5xx)} server errors
                </p>
              </div>
              <div className="card stat">
                <h2>Latency p95</h2>
                <p className="figure">{analytics.p95_ms == null ? "-" : `${analytics.p95_ms} ms`}</p>
                <p className="muted">
                  average <span data-testid="avg-latency">{analytics.avg_latency_ms == null ? "-" : `${analytics.avg_latency_ms.toFixed(1)} ms`}</span> · p50{" "}
                  {analytics.p50_ms ?? "-"} ms · p99 {analytics.p99_ms ?? "-"} ms
                </p>
              </div>
            </section>
            <section aria-labelledby="usage-chart">
              <h2 id="usage-chart">Calls this period</h2>
              {analytics.calls === 0 ? (
                <Empty>
                  No calls yet this period. <Link to="/keys">Create an API key</Link> and call the API with it.
                </Empty>
              ) : (
                <CallsChart points={analytics.timeseries} label="Calls this period" />
              )}
            </section>
            <section aria-labelledby="top-endpoints">
              <h2 id="top-endpoints">Top endpoints</h2>
              {analytics.top_endpoints.length === 0 ? (
                <Empty>No endpoint has been called this period.</Empty>
              ) : (
                <EndpointTable rows={analytics.top_endpoints} caption="The busiest endpoints this period" />
              )}
            </section>
          </>
        );
      })()}
    </>
  );
}

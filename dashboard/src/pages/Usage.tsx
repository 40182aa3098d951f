import { useId, useMemo, useState } from "react";
import { api, unwrap } from "../api/client";
import { Empty, ErrorState, Loading } from "../components/States";
import { formatDateTime } from "../lib/format";
import { useAsync } from "../lib/useAsync";
import { useSession } from "../lib/useSession";
import { CallsChart, EndpointTable } from "./Overview";

const RANGES = {
  "24h": { label: "Last 24 hours", hours: 24, granularity: "hour" },
  "7d": { label: "Last 7 days", hours: 24 * 7, granularity: "hour" },
  "30d": { label: "Last 30 days", hours: 24 * 30, granularity: "day" },
} as const;
type Range = keyof typeof RANGES;

const PAGE_SIZE = 20;

function UsageLog({ from, to }: { from: string; to: string }) {
  const { orgId } = useSession();
  // The cursors of the pages seen so far: [undefined] is the first page.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const page = useAsync(
    async () =>
      unwrap(
        await api.GET("/api/user/usage/detailed", {
          params: { query: { from, to, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
        }),
      ),
    [from, to, cursor, orgId],
  );
  return (
    <section aria-labelledby="usage-log">
      <h2 id="usage-log">Calls</h2>
      {page.status === "loading" && <Loading label="Loading the calls" />}
      {page.status === "error" && <ErrorState error={page.error} onRetry={page.reload} />}
      {page.status === "ok" &&
        (page.data.data.length === 0 ? (
          <Empty>No calls in this range.</Empty>
        ) : (
          <>
            <div className="table-wrap">
              <table data-testid="usage-log">
                <caption>
                  Calls, newest first (page {cursors.length})
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">Method</th>
                    <th scope="col">Path</th>
                    <th scope="col" className="num">Status</th>
                    <th scope="col" className="num">Latency</th>
                    <th scope="col" className="num">Cost</th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.data.map((e) => (
                    <tr key={e.id}>
                      <td>{formatDateTime(e.timestamp)}</td>
                      <td>{e.method}</td>
                      <td className="path">{e.path}</td>
                      <td className="num">{e.status}</td>
                      <td className="num">{e.latency_ms} ms</td>
                      <td className="num">{e.cost_units}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <nav className="pager" aria-label="Pages of calls">
              <button type="button" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
                Previous page
              </button>
              <button
                type="button"
                disabled={!page.data.next_cursor}
                onClick={() => page.data.next_cursor && setCursors((c) => [...c, page.data.next_cursor ?? undefined])}
              >
                Next page
              </button>
            </nav>
          </>
        ))}
    </section>
  );
}

export function UsagePage() {
  const { orgId } = useSession();
  const [range, setRange] = useState<Range>("24h");
  const selectId = useId();
  // The range is fixed when chosen (so the log's pages stay on one window).
  const span = useMemo(() => {
    const to = new Date();
    const from = new Date(to.getTime() - RANGES[range].hours * 3_600_000);
    return { from: from.toISOString(), to: to.toISOString() };
  }, [range]);
  const data = useAsync(async () => {
    const query = { from: span.from, to: span.to };
    const [series, endpoints] = await Promise.all([
      api.GET("/api/user/usage/timeseries", { params: { query: { ...query, granularity: RANGES[range].granularity } } }).then(unwrap),
      api.GET("/api/user/usage/by-endpoint", { params: { query } }).then(unwrap),
    ]);
    return { series, endpoints };
  }, [span, orgId]);

  return (
    <>
      <h1>Usage</h1>
      <div className="toolbar">
        <label htmlFor={selectId}>Range</label>
        <select id={selectId} value={range} onChange={(e) => setRange(e.target.value as Range)}>
          {Object.entries(RANGES).map(([k, r]) => (
            <option key={k} value={k}>
              {r.label}
            </option>
          ))}
        </select>
      </div>
      {data.status === "loading" && <Loading label="Loading the usage" />}
      {data.status === "error" && <ErrorState error={data.error} onRetry={data.reload} />}
      {data.status === "ok" && (
        <>
          <section aria-labelledby="calls-over-time">
            <h2 id="calls-over-time">Calls over time</h2>
            {data.data.series.data.every((p) => p.count === 0) ? (
              <Empty>No calls in this range.</Empty>
            ) : (
              <CallsChart points={data.data.series.data} label={`Calls, ${RANGES[range].label.toLowerCase()}`} />
            )}
          </section>
          <section aria-labelledby="by-endpoint">
            <h2 id="by-endpoint">By endpoint</h2>
            {data.data.endpoints.data.length === 0 ? (
              <Empty>No endpoint was called in this range.</Empty>
            ) : (
              <EndpointTable rows={data.data.endpoints.data} caption="Calls and latency by endpoint" />
            )}
          </section>
        </>
      )}
      <UsageLog key={`${span.from}-${orgId ?? ""}`} from={span.from} to={span.to} />
    </>
  );
}

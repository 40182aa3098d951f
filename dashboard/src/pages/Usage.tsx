import { useId, useMemo, useState, type FormEvent } from "react";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
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

type EndpointUsage = components["schemas"]["EndpointUsage"];

/** The call log's filters, sent as the log route's query parameters. */
export interface LogFilters {
  status?: number;
  endpoint_id?: string;
  key_id?: string;
}

/** A status code filter: empty (any), or 100 to 599. */
export function parseStatus(value: string): { status?: number; error?: string } {
  const v = value.trim();
  if (!v) return {};
  const n = Number(v);
  if (!/^\d{3}$/.test(v) || n < 100 || n > 599) return { error: "Enter an HTTP status code, 100 to 599." };
  return { status: n };
}

function LogFilterForm({ endpoints, onApply }: { endpoints: EndpointUsage[]; onApply: (f: LogFilters) => void }) {
  const { orgId } = useSession();
  const keys = useAsync(async () => unwrap(await api.GET("/api/user/api-keys")), [orgId]);
  const [status, setStatus] = useState("");
  const [endpoint, setEndpoint] = useState("");
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | undefined>();
  const ids = { status: useId(), endpoint: useId(), key: useId() };
  function submit(e: FormEvent) {
    e.preventDefault();
    const parsed = parseStatus(status);
    setError(parsed.error);
    if (parsed.error) return;
    onApply({
      ...(parsed.status != null ? { status: parsed.status } : {}),
      ...(endpoint ? { endpoint_id: endpoint } : {}),
      ...(key ? { key_id: key } : {}),
    });
  }
  function clear() {
    setStatus("");
    setEndpoint("");
    setKey("");
    setError(undefined);
    onApply({});
  }
  return (
    <form className="inline-form" onSubmit={submit} noValidate aria-label="Filter the calls">
      <div className="field">
        <label htmlFor={ids.status}>Status code</label>
        <input
          id={ids.status}
          inputMode="numeric"
          value={status}
          placeholder="any"
          onChange={(e) => setStatus(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${ids.status}-error` : undefined}
        />
        {error && (
          <small id={`${ids.status}-error`} className="field-error">
            {error}
          </small>
        )}
      </div>
      <div className="field">
        <label htmlFor={ids.endpoint}>Endpoint</label>
        <select id={ids.endpoint} value={endpoint} onChange={(e) => setEndpoint(e.target.value)}>
          <option value="">Any endpoint</option>
          {endpoints.map((ep) => (
            <option key={ep.endpoint_id} value={ep.endpoint_id}>
              {ep.name ?? `${ep.method ?? ""} ${ep.path ?? ep.endpoint_id}`}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor={ids.key}>API key</label>
        <select id={ids.key} value={key} onChange={(e) => setKey(e.target.value)}>
          <option value="">Any key</option>
          {keys.status === "ok" &&
            keys.data.data.map((k) => (
              <option key={k.id} value={k.id}>
                {k.name} ({k.prefix}…{k.last4})
              </option>
            ))}
        </select>
      </div>
      <button type="submit">Filter</button>
      <button type="button" onClick={clear}>
        Clear filters
      </button>
    </form>
  );
}

function UsageLog({ from, to, endpoints }: { from: string; to: string; endpoints: EndpointUsage[] }) {
  const { orgId } = useSession();
  // The cursors of the pages seen so far: [undefined] is the first page.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [filters, setFilters] = useState<LogFilters>({});
  const cursor = cursors[cursors.length - 1];
  const page = useAsync(
    async () =>
      unwrap(
        await api.GET("/api/user/usage/detailed", {
          params: { query: { from, to, limit: PAGE_SIZE, ...filters, ...(cursor ? { cursor } : {}) } },
        }),
      ),
    [from, to, cursor, filters, orgId],
  );
  const filtered = Object.keys(filters).length > 0;
  return (
    <section aria-labelledby="usage-log">
      <h2 id="usage-log">Calls</h2>
      <LogFilterForm
        endpoints={endpoints}
        onApply={(f) => {
          // New filters: back to the first page.
          setFilters(f);
          setCursors([undefined]);
        }}
      />
      {page.status === "loading" && <Loading label="Loading the calls" />}
      {page.status === "error" && <ErrorState error={page.error} onRetry={page.reload} />}
      {page.status === "ok" &&
        (page.data.data.length === 0 ? (
          <Empty>{filtered ? "No calls match these filters in this range." : "No calls in this range."}</Empty>
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
      <UsageLog
        key={`${span.from}-${orgId ?? ""}`}
        from={span.from}
        to={span.to}
        endpoints={data.status === "ok" ? data.data.endpoints.data : []}
      />
    </>
  );
}

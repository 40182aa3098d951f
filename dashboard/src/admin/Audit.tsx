import { useState, type FormEvent } from "react";
import { api, unwrap } from "../api/client";
import { Empty, ErrorState, Loading } from "../components/States";
import { formatDateTime } from "../lib/format";
import { useAsync } from "../lib/useAsync";

export function AuditPage() {
  const [action, setAction] = useState("");
  const [filter, setFilter] = useState("");
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const page = useAsync(
    async () =>
      unwrap(
        await api.GET("/api/admin/audit-logs", {
          params: { query: { limit: 50, ...(filter ? { action: filter } : {}), ...(cursor ? { cursor } : {}) } },
        }),
      ),
    [filter, cursor],
  );
  function apply(e: FormEvent) {
    e.preventDefault();
    setCursors([undefined]);
    setFilter(action.trim());
  }
  return (
    <>
      <h1>Audit log</h1>
      <form className="inline-form" onSubmit={apply}>
        <div className="field">
          <label htmlFor="audit-action">Action (exact, or a prefix like user.*)</label>
          <input id="audit-action" value={action} onChange={(e) => setAction(e.target.value)} />
        </div>
        <button type="submit">Filter</button>
      </form>
      {page.status === "loading" && <Loading label="Loading the audit log" />}
      {page.status === "error" && <ErrorState error={page.error} onRetry={page.reload} />}
      {page.status === "ok" &&
        (page.data.events.length === 0 ? (
          <Empty>No events{filter ? ` for "${filter}"` : ""}.</Empty>
        ) : (
          <>
            <div className="table-wrap">
              <table>
                <caption>Audit events, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">Action</th>
                    <th scope="col">Actor</th>
                    <th scope="col">Target</th>
                    <th scope="col">IP</th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.events.map((e) => (
                    <tr key={e.id}>
                      <td>{formatDateTime(e.at)}</td>
                      <th scope="row">{e.action}</th>
                      <td>{e.actor_id ?? "-"}</td>
                      <td>{e.target ?? "-"}</td>
                      <td>{e.ip ?? "-"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <nav className="pager" aria-label="Pages of events">
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
    </>
  );
}

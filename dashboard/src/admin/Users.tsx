import { useState, type FormEvent } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { api, unwrap } from "../api/client";
import { Empty, ErrorState, FormError, Loading } from "../components/States";
import { formatDate, formatDateTime, formatNumber } from "../lib/format";
import { useAction } from "../lib/useAction";
import { useAsync } from "../lib/useAsync";

export function UsersPage() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const [draft, setDraft] = useState(q);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const users = useAsync(
    async () =>
      unwrap(await api.GET("/api/admin/users", { params: { query: { limit: 25, ...(q ? { q } : {}), ...(cursor ? { cursor } : {}) } } })),
    [q, cursor],
  );
  function search(e: FormEvent) {
    e.preventDefault();
    setCursors([undefined]);
    setParams(draft.trim() ? { q: draft.trim() } : {});
  }
  return (
    <>
      <h1>Users</h1>
      <form role="search" onSubmit={search} className="inline-form">
        <div className="field">
          <label htmlFor="user-search">Search by email or name</label>
          <input id="user-search" type="search" value={draft} onChange={(e) => setDraft(e.target.value)} />
        </div>
        <button type="submit">Search</button>
      </form>
      {users.status === "loading" && <Loading label="Loading the users" />}
      {users.status === "error" && <ErrorState error={users.error} onRetry={users.reload} />}
      {users.status === "ok" &&
        (users.data.users.length === 0 ? (
          <Empty>{q ? `No user matches "${q}".` : "No users yet."}</Empty>
        ) : (
          <>
            <div className="table-wrap">
              <table>
                <caption>Users{q ? ` matching "${q}"` : ""}</caption>
                <thead>
                  <tr>
                    <th scope="col">Email</th>
                    <th scope="col">Name</th>
                    <th scope="col">Role</th>
                    <th scope="col">Status</th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {users.data.users.map((u) => (
                    <tr key={u.id}>
                      <th scope="row">
                        <Link to={`/admin/users/${u.id}`}>{u.email}</Link>
                      </th>
                      <td>
                        {u.first_name} {u.last_name}
                      </td>
                      <td>{u.role}</td>
                      <td>
                        <span className={`badge badge-${u.status}`}>{u.status}</span>
                      </td>
                      <td>{formatDate(u.created_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <nav className="pager" aria-label="Pages of users">
              <button type="button" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
                Previous page
              </button>
              <button
                type="button"
                disabled={!users.data.next_cursor}
                onClick={() => users.data.next_cursor && setCursors((c) => [...c, users.data.next_cursor ?? undefined])}
              >
                Next page
              </button>
            </nav>
          </>
        ))}
    </>
  );
}

export function UserDetailPage() {
  const { id = "" } = useParams();
  const detail = useAsync(async () => unwrap(await api.GET("/api/admin/users/{id}", { params: { path: { id } } })), [id]);
  const { busy, error, run } = useAction();
  async function setSuspended(suspend: boolean) {
    if (suspend && !window.confirm("Suspend this user? Their keys stop working within 5 seconds and they cannot log in.")) return;
    await run(async () => {
      if (suspend) unwrap(await api.POST("/api/admin/users/{id}/suspend", { params: { path: { id } }, body: null }));
      else unwrap(await api.POST("/api/admin/users/{id}/unsuspend", { params: { path: { id } } }));
      detail.reload();
    });
  }
  return (
    <>
      <p>
        <Link to="/admin">← All users</Link>
      </p>
      {detail.status === "loading" && <Loading label="Loading the user" />}
      {detail.status === "error" && <ErrorState error={detail.error} onRetry={detail.reload} />}
      {detail.status === "ok" && (() => {
        const d = detail.data;
        return (
          <>
            <h1>{d.user.email}</h1>
            <section className="card">
              <p>
                {d.user.first_name} {d.user.last_name} · {d.user.role} · status{" "}
                <span className={`badge badge-${d.user.status}`} data-testid="user-status">{d.user.status}</span> · created {formatDate(d.user.created_at)}
              </p>
              <p>
                Plan {d.plan.name} ({d.subscription.status}) · {formatNumber(d.usage.used)}
                {d.usage.limit != null ? ` of ${formatNumber(d.usage.limit)}` : ""} calls this period
              </p>
              {d.user.status === "active" && (
                <button type="button" className="danger" disabled={busy} onClick={() => setSuspended(true)}>
                  Suspend user
                </button>
              )}
              {d.user.status === "suspended" && (
                <button type="button" disabled={busy} onClick={() => setSuspended(false)}>
                  Unsuspend user
                </button>
              )}
              <FormError error={error} />
            </section>
            <h2>API keys</h2>
            {d.api_keys.length === 0 ? (
              <Empty>No keys.</Empty>
            ) : (
              <ul>
                {d.api_keys.map((k) => (
                  <li key={k.id}>
                    {k.name} <code>{k.prefix}…{k.last4}</code> {k.status}
                  </li>
                ))}
              </ul>
            )}
            <h2>Recent security events</h2>
            {d.security_events.length === 0 ? (
              <Empty>No events.</Empty>
            ) : (
              <ul>
                {d.security_events.map((e) => (
                  <li key={e.id}>
                    {formatDateTime(e.at)} {e.action} {e.ip ?? ""}
                  </li>
                ))}
              </ul>
            )}
          </>
        );
      })()}
    </>
  );
}

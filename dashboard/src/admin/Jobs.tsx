import { useState } from "react";
import { api, unwrap } from "../api/client";
import { Empty, ErrorState, FormError, Loading } from "../components/States";
import { formatDateTime } from "../lib/format";
import { useAsync } from "../lib/useAsync";

export function JobsPage() {
  const jobs = useAsync(async () => unwrap(await api.GET("/api/admin/jobs")), []);
  const [running, setRunning] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  async function run(name: string) {
    setRunning(name);
    setError(null);
    setDone(null);
    try {
      unwrap(await api.POST("/api/admin/jobs/{name}/run", { params: { path: { name } } }));
      setDone(`${name} ran.`);
      jobs.reload();
    } catch (e) {
      setError(e);
    } finally {
      setRunning(null);
    }
  }
  return (
    <>
      <h1>Scheduled jobs</h1>
      <p role="status">{done ?? ""}</p>
      <FormError error={error} />
      {jobs.status === "loading" && <Loading label="Loading the jobs" />}
      {jobs.status === "error" && <ErrorState error={jobs.error} onRetry={jobs.reload} />}
      {jobs.status === "ok" &&
        (jobs.data.data.length === 0 ? (
          <Empty>No jobs.</Empty>
        ) : (
          <div className="table-wrap">
            <table>
              <caption>Jobs and their latest runs</caption>
              <thead>
                <tr>
                  <th scope="col">Job</th>
                  <th scope="col">Schedule (UTC)</th>
                  <th scope="col">Next run</th>
                  <th scope="col">Last run</th>
                  <th scope="col">Run</th>
                </tr>
              </thead>
              <tbody>
                {jobs.data.data.map((j) => (
                  <tr key={j.name}>
                    <th scope="row">{j.name}</th>
                    <td><code>{j.schedule}</code></td>
                    <td>{formatDateTime(j.next_run_at)}</td>
                    <td>
                      {j.last_run ? (
                        <>
                          <span className={`badge badge-${j.last_run.status}`}>{j.last_run.status}</span> {formatDateTime(j.last_run.started_at)}
                          {j.last_run.error && <div className="field-error">{j.last_run.error}</div>}
                        </>
                      ) : (
                        "never"
                      )}
                    </td>
                    <td>
                      <button type="button" disabled={running !== null} onClick={() => run(j.name)}>
                        {running === j.name ? "Running…" : <>Run<span className="visually-hidden"> {j.name}</span> now</>}
                      </button>
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

import { useMemo } from "react";
import { api, unwrap } from "../api/client";
import { LazyTimeChart } from "../charts/LazyChart";
import { Empty, ErrorState, Loading } from "../components/States";
import { formatMoney, formatNumber, formatPercent } from "../lib/format";
import { useAsync } from "../lib/useAsync";

/** `YYYY-MM` to seconds since the epoch (the month's first day, UTC). */
function monthStart(month: string): number {
  return Date.parse(`${month}-01T00:00:00Z`) / 1000;
}

export function RevenuePage() {
  const data = useAsync(async () => {
    const [mrr, revenue] = await Promise.all([api.GET("/api/admin/analytics/mrr").then(unwrap), api.GET("/api/admin/analytics/revenue").then(unwrap)]);
    return { mrr, revenue };
  }, []);
  const charts = useMemo(() => {
    if (data.status !== "ok") return [];
    return data.data.mrr.data.map((s) => ({
      currency: s.currency,
      times: s.months.map((m) => monthStart(m.month)),
      series: [{ label: `MRR (${s.currency.toUpperCase()})`, values: s.months.map((m) => m.mrr_end / 100), color: "#1f5fbf" }],
    }));
  }, [data]);
  return (
    <>
      <h1>Revenue</h1>
      {data.status === "loading" && <Loading label="Loading the revenue" />}
      {data.status === "error" && <ErrorState error={data.error} onRetry={data.reload} />}
      {data.status === "ok" && (
        <>
          <section aria-labelledby="mrr">
            <h2 id="mrr">Monthly recurring revenue</h2>
            {data.data.mrr.data.length === 0 ? (
              <Empty>No paying customers yet.</Empty>
            ) : (
              data.data.mrr.data.map((s, i) => (
                <div key={s.currency} className="card">
                  <p>
                    MRR <strong>{formatMoney(s.mrr, s.currency)}</strong> · ARR {formatMoney(s.arr, s.currency)}
                  </p>
                  {charts[i] && <LazyTimeChart times={charts[i].times} series={charts[i].series} label={`MRR by month in ${s.currency}`} />}
                </div>
              ))
            )}
          </section>
          <section aria-labelledby="revenue">
            <h2 id="revenue">Collected revenue</h2>
            {data.data.revenue.data.length === 0 ? (
              <Empty>No revenue collected in this range.</Empty>
            ) : (
              data.data.revenue.data.map((r) => (
                <div key={r.currency} className="table-wrap">
                  <table>
                    <caption>
                      {formatMoney(r.collected, r.currency)} collected · {formatNumber(r.invoices_paid)} invoices paid, {formatNumber(r.invoices_failed)} failed ·
                      payment success {formatPercent(r.payment_success_rate ?? null)}
                    </caption>
                    <thead>
                      <tr>
                        <th scope="col">Month</th>
                        <th scope="col" className="num">Collected</th>
                        <th scope="col" className="num">Paid</th>
                        <th scope="col" className="num">Failed</th>
                      </tr>
                    </thead>
                    <tbody>
                      {r.months.map((m) => (
                        <tr key={m.month}>
                          <th scope="row">{m.month}</th>
                          <td className="num">{formatMoney(m.collected, r.currency)}</td>
                          <td className="num">{formatNumber(m.invoices_paid)}</td>
                          <td className="num">{formatNumber(m.invoices_failed)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              ))
            )}
          </section>
        </>
      )}
    </>
  );
}

import { Link } from "react-router-dom";
import { api, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { Layout, PublicLayout } from "../components/Layout";
import { Empty, ErrorState, Loading } from "../components/States";
import { formatMoney, formatNumber } from "../lib/format";
import { useAsync } from "../lib/useAsync";
import { useSession } from "../lib/useSession";

export type Plan = components["schemas"]["Plan"];

export function planPrice(p: Plan): string {
  const base = p.price === 0 ? "Free" : `${formatMoney(p.price, p.currency)} / month`;
  return p.overage_price ? `${base} + ${formatMoney(p.overage_price, p.currency)} per extra call` : base;
}

export function PlanCard({ plan, action }: { plan: Plan; action?: React.ReactNode }) {
  return (
    <article className="card plan" aria-labelledby={`plan-${plan.id}`}>
      <h2 id={`plan-${plan.id}`}>{plan.name}</h2>
      <p className="price">{planPrice(plan)}</p>
      {plan.description && <p>{plan.description}</p>}
      <ul>
        <li>{plan.monthly_limit == null ? "Unlimited calls" : `${formatNumber(plan.monthly_limit)} calls a month`}</li>
        <li>{formatNumber(plan.rate_limit)} requests a minute</li>
        <li>{formatNumber(plan.max_api_keys)} API keys</li>
        <li>{formatNumber(plan.retention_days)} days of logs</li>
      </ul>
      {action}
    </article>
  );
}

export function PricingPage() {
  const { token } = useSession();
  const plans = useAsync(async () => unwrap(await api.GET("/api/plans")), []);
  const Frame = token ? Layout : PublicLayout;
  return (
    <Frame>
      <h1>Pricing</h1>
      {plans.status === "loading" && <Loading label="Loading the plans" />}
      {plans.status === "error" && <ErrorState error={plans.error} onRetry={plans.reload} />}
      {plans.status === "ok" &&
        (plans.data.data.length === 0 ? (
          <Empty>No plans are offered yet.</Empty>
        ) : (
          <div className="grid plans">
            {plans.data.data.map((p) => (
              <PlanCard
                key={p.id}
                plan={p}
                action={<Link className="button" to={token ? "/billing" : "/signup"}>{token ? "Choose on the billing page" : "Sign up"}</Link>}
              />
            ))}
          </div>
        ))}
    </Frame>
  );
}

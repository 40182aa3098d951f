import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import { clearSession, setSession } from "../api/session";
import { AnalyticsPage, perDay, rangeError } from "./Analytics";
import { PlansPage } from "./Plans";
import { SubscriptionsPage } from "./Subscriptions";

// uPlot needs a canvas: the chart is a labelled box here.
vi.mock("../charts/LazyChart", () => ({
  LazyTimeChart: ({ label }: { label: string }) => <div role="img" aria-label={label} />,
}));

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  clearSession();
});

const point = (bucket_start: string, count: number, errors: number) => ({
  bucket_start,
  count,
  errors,
  cost_units: count,
  status_2xx: count - errors,
  status_4xx: errors,
  status_5xx: 0,
});

const usage = {
  from: "2026-12-01T00:00:00Z",
  to: "2026-12-03T00:00:00Z",
  granularity: "hour",
  calls: 42,
  cost_units: 42,
  error_rate: 0.5,
  error_rate_4xx: 0.5,
  error_rate_5xx: 0,
  p50_ms: 3,
  p95_ms: 17,
  p99_ms: 40,
  status_2xx: 21,
  status_4xx: 21,
  status_5xx: 0,
  by_source: {},
  timeseries: [point("2026-12-01T10:00:00Z", 30, 20), point("2026-12-01T11:00:00Z", 10, 1), point("2026-12-02T00:00:00Z", 2, 0)],
  top_endpoints: [
    {
      endpoint_id: "ep_1",
      name: "Echo",
      method: "GET",
      path: "/echo/{*rest}",
      source: "proxy",
      count: 42,
      cost_units: 42,
      error_rate: 0.5,
      avg_latency_ms: 4,
      p50_ms: 3,
      p95_ms: 17,
      p99_ms: 40,
      status_2xx: 21,
      status_4xx: 21,
      status_5xx: 0,
    },
  ],
};
const users = {
  from: "2026-12-01",
  to: "2026-12-02",
  signups: 3,
  days: [
    { day: "2026-12-01", signups: 2, active_organizations: 1 },
    { day: "2026-12-02", signups: 1, active_organizations: 1 },
  ],
};
const customers = {
  from: "2026-12-01",
  to: "2026-12-02",
  by_calls: [{ org_id: "org_1", name: "Acme", owner_email: "ada@example.com", calls: 42, cost_units: 42 }],
  by_revenue: [{ currency: "eur", customers: [{ org_id: "org_1", name: "Acme", owner_email: "ada@example.com", amount: 1900, invoices: 1 }] }],
};

function renderAt(path: string, page: React.ReactElement) {
  setSession({ access_token: "t" });
  return render(<MemoryRouter initialEntries={[path]}>{page}</MemoryRouter>);
}

describe("the operator analytics page", () => {
  it("asks the three routes for the range and shows their answers", async () => {
    const urls: string[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (req: Request) => {
        urls.push(req.url);
        const path = new URL(req.url).pathname;
        if (path.endsWith("/usage")) return json(200, usage);
        if (path.endsWith("/users")) return json(200, users);
        return json(200, customers);
      }),
    );
    renderAt("/admin/analytics?from=2026-12-01&to=2026-12-02", <AnalyticsPage />);
    expect(screen.getByRole("status").textContent).toBe("Loading the analytics…");
    expect((await screen.findByTestId("admin-calls")).textContent).toBe("42");
    expect(urls).toHaveLength(3);
    for (const u of urls) expect(new URL(u).search).toBe("?from=2026-12-01&to=2026-12-02");
    expect(screen.getByTestId("admin-signups").textContent).toBe("3");
    expect(screen.getByText("p50 3 ms · p95 17 ms · p99 40 ms")).toBeTruthy();
    expect(screen.getByRole("img", { name: "Calls per day: 42 calls over 2 days" })).toBeTruthy();
    expect(screen.getByRole("row", { name: /Echo/ })).toBeTruthy();
    const byCalls = screen.getByTestId("top-by-calls");
    expect(within(byCalls).getByRole("row", { name: /Acme/ }).textContent).toContain("42");
    expect(screen.getByRole("table", { name: "Revenue collected in EUR" }).textContent).toContain("€19.00");
  });

  it("shows the server's message, and checks a range before asking", async () => {
    const fetchMock = vi.fn(async () => json(400, { error: { code: "bad_request", message: "At most 400 days." } }));
    vi.stubGlobal("fetch", fetchMock);
    renderAt("/admin/analytics?from=2020-01-01&to=2026-12-02", <AnalyticsPage />);
    expect((await screen.findByRole("alert")).textContent).toContain("At most 400 days.");
    const calls = fetchMock.mock.calls.length;
    fireEvent.change(screen.getByLabelText("First day (UTC)"), { target: { value: "2026-12-05" } });
    fireEvent.click(screen.getByRole("button", { name: "Show" }));
    expect(screen.getByText("The first day must not be after the last day.")).toBeTruthy();
    expect(fetchMock.mock.calls.length).toBe(calls);
  });

  it("sums hourly buckets into days and checks ranges", () => {
    expect(perDay(usage.timeseries)).toEqual([
      { day: "2026-12-01", calls: 40, errors: 21 },
      { day: "2026-12-02", calls: 2, errors: 0 },
    ]);
    expect(rangeError("2026-12-01", "2026-12-01")).toBeNull();
    expect(rangeError("2026-12-1", "2026-12-01")).toMatch(/YYYY-MM-DD/);
    expect(rangeError("2025-01-01", "2026-12-01")).toBe("At most 400 days.");
  });
});

describe("the operator plans page", () => {
  it("lists the plans and creates one with the price in minor units", async () => {
    const plan = {
      id: "plan_free",
      name: "Free",
      billing_type: "subscription",
      currency: "usd",
      price: 0,
      monthly_limit: 1000,
      rate_limit: 60,
      max_api_keys: 2,
      retention_days: 7,
      status: "active",
      features: {},
      created_at: "2026-12-01T00:00:00Z",
      updated_at: "2026-12-01T00:00:00Z",
    };
    const bodies: unknown[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (req: Request) => {
        if (req.method === "POST") {
          bodies.push(await req.json());
          return json(201, { ...plan, id: "plan_2", name: "Team", price: 1900 });
        }
        return json(200, { data: [plan] });
      }),
    );
    renderAt("/admin/plans", <PlansPage />);
    expect(await screen.findByRole("row", { name: /Free/ })).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "New plan" }));
    fireEvent.click(screen.getByRole("button", { name: "Create plan" }));
    expect(screen.getByText("Enter a name of 1 to 100 characters.")).toBeTruthy();
    expect(bodies).toHaveLength(0);
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "Team" } });
    fireEvent.change(screen.getByLabelText("Price per period"), { target: { value: "19" } });
    fireEvent.click(screen.getByRole("button", { name: "Create plan" }));
    expect((await screen.findByText("Plan Team created.")).getAttribute("role")).toBe("status");
    expect(bodies[0]).toMatchObject({ name: "Team", price: 1900, currency: "usd", monthly_limit: null, rate_limit: 60 });
  });
});

describe("the operator subscriptions page", () => {
  it("filters by plan and changes a subscription's plan", async () => {
    const plans = [
      { id: "plan_free", name: "Free", status: "active" },
      { id: "plan_pro", name: "Pro", status: "active" },
    ];
    const sub = { id: "sub_1", org_id: "org_1", plan_id: "plan_free", plan_name: "Free", status: "active", cancel_at_period_end: false, created_at: "2026-12-01T00:00:00Z", updated_at: "2026-12-01T00:00:00Z" };
    const seen: { method: string; url: string; body?: unknown }[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (req: Request) => {
        const url = new URL(req.url);
        seen.push({ method: req.method, url: url.pathname + url.search, body: req.method === "PUT" ? await req.json() : undefined });
        if (url.pathname === "/api/admin/plans") return json(200, { data: plans });
        if (req.method === "PUT") return json(200, { ...sub, plan_id: "plan_pro", plan_name: "Pro" });
        return json(200, { data: [sub] });
      }),
    );
    renderAt("/admin/subscriptions?plan_id=plan_free", <SubscriptionsPage />);
    expect(await screen.findByRole("row", { name: /org_1/ })).toBeTruthy();
    expect(seen.some((s) => s.url === "/api/admin/subscriptions?limit=100&plan_id=plan_free")).toBe(true);
    fireEvent.change(await screen.findByLabelText("Plan of org_1"), { target: { value: "plan_pro" } });
    fireEvent.click(screen.getByRole("button", { name: "Change plan of org_1" }));
    expect(await screen.findByText("org_1 is now on Pro.")).toBeTruthy();
    expect(seen.find((s) => s.method === "PUT")).toMatchObject({ url: "/api/admin/subscriptions/sub_1", body: { plan_id: "plan_pro" } });
  });
});

import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import { clearSession, setSession } from "../api/session";
import { UsagePage } from "./Usage";

vi.mock("../charts/LazyChart", () => ({ LazyTimeChart: () => null }));

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  clearSession();
});

const call = (id: string, status: number) => ({
  id, org_id: "org_1", key_id: "key_1", endpoint_id: "ep_1", method: "GET", path: "/api/v1/echo/hello", status,
  latency_ms: 3, cost_units: 1, period: "2026-12", timestamp: "2026-12-06T10:00:00Z",
});

describe("the call log's filters", () => {
  it("go out as the log's query parameters and start again from the first page", async () => {
    const logQueries: URLSearchParams[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (req: Request) => {
        const url = new URL(req.url);
        if (url.pathname === "/api/user/usage/detailed") {
          logQueries.push(url.searchParams);
          const status = url.searchParams.get("status");
          if (status) return json(200, { data: [call("c9", Number(status))], next_cursor: null });
          return json(200, { data: [call(url.searchParams.get("cursor") ? "c2" : "c1", 200)], next_cursor: "cur_2" });
        }
        if (url.pathname === "/api/user/usage/timeseries") return json(200, { data: [] });
        if (url.pathname === "/api/user/usage/by-endpoint")
          return json(200, { data: [{ endpoint_id: "ep_1", name: "Echo", count: 2, error_rate: 0 }] });
        if (url.pathname === "/api/user/api-keys")
          return json(200, { data: [{ id: "key_1", project_id: "p", name: "prod", prefix: "sk_live_abcd", last4: "wxyz", status: "active", created_at: "2026-12-01T00:00:00Z" }], active: 1, limit: 2 });
        return json(404, {});
      }),
    );
    setSession({ access_token: "t" });
    render(
      <MemoryRouter>
        <UsagePage />
      </MemoryRouter>,
    );
    fireEvent.click(await screen.findByRole("button", { name: "Next page" }));
    await screen.findByText("Calls, newest first (page 2)");
    expect(logQueries.at(-1)?.get("cursor")).toBe("cur_2");

    fireEvent.change(screen.getByLabelText("Status code"), { target: { value: "abc" } });
    fireEvent.click(screen.getByRole("button", { name: "Filter" }));
    expect(await screen.findByText(/100 to 599/)).toBeTruthy();

    await screen.findByRole("option", { name: /prod/ });
    fireEvent.change(screen.getByLabelText("Status code"), { target: { value: "404" } });
    fireEvent.change(screen.getByLabelText("Endpoint"), { target: { value: "ep_1" } });
    fireEvent.change(screen.getByLabelText("API key"), { target: { value: "key_1" } });
    fireEvent.click(screen.getByRole("button", { name: "Filter" }));
    await screen.findByText("Calls, newest first (page 1)");
    await waitFor(() => expect(logQueries.at(-1)?.get("status")).toBe("404"));
    const q = logQueries.at(-1);
    expect(q?.get("endpoint_id")).toBe("ep_1");
    expect(q?.get("key_id")).toBe("key_1");
    expect(q?.get("cursor")).toBeNull();
    expect(await screen.findByRole("cell", { name: "404" })).toBeTruthy();
  });
});

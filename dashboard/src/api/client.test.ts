// @vitest-environment node
import createClient from "openapi-fetch";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeAuthFetch, setSessionExpiredHandler } from "./client";
import type { paths } from "./schema";
import { clearSession, getAccessToken, setSession } from "./session";

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

/** A fake server: `old` is expired, `new` is valid; refresh answers after a little while. */
function fakeServer(refreshOk = true) {
  const calls = { refresh: 0, keys: 0, authorizations: [] as (string | null)[] };
  const fetchMock = vi.fn(async (req: Request) => {
    const path = new URL(req.url).pathname;
    if (path === "/api/user/auth/refresh") {
      calls.refresh += 1;
      await new Promise((r) => setTimeout(r, 20));
      return refreshOk
        ? json(200, { access_token: "new", token_type: "Bearer", expires_in: 900 })
        : json(401, { error: { code: "refresh_token_reused", message: "reused" } });
    }
    if (path === "/api/user/auth/login") return json(401, { error: { code: "invalid_credentials", message: "Wrong email or password." } });
    calls.keys += 1;
    const auth = req.headers.get("Authorization");
    calls.authorizations.push(auth);
    return auth === "Bearer new" ? json(200, { data: [], active: 0, limit: 2 }) : json(401, { error: { code: "token_expired", message: "expired" } });
  });
  return { calls, fetchMock };
}

afterEach(() => clearSession());

describe("the API client's refresh", () => {
  it("shares one refresh between concurrent 401s and retries each request once", async () => {
    const { calls, fetchMock } = fakeServer();
    const client = createClient<paths>({ baseUrl: "http://localhost", fetch: makeAuthFetch(fetchMock) });
    setSession({ access_token: "old" });
    const [a, b, c] = await Promise.all([client.GET("/api/user/api-keys"), client.GET("/api/user/api-keys"), client.GET("/api/user/usage/summary")]);
    expect(calls.refresh).toBe(1);
    expect([a.response.status, b.response.status, c.response.status]).toEqual([200, 200, 200]);
    expect(calls.keys).toBe(6); // three first tries, three retries
    expect(calls.authorizations.filter((x) => x === "Bearer new")).toHaveLength(3);
    expect(getAccessToken()).toBe("new");
  });

  it("ends the session when the refresh fails, without retrying", async () => {
    const { calls, fetchMock } = fakeServer(false);
    const expired = vi.fn();
    setSessionExpiredHandler(expired);
    const client = createClient<paths>({ baseUrl: "http://localhost", fetch: makeAuthFetch(fetchMock) });
    setSession({ access_token: "old" });
    const [a, b] = await Promise.all([client.GET("/api/user/api-keys"), client.GET("/api/user/api-keys")]);
    expect(calls.refresh).toBe(1);
    expect([a.response.status, b.response.status]).toEqual([401, 401]);
    expect(calls.keys).toBe(2);
    expect(expired).toHaveBeenCalled();
  });

  it("does not refresh on a failed login (its 401 is the answer)", async () => {
    const { calls, fetchMock } = fakeServer();
    const client = createClient<paths>({ baseUrl: "http://localhost", fetch: makeAuthFetch(fetchMock) });
    const r = await client.POST("/api/user/auth/login", { body: { email: "a@example.com", password: "x" } });
    expect(r.response.status).toBe(401);
    expect(r.error).toEqual({ error: { code: "invalid_credentials", message: "Wrong email or password." } });
    expect(calls.refresh).toBe(0);
  });

  it("sends X-Org-Id on the user routes once an organization is chosen", async () => {
    const { setOrgId } = await import("./session");
    const seen: (string | null)[] = [];
    const fetchMock = vi.fn(async (req: Request) => {
      seen.push(req.headers.get("X-Org-Id"));
      return json(200, { data: [], active: 0, limit: 2 });
    });
    const client = createClient<paths>({ baseUrl: "http://localhost", fetch: makeAuthFetch(fetchMock) });
    setSession({ access_token: "new" });
    setOrgId("org_team");
    await client.GET("/api/user/api-keys");
    await client.GET("/api/plans");
    expect(seen).toEqual(["org_team", null]);
  });
});

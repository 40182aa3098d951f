import { cleanup, render, screen } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import { clearSession, getAccessToken } from "../api/session";
import { OidcCallbackPage } from "./OidcCallback";

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  clearSession();
});

function renderAt(path: string) {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <Routes>
        <Route path="/auth/oidc/callback" element={<OidcCallbackPage />} />
        <Route path="/" element={<p>overview</p>} />
      </Routes>
    </MemoryRouter>,
  );
}

describe("the OpenID Connect callback page", () => {
  it("trades the code and state for the session once, then opens the overview", async () => {
    const user = { id: "usr_1", email: "ada@example.com", role: "user" };
    const fetchMock = vi.fn(async () => json(200, { access_token: "tok", token_type: "Bearer", expires_in: 900, user }));
    vi.stubGlobal("fetch", fetchMock);
    renderAt("/auth/oidc/callback?code=c1&state=s1");
    expect(screen.getByRole("status").textContent).toContain("Signing you in");
    expect(await screen.findByText("overview")).toBeTruthy();
    expect(getAccessToken()).toBe("tok");
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const [req] = fetchMock.mock.calls[0] as unknown as [Request];
    expect(new URL(req.url).pathname + new URL(req.url).search).toBe("/api/user/auth/oidc/callback?code=c1&state=s1");
  });

  it("shows the server's message when it refuses", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => json(400, { error: { code: "invalid_oidc_state", message: "The sign-in expired or was already used; start again." } })),
    );
    renderAt("/auth/oidc/callback?code=c2&state=s2");
    expect((await screen.findByRole("alert")).textContent).toBe("The sign-in expired or was already used; start again.");
    expect(getAccessToken()).toBeNull();
    expect(screen.getByRole("link", { name: "Try again with your identity provider" }).getAttribute("href")).toBe("/api/user/auth/oidc/start");
  });

  it("shows the provider's refusal without calling the server", () => {
    const fetchMock = vi.fn();
    vi.stubGlobal("fetch", fetchMock);
    renderAt("/auth/oidc/callback?error=access_denied&error_description=The+user+said+no");
    expect(screen.getByRole("alert").textContent).toContain("The user said no");
    expect(fetchMock).not.toHaveBeenCalled();
  });
});

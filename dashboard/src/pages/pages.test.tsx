import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import { clearSession, setSession } from "../api/session";
import { KeysPage } from "./Keys";
import { SignupPage } from "./Signup";

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  clearSession();
});

function renderKeys() {
  setSession({ access_token: "t" });
  return render(
    <MemoryRouter>
      <KeysPage />
    </MemoryRouter>,
  );
}

describe("the API keys page", () => {
  it("shows loading, then the empty state", async () => {
    let answer: (r: Response) => void = () => {};
    vi.stubGlobal("fetch", vi.fn(() => new Promise<Response>((r) => (answer = r))));
    renderKeys();
    expect(screen.getByRole("status")).toHaveProperty("textContent", "Loading your keys…");
    answer(json(200, { data: [], active: 0, limit: 2 }));
    expect(await screen.findByText(/No API keys yet/)).toBeTruthy();
    expect(screen.getByText(/0 of 2 usable keys/)).toBeTruthy();
  });

  it("shows the server's error message with a retry", async () => {
    const fetchMock = vi
      .fn()
      .mockResolvedValueOnce(json(503, { error: { code: "unavailable", message: "The store is unavailable." } }))
      .mockResolvedValueOnce(
        json(200, {
          data: [{ id: "key_1", project_id: "prj_1", name: "prod", prefix: "sk_live_abcd", last4: "wxyz", status: "active", created_at: "2026-12-01T00:00:00Z" }],
          active: 1,
          limit: 2,
        }),
      );
    vi.stubGlobal("fetch", fetchMock);
    renderKeys();
    expect((await screen.findByRole("alert")).textContent).toContain("The store is unavailable.");
    fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByRole("row", { name: /prod/ })).toBeTruthy();
    expect(screen.getByRole("button", { name: "Revoke prod" })).toBeTruthy();
  });

  it("does not send a key without a name", async () => {
    const fetchMock = vi.fn().mockResolvedValue(json(200, { data: [], active: 0, limit: 2 }));
    vi.stubGlobal("fetch", fetchMock);
    renderKeys();
    await screen.findByText(/No API keys yet/);
    fireEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect(await screen.findByText("Enter a name for the key.")).toBeTruthy();
    expect(fetchMock).toHaveBeenCalledTimes(1); // the listing only
  });
});

describe("API key expiry and rotation", () => {
  const key = (over: Record<string, unknown>) => ({
    id: "key_1", project_id: "prj_1", name: "prod", prefix: "sk_live_abcd", last4: "wxyz", status: "active", created_at: "2026-12-01T00:00:00Z", ...over,
  });

  it("refuses a past expiry without sending, sends the end of the chosen day UTC", async () => {
    const fetchMock = vi
      .fn()
      .mockResolvedValueOnce(json(200, { data: [], active: 0, limit: 2 }))
      .mockResolvedValueOnce(json(201, { key: key({ expires_at: "2099-01-31T23:59:59Z" }), secret: "sk_live_abcd_secret" }))
      .mockResolvedValue(json(200, { data: [key({ expires_at: "2099-01-31T23:59:59Z" })], active: 1, limit: 2 }));
    vi.stubGlobal("fetch", fetchMock);
    renderKeys();
    await screen.findByText(/No API keys yet/);
    fireEvent.change(screen.getByLabelText("Key name"), { target: { value: "prod" } });
    fireEvent.change(screen.getByLabelText("Expires on (optional)"), { target: { value: "2020-01-01" } });
    fireEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect(await screen.findByText("Choose today or a later date.")).toBeTruthy();
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const soon = new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);
    fireEvent.change(screen.getByLabelText("Expires on (optional)"), { target: { value: soon } });
    fireEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect(await screen.findByTestId("new-secret")).toBeTruthy();
    const sent = fetchMock.mock.calls[1]?.[0] as Request;
    expect(await sent.json()).toEqual({ name: "prod", expires_at: `${soon}T23:59:59Z` });
    expect(await screen.findByText("2099-01-31 23:59:59 UTC")).toBeTruthy();
  });

  it("lists no expiry as never and a past one as expired", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn().mockResolvedValue(json(200, { data: [key({}), key({ id: "key_2", name: "old", expires_at: "2020-01-01T23:59:59Z" })], active: 1, limit: 2 })),
    );
    renderKeys();
    expect((await screen.findByRole("row", { name: /prod/ })).textContent).toContain("never");
    const old = screen.getByRole("row", { name: /old/ });
    expect(old.textContent).toContain("expired");
    expect(screen.queryByRole("button", { name: "Rotate old" })).toBeNull();
  });

  it("rotates with the chosen grace period and says until when the old secret works", async () => {
    vi.stubGlobal("confirm", () => true);
    const fetchMock = vi
      .fn()
      .mockResolvedValueOnce(json(200, { data: [key({})], active: 1, limit: 2 }))
      .mockResolvedValueOnce(json(200, { key: key({}), secret: "sk_live_new", previous_secret_valid_until: "2026-12-07T16:00:00Z" }))
      .mockResolvedValue(json(200, { data: [key({})], active: 1, limit: 2 }));
    vi.stubGlobal("fetch", fetchMock);
    renderKeys();
    await screen.findByRole("row", { name: /prod/ });
    fireEvent.change(screen.getByLabelText("Old secret of prod works after rotation for"), { target: { value: "86400" } });
    fireEvent.click(screen.getByRole("button", { name: "Rotate prod" }));
    expect(await screen.findByText(/The old secret works until 2026-12-07 16:00:00 UTC/)).toBeTruthy();
    const sent = fetchMock.mock.calls[1]?.[0] as Request;
    expect(await sent.json()).toEqual({ grace_period_seconds: 86400 });
  });
});

describe("the sign-up form", () => {
  it("validates before sending and shows the server's message", async () => {
    const fetchMock = vi.fn().mockResolvedValue(json(409, { error: { code: "email_taken", message: "An account with this email already exists." } }));
    vi.stubGlobal("fetch", fetchMock);
    render(
      <MemoryRouter>
        <SignupPage />
      </MemoryRouter>,
    );
    fireEvent.click(screen.getByRole("button", { name: "Create account" }));
    expect(await screen.findByText("Enter your first name.")).toBeTruthy();
    expect(screen.getByLabelText("Email").getAttribute("aria-invalid")).toBe("true");
    expect(fetchMock).not.toHaveBeenCalled();

    fireEvent.change(screen.getByLabelText("First name"), { target: { value: "Ada" } });
    fireEvent.change(screen.getByLabelText("Last name"), { target: { value: "Lovelace" } });
    fireEvent.change(screen.getByLabelText("Email"), { target: { value: "ada@example.com" } });
    fireEvent.change(screen.getByLabelText("Password"), { target: { value: "correct-horse-42" } });
    fireEvent.click(screen.getByRole("button", { name: "Create account" }));
    await waitFor(() => expect(fetchMock).toHaveBeenCalledTimes(1));
    expect((await screen.findByRole("alert")).textContent).toBe("An account with this email already exists.");
  });
});

describe("a part of the app that fails", () => {
  it("shows an error with a reload button instead of a blank page", async () => {
    const { ErrorBoundary } = await import("../components/ErrorBoundary");
    const Broken = () => {
      throw new Error("chunk failed");
    };
    const quiet = vi.spyOn(console, "error").mockImplementation(() => {});
    render(
      <ErrorBoundary what="chart">
        <Broken />
      </ErrorBoundary>,
    );
    expect(screen.getByRole("alert").textContent).toContain("The chart could not be shown.");
    expect(screen.getByRole("button", { name: "Reload" })).toBeTruthy();
    quiet.mockRestore();
  });
});

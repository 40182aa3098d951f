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

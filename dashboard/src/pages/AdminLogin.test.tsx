import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import { clearSession, getAccessToken } from "../api/session";
import { AdminLoginPage } from "./AdminLogin";

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  clearSession();
});

describe("the operator login", () => {
  it("asks for the second factor when the server wants it, then logs in", async () => {
    const user = { id: "usr_1", email: "ops@example.com", role: "admin" };
    const fetchMock = vi
      .fn()
      .mockResolvedValueOnce(json(200, { mfa_required: true, mfa_token: "mfa_1", expires_in: 300 }))
      .mockResolvedValueOnce(json(401, { error: { code: "invalid_mfa_code", message: "The two-factor code is wrong." } }))
      .mockResolvedValueOnce(json(200, { access_token: "tok", token_type: "Bearer", expires_in: 900, user }));
    vi.stubGlobal("fetch", fetchMock);
    render(
      <MemoryRouter initialEntries={["/admin/login"]}>
        <Routes>
          <Route path="/admin/login" element={<AdminLoginPage />} />
          <Route path="/admin" element={<p>operator area</p>} />
        </Routes>
      </MemoryRouter>,
    );
    fireEvent.change(screen.getByLabelText("Email"), { target: { value: "ops@example.com" } });
    fireEvent.change(screen.getByLabelText("Password"), { target: { value: "admin-pass-123" } });
    fireEvent.click(screen.getByRole("button", { name: "Log in" }));
    const code = await screen.findByLabelText("Two-factor code");
    fireEvent.click(screen.getByRole("button", { name: "Verify" }));
    expect(await screen.findByText(/Enter the code/)).toBeTruthy();
    expect(fetchMock).toHaveBeenCalledTimes(1);
    fireEvent.change(code, { target: { value: "000000" } });
    fireEvent.click(screen.getByRole("button", { name: "Verify" }));
    expect((await screen.findByRole("alert")).textContent).toBe("The two-factor code is wrong.");
    fireEvent.change(code, { target: { value: "123456" } });
    fireEvent.click(screen.getByRole("button", { name: "Verify" }));
    await screen.findByText("operator area");
    expect(getAccessToken()).toBe("tok");
    const second = fetchMock.mock.calls[2]?.[0] as Request;
    expect(new URL(second.url).pathname).toBe("/api/admin/auth/login/2fa");
    expect(await second.json()).toEqual({ mfa_token: "mfa_1", code: "123456" });
    await waitFor(() => expect(fetchMock).toHaveBeenCalledTimes(3));
  });
});

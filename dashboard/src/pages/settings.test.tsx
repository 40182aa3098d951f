import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import { clearSession, setSession } from "../api/session";
import { NotificationsSection } from "./Notifications";
import { Members } from "./Team";

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  clearSession();
});

describe("the notification settings", () => {
  it("saves the mailed events, and refuses a Slack URL that is not Slack's", async () => {
    const puts: unknown[] = [];
    const view = { email: { "quota.exceeded": true, "invoice.payment_failed": false }, slack_available: true, slack: null, webhooks: [] };
    // The reload after the save answers only at the end: the forms must stay usable meanwhile.
    let answerReload: () => void = () => {};
    const reloaded = new Promise<void>((resolve) => (answerReload = resolve));
    let gets = 0;
    vi.stubGlobal(
      "fetch",
      vi.fn(async (req: Request) => {
        if (req.method === "PUT") {
          puts.push(await req.json());
          return json(200, view);
        }
        gets += 1;
        if (gets > 1) await reloaded;
        return json(200, view);
      }),
    );
    setSession({ access_token: "t" });
    render(<MemoryRouter><NotificationsSection /></MemoryRouter>);
    fireEvent.click(await screen.findByRole("checkbox", { name: "invoice.payment_failed" }));
    fireEvent.click(screen.getByRole("button", { name: "Save email notifications" }));
    expect(await screen.findByText("Email notifications saved.")).toBeTruthy();
    expect(puts[0]).toEqual({ email: { "quota.exceeded": true, "invoice.payment_failed": true } });
    fireEvent.change(screen.getByLabelText("Slack incoming-webhook URL"), { target: { value: "https://example.com/x" } });
    fireEvent.click(screen.getByRole("button", { name: "Save Slack channel" }));
    expect(screen.getByText(/Enter a Slack incoming-webhook URL/)).toBeTruthy();
    expect(puts).toHaveLength(1);
    answerReload();
    expect(await screen.findByText("Email notifications saved.")).toBeTruthy();
  });
});

describe("the members of a team organization", () => {
  it("lets an owner change a member's role, and shows the server's refusal", async () => {
    const members = [
      { user_id: "usr_me", email: "me@example.com", first_name: "Me", last_name: "Owner", role: "owner", joined_at: "2026-12-01T00:00:00Z" },
      { user_id: "usr_2", email: "bob@example.com", first_name: "Bob", last_name: "B", role: "member", joined_at: "2026-12-02T00:00:00Z" },
    ];
    const fetchMock = vi.fn(async (req: Request) => {
      if (req.method === "PUT") return json(409, { error: { code: "last_owner", message: "Only owners make owners." } });
      return json(200, { data: members });
    });
    vi.stubGlobal("fetch", fetchMock);
    setSession({ access_token: "t", user: { id: "usr_me", email: "me@example.com" } as never });
    render(<MemoryRouter><Members orgId="org_t" canManage personal={false} onLeft={() => {}} /></MemoryRouter>);
    fireEvent.change(await screen.findByLabelText("Role of bob@example.com"), { target: { value: "owner" } });
    fireEvent.click(screen.getByRole("button", { name: "Change role of bob@example.com" }));
    expect((await screen.findByRole("alert")).textContent).toBe("Only owners make owners.");
    const put = fetchMock.mock.calls.map((c) => c[0]).find((r) => r.method === "PUT");
    expect(new URL(put?.url ?? "").pathname).toBe("/api/user/orgs/org_t/members/usr_2");
    expect(screen.getByRole("button", { name: "Leave" })).toBeTruthy();
    expect(screen.getByRole("button", { name: "Remove bob@example.com" })).toBeTruthy();
  });
});

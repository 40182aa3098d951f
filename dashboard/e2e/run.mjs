// End-to-end test of the dashboard in headless Chromium (Debian's `chromium`, driven by
// playwright-core: no browser download) against the real `tollgate` server serving the
// built app. scripts/test-dashboard.sh starts the server (with the Stripe fake) and runs it:
//   BASE=http://127.0.0.1:PORT DATA_DIR=<server's data dir> node e2e/run.mjs
// Each main page is screenshotted into $ARTIFACTS (default ../target/dashboard-e2e) and
// scanned with axe-core: any `serious` or `critical` violation fails its step.
import { mkdir, readdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.BASE ?? "http://127.0.0.1:3000";
const DATA_DIR = process.env.DATA_DIR;
const ARTIFACTS = process.env.ARTIFACTS ?? new URL("../../target/dashboard-e2e", import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ADMIN = { email: process.env.ADMIN_EMAIL ?? "ops@example.com", password: process.env.ADMIN_PASSWORD ?? "admin-pass-123" };
if (!DATA_DIR) throw new Error("DATA_DIR (the server's data directory, for the outbox) is required");

const require = createRequire(import.meta.url);
const axeSource = await readFile(require.resolve("axe-core/axe.min.js"), "utf8");
await mkdir(ARTIFACTS, { recursive: true });

const email = `e2e-${Date.now()}@example.com`;
const password = "correct-horse-42";
const ctx = { secret: "" };
const results = [];
const problems = []; // CSP violations and uncaught page errors, from every page

function check(cond, message) {
  if (!cond) throw new Error(message);
}

const STEP_TIMEOUT_MS = 90_000;

async function step(name, fn) {
  const started = Date.now();
  let timer;
  try {
    // No step can hang the suite: each has a deadline.
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`step timed out after ${STEP_TIMEOUT_MS / 1000} s`)), STEP_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    clearTimeout(timer);
    results.push({ name, ok: false });
    console.log(`FAIL ${name}: ${e instanceof Error ? e.stack ?? e.message : e}`);
    return false;
  }
  return true;
}

/** axe-core in the page (evaluated through the DevTools protocol, so the page's CSP stays on). */
async function axeScan(page, label) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ["violations"] }),
  );
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(
    bad.length === 0,
    `${label}: accessibility violations:\n` +
      bad.map((v) => `  [${v.impact}] ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")})`).join("\n"),
  );
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The newest mail of `kind` to `to` in the server's outbox: its link. */
async function mailedLink(to, kind) {
  const dir = join(DATA_DIR, "outbox");
  for (let i = 0; i < 50; i++) {
    const files = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith(".json")).sort().reverse();
    for (const f of files) {
      const mail = JSON.parse(await readFile(join(dir, f), "utf8"));
      if (mail.to === to && mail.kind === kind) {
        const link = mail.text_body.split(/\s+/).find((w) => w.startsWith("http") && w.includes("token="));
        if (link) return link;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${kind} mail to ${to} in ${dir}`);
}

async function echo(key) {
  const r = await fetch(`${BASE}/api/v1/echo/hello`, { headers: { "X-API-Key": key } });
  return r.status;
}

async function until(what, fn, { tries = 60, delay = 250 } = {}) {
  for (let i = 0; i < tries; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, delay));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function watch(page) {
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/.test(m.text())) problems.push(`${page.url()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${page.url()}: ${e.message}`));
}

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  watch(page);
  page.setDefaultTimeout(15000);
  page.on("dialog", (d) => d.accept());

  const all = [
    ["sign up", async () => {
      await page.goto(`${BASE}/signup`);
      await page.getByRole("heading", { name: "Sign up" }).waitFor();
      await axeScan(page, "sign-up page");
      await shot(page, "01-signup");
      // Validation before sending: an empty form shows the errors, sends nothing.
      await page.getByRole("button", { name: "Create account" }).click();
      await page.getByText("Enter your first name.").waitFor();
      await page.getByLabel("First name").fill("Ada");
      await page.getByLabel("Last name").fill("Lovelace");
      await page.getByLabel("Email").fill(email);
      await page.getByLabel("Password").fill(password);
      await page.getByRole("button", { name: "Create account" }).click();
      await page.getByRole("heading", { name: "Check your email" }).waitFor();
    }],
    ["verify the email from the outbox", async () => {
      const link = await mailedLink(email, "verify_email");
      check(link.startsWith(`${BASE}/verify-email?token=`), `unexpected link ${link}`);
      await page.goto(link);
      await page.getByText("Your email address is verified.").waitFor();
    }],
    ["sign-in with an identity provider: the link, and the callback page's error (none configured here)", async () => {
      await page.goto(`${BASE}/login`);
      const link = page.getByRole("link", { name: "Sign in with your identity provider" });
      check((await link.getAttribute("href")) === "/api/user/auth/oidc/start", "no identity provider link on the login page");
      await page.goto(`${BASE}/auth/oidc/callback?code=abc&state=def`);
      await page.getByRole("alert").filter({ hasText: /./ }).waitFor();
      await axeScan(page, "identity provider callback page (error)");
      await shot(page, "02-oidc-callback-error");
    }],
    ["log in (wrong password first: the server's message)", async () => {
      await page.goto(`${BASE}/login`);
      await axeScan(page, "login page");
      await shot(page, "02-login");
      await page.getByLabel("Email").fill(email);
      await page.getByLabel("Password").fill("wrong-password-1");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("alert").filter({ hasText: /email or password/i }).waitFor();
      await page.getByLabel("Password").fill(password);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("heading", { name: "Overview" }).waitFor();
      await page.getByText("No calls yet this period.").waitFor();
      await axeScan(page, "overview (empty)");
    }],
    ["a reload keeps the session (refresh cookie), a deep link works", async () => {
      await page.goto(`${BASE}/keys`);
      await page.getByRole("heading", { name: "API keys" }).waitFor();
      await page.getByText("No API keys yet.").waitFor();
    }],
    ["create a key with an expiry: the past refused, the secret shown once, the expiry listed", async () => {
      await page.getByLabel("Key name").fill("e2e key");
      await page.getByLabel("Expires on (optional)").fill("2020-01-01");
      await page.getByRole("button", { name: "Create key" }).click();
      await page.getByText("Choose today or a later date.").waitFor();
      const expiry = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
      await page.getByLabel("Expires on (optional)").fill(expiry);
      await page.getByRole("button", { name: "Create key" }).click();
      ctx.secret = (await page.getByTestId("new-secret").textContent()) ?? "";
      check(/^sk_live_/.test(ctx.secret), `secret ${ctx.secret.slice(0, 8)}…`);
      await page.getByRole("row", { name: /e2e key/ }).getByText(`${expiry} 23:59:59 UTC`).waitFor();
      await axeScan(page, "keys page");
      await shot(page, "03-keys-new-secret");
      await page.getByRole("button", { name: "Done" }).click();
      check((await page.getByTestId("new-secret").count()) === 0, "the secret is still shown");
    }],
    ["metered calls with the key", async () => {
      for (let i = 0; i < 25; i++) check((await echo(ctx.secret)) === 200, "echo call refused");
    }],
    ["the calls show in the usage chart and log", async () => {
      await page.getByRole("link", { name: "Usage" }).click();
      await page.getByRole("heading", { name: "Usage" }).waitFor();
      await until("every call in the log", async () => {
        await page.reload();
        await page.getByRole("heading", { name: "Calls", exact: true }).waitFor();
        await page.waitForLoadState("networkidle");
        await page.waitForFunction(() => !document.querySelector(".spinner"));
        return (await page.getByRole("table", { name: /by endpoint/i }).getByRole("cell", { name: "25", exact: true }).count()) === 1;
      }, { tries: 40, delay: 250 });
      // The log's pages: 20 calls, then the other 5.
      const rows = () => page.locator('[data-testid="usage-log"] tbody tr').count();
      check((await rows()) === 20, `first page: ${await rows()} rows`);
      await page.getByRole("button", { name: "Next page" }).click();
      await page.getByText("Calls, newest first (page 2)").waitFor();
      check((await rows()) === 5, `second page: ${await rows()} rows`);
      check(await page.getByRole("button", { name: "Next page" }).isDisabled(), "a third page");
      await page.getByRole("button", { name: "Previous page" }).click();
      await page.getByText("Calls, newest first (page 1)").waitFor();
      // Filters: a status no call had gives nothing; 200 gives only 200s, from the first page.
      await page.getByRole("button", { name: "Next page" }).click();
      await page.getByText("Calls, newest first (page 2)").waitFor();
      await page.getByLabel("Status code").fill("500");
      await page.getByRole("button", { name: "Filter", exact: true }).click();
      await page.getByText("No calls match these filters in this range.").waitFor();
      await page.getByLabel("Status code").fill("200");
      const keySelect = page.getByLabel("API key", { exact: true });
      await keySelect.selectOption((await keySelect.locator("option", { hasText: "e2e key" }).getAttribute("value")) ?? "");
      await page.getByRole("button", { name: "Filter", exact: true }).click();
      await page.getByText("Calls, newest first (page 1)").waitFor();
      const statuses = await page.locator('[data-testid="usage-log"] tbody tr td:nth-child(4)').allTextContents();
      check(statuses.length === 20 && statuses.every((t) => t === "200"), `filtered by 200: ${statuses.join(",")}`);
      await page.getByRole("button", { name: "Clear filters" }).click();
      await page.locator(".chart canvas").first().waitFor();
      await page.getByRole("table", { name: /by endpoint/i }).waitFor();
      await axeScan(page, "usage page");
      await shot(page, "04-usage");
      await page.getByRole("link", { name: "Overview" }).click();
      await until("25 calls on the overview", async () => (await page.getByTestId("calls-used").textContent())?.startsWith("25 "));
      const avg = (await page.getByTestId("avg-latency").textContent()) ?? "";
      check(/^\d+\.\d ms$/.test(avg), `average latency: ${avg}`);
      await page.locator(".chart canvas").first().waitFor();
      await axeScan(page, "overview");
      await shot(page, "05-overview");
      await page.setViewportSize({ width: 375, height: 812 });
      await shot(page, "05-overview-375px");
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check(overflow <= 0, `the overview scrolls sideways at 375 px (${overflow} px)`);
      await page.setViewportSize({ width: 1280, height: 900 });
    }],
    ["upgrade to Pro through the fake Checkout page", async () => {
      await page.getByRole("link", { name: "Billing" }).click();
      await page.getByTestId("current-plan").filter({ hasText: "Free" }).waitFor();
      await axeScan(page, "billing page");
      await shot(page, "06-billing-free");
      const diff = (await page.getByTestId("price-diff-Pro").textContent()) ?? "";
      check(/^\+\$\d[\d,]*\.\d{2} \/ month against Free$/.test(diff), `Pro's price difference: ${diff}`);
      await page.getByRole("button", { name: "Upgrade to Pro" }).click();
      await page.waitForURL(/\/checkout\//);
      await page.locator('button[type="submit"]').click();
      await page.waitForURL(/\/billing\?checkout=success/);
      await page.getByTestId("current-plan").filter({ hasText: "Pro" }).waitFor({ timeout: 20000 });
      await page.getByTestId("quota").filter({ hasText: "50,000" }).waitFor();
      await page.getByRole("table", { name: /invoices/i }).getByText("paid").first().waitFor();
      // The invoice's PDF: its URL from the server, handed to window.open (recorded here, not
      // opened: a PDF tab slows headless Chromium down for the rest of the run).
      await page.evaluate(() => {
        window.__opened = [];
        window.open = (url) => (window.__opened.push(String(url)), {});
      });
      await page.getByRole("table", { name: /invoices/i }).getByRole("button", { name: /^Download/ }).first().click();
      await page.waitForFunction(() => window.__opened.length > 0);
      const opened = await page.evaluate(() => window.__opened[0]);
      check(/\/pdf(\?|$)/.test(opened), `the PDF link: ${opened}`);
      await shot(page, "07-billing-pro");
    }],
    ["cancel at the period's end, then resume", async () => {
      await page.getByRole("button", { name: "Cancel subscription" }).click();
      await page.getByText("Your subscription ends at the end of the period.").waitFor();
      await page.getByText(/ends on \d{4}-\d{2}-\d{2}/).waitFor();
      await page.getByRole("button", { name: "Resume subscription" }).click();
      await page.getByText("Your subscription continues.").waitFor();
      await page.getByRole("button", { name: "Cancel subscription" }).waitFor();
      // The payment methods section answers (the card of the fake Checkout, or none).
      const methods = page.getByRole("region", { name: "Payment methods" });
      await methods.locator('[data-testid="payment-methods"], .state-empty').first().waitFor();
      check((await methods.getByRole("alert").count()) === 0, `payment methods: ${await methods.innerText()}`);
      await methods.getByRole("button", { name: "Add a payment method" }).waitFor();
    }],
    ["rotate the key: the new secret works, the old one stops", async () => {
      await page.getByRole("link", { name: "API keys" }).click();
      await page.getByRole("button", { name: "Rotate e2e key" }).click();
      const rotated = (await page.getByTestId("new-secret").textContent()) ?? "";
      check(/^sk_live_/.test(rotated) && rotated !== ctx.secret, "no new secret after the rotation");
      await until("the old secret refused", async () => (await echo(ctx.secret)) === 401, { tries: 40, delay: 250 });
      check((await echo(rotated)) === 200, "the rotated secret is refused");
      ctx.secret = rotated;
      await page.getByRole("button", { name: "Done" }).click();
    }],
    ["revoke the key: the gateway refuses it", async () => {
      await page.getByRole("button", { name: "Revoke e2e key" }).click();
      await page.getByRole("row", { name: /e2e key/ }).getByText("revoked").waitFor();
      await until("the revoked key refused", async () => (await echo(ctx.secret)) === 401, { tries: 40, delay: 250 });
    }],
    ["settings: a team organization, an invitation, a webhook", async () => {
      await page.getByRole("link", { name: "Settings" }).click();
      await page.getByRole("heading", { name: "Settings", exact: true }).waitFor();
      await page.getByRole("heading", { name: "Members" }).waitFor();
      await page.waitForLoadState("networkidle");
      await axeScan(page, "settings page");
      // Notifications: one mailed event switched, saved.
      await page.getByRole("group", { name: "Mail the organization's owners about" }).getByRole("checkbox").first().click();
      await page.getByRole("button", { name: "Save email notifications" }).click();
      await page.getByText("Email notifications saved.").waitFor();
      await page.getByLabel("New organization").fill("Team e2e");
      await page.getByRole("button", { name: "Create organization" }).click();
      // The new organization is the current one: the switcher in the header names it.
      await until("the switcher on the new organization", async () =>
        (await page.evaluate(() => document.querySelector(".org-switcher select")?.selectedOptions[0]?.textContent ?? null)) === "Team e2e",
      );
      await page.getByLabel("Email to invite").fill("friend@example.com");
      await page.getByRole("button", { name: "Invite" }).click();
      await page.getByText("Invitation sent to friend@example.com.").waitFor();
      await page.getByText(/friend@example.com as member/).waitFor();
      await page.getByLabel("Endpoint URL").fill("http://127.0.0.1:9/hooks/e2e");
      await page.getByRole("button", { name: "Add endpoint" }).click();
      await page.getByText("Choose at least one event type.").waitFor();
      await page.getByRole("group", { name: "Events" }).getByRole("checkbox").first().check();
      await page.getByRole("button", { name: "Add endpoint" }).click();
      await page.getByRole("region", { name: "New signing secret" }).waitFor();
      await page.getByRole("button", { name: "Send a test to http://127.0.0.1:9/hooks/e2e" }).click();
      // The deliveries log opens under the endpoint (the test event's delivery, or none yet).
      await page.getByRole("button", { name: "Deliveries of http://127.0.0.1:9/hooks/e2e" }).click();
      await page.locator('[data-testid="deliveries"], #main .state-empty:has-text("No deliveries")').first().waitFor();
      // Rotating the signing secret shows the new one, once.
      const first = await page.getByRole("region", { name: "New signing secret" }).locator("code").innerText();
      await page.getByRole("button", { name: "Rotate the secret of http://127.0.0.1:9/hooks/e2e" }).click();
      await page.getByText("The signing secret is replaced.").waitFor();
      const second = await page.getByRole("region", { name: "New signing secret" }).locator("code").innerText();
      check(second.startsWith("whsec_") && second !== first, "the rotated secret is not shown");
      await axeScan(page, "settings page (team)");
      await shot(page, "08-settings-team");
      // Back to the personal organization, whose keys the next step shows.
      await page.getByLabel("Organization", { exact: true }).selectOption({ label: "Ada Lovelace (personal)" });
      await page.getByRole("button", { name: "Work in Team e2e" }).waitFor();
    }],
    ["pages at 375 px wide do not scroll sideways", async () => {
      await page.setViewportSize({ width: 375, height: 812 });
      for (const [link, heading] of [["API keys", "API keys"], ["Usage", "Usage"], ["Billing", "Billing"], ["Settings", "Settings"]]) {
        await page.getByRole("link", { name: link, exact: true }).click();
        await page.getByRole("heading", { name: heading, exact: true }).waitFor();
        await page.waitForLoadState("networkidle");
        await page.waitForFunction(() => !document.querySelector(".spinner")); // every section loaded
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        const wide = await page.evaluate(() =>
          [...document.querySelectorAll("body *")]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest(".table-wrap"))
            .slice(0, 5)
            .map((e) => `${e.tagName.toLowerCase()}.${e.className}`),
        );
        check(overflow <= 0, `${link} scrolls sideways at 375 px (${overflow} px): ${wide.join(", ")}`);
      }
      await shot(page, "08-settings-375px");
      await page.setViewportSize({ width: 1280, height: 900 });
    }],
    ["forgot and reset the password from the mail's link", async () => {
      await page.getByRole("button", { name: "Log out" }).click();
      await page.getByRole("heading", { name: "Log in" }).waitFor();
      await page.getByRole("link", { name: "Forgot your password?" }).click();
      await page.getByLabel("Email").fill(email);
      await page.getByRole("button", { name: "Send the link" }).click();
      await page.getByText(/we sent it a link/).waitFor();
      const link = await mailedLink(email, "reset_password");
      await page.goto(link);
      await page.getByLabel("New password", { exact: true }).fill("another-horse-43");
      await page.getByLabel("Repeat the new password").fill("another-horse-44");
      await page.getByRole("button", { name: "Change password" }).click();
      await page.getByText("The two passwords differ.").waitFor();
      await page.getByLabel("Repeat the new password").fill("another-horse-43");
      await page.getByRole("button", { name: "Change password" }).click();
      await page.getByText(/Your password is changed/).waitFor();
      await page.getByRole("link", { name: "Log in" }).last().click();
      await page.getByLabel("Email").fill(email);
      await page.getByLabel("Password").fill("another-horse-43");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("heading", { name: "Overview" }).waitFor();
    }],
    ["the operator finds and suspends the user", async () => {
      const admin = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const a = await admin.newPage();
      watch(a);
      a.setDefaultTimeout(15000);
      a.on("dialog", (d) => d.accept());
      await a.goto(`${BASE}/admin/login`);
      await a.getByLabel("Email").fill(ADMIN.email);
      await a.getByLabel("Password").fill(ADMIN.password);
      await a.getByRole("button", { name: "Log in" }).click();
      await a.getByRole("heading", { name: "Users" }).waitFor();
      await a.getByLabel("Search by email or name").fill(email);
      await a.getByRole("button", { name: "Search" }).click();
      await a.getByRole("link", { name: email }).waitFor();
      await axeScan(a, "operator users page");
      await shot(a, "09-admin-users");
      await a.getByRole("link", { name: email }).click();
      await a.getByRole("heading", { name: email }).waitFor();
      await a.getByRole("button", { name: "Suspend user" }).click();
      await a.getByTestId("user-status").filter({ hasText: "suspended" }).waitFor();
      await axeScan(a, "operator user page");
      await shot(a, "10-admin-user-suspended");
      // Analytics: the platform's figures over the last 30 days (the user above signed up today).
      await a.getByRole("navigation", { name: "Operator" }).getByRole("link", { name: "Analytics" }).click();
      await a.getByRole("heading", { name: "Usage and customers" }).waitFor();
      await a.getByTestId("admin-calls").waitFor();
      await a.waitForLoadState("networkidle");
      const alerts = await a.locator('[role="alert"]').evaluateAll((els) => els.map((e) => e.outerHTML));
      check(alerts.length === 0, `Analytics: ${alerts.join(" ")}`);
      check(/^[\d,]+$/.test(await a.getByTestId("admin-calls").innerText()), "Analytics: no calls figure");
      check(/^[\d,]+$/.test(await a.getByTestId("admin-signups").innerText()), "Analytics: no signups figure");
      await a.getByRole("heading", { name: "Top customers by calls" }).waitFor();
      await axeScan(a, "operator analytics page");
      await shot(a, "11-admin-analytics");
      // Plans: the seeded ones are listed; create one, then delete it (no subscribers).
      await a.getByRole("navigation", { name: "Operator" }).getByRole("link", { name: "Plans" }).click();
      await a.getByRole("heading", { name: "Plans", exact: true }).waitFor();
      await a.getByTestId("plans").getByRole("row", { name: /Pro/ }).first().waitFor();
      await a.getByRole("button", { name: "New plan" }).click();
      await a.getByLabel("Name", { exact: true }).fill("E2E Team");
      await a.getByLabel("Price per period").fill("49");
      await a.getByLabel("Monthly limit (units)").fill("50000");
      await axeScan(a, "operator plans page (form)");
      await a.getByRole("button", { name: "Create plan" }).click();
      await a.getByText("Plan E2E Team created.").waitFor();
      const row = a.getByTestId("plans").getByRole("row", { name: /E2E Team/ });
      check((await row.innerText()).includes("$49.00"), "the new plan's price is not shown");
      await axeScan(a, "operator plans page");
      await shot(a, "11-admin-plans");
      await row.getByRole("button", { name: "Delete E2E Team" }).click();
      await a.getByText("E2E Team is deleted.").waitFor();
      for (const [name, heading] of [["Subscriptions", "Subscriptions"], ["Endpoints", "Endpoints"], ["Audit log", "Audit log"], ["Revenue", "Revenue"], ["Jobs", "Scheduled jobs"]]) {
        await a.getByRole("navigation", { name: "Operator" }).getByRole("link", { name }).click();
        await a.getByRole("heading", { name: heading, exact: true }).waitFor();
        await a.waitForLoadState("networkidle");
        const alerts = await a.locator('[role="alert"]').evaluateAll((els) => els.map((e) => e.outerHTML));
        if (alerts.length) await shot(a, `failure-admin-${name.toLowerCase().replace(/ /g, "-")}`);
        check(alerts.length === 0, `${name}: ${alerts.join(" ")}`);
        await axeScan(a, `operator ${name}`);
        await shot(a, `11-admin-${name.toLowerCase().replace(/ /g, "-")}`);
      }
      // The new operator pages at 375 px: no sideways scrolling outside the tables.
      await a.setViewportSize({ width: 375, height: 812 });
      for (const [name, heading] of [["Analytics", "Usage and customers"], ["Plans", "Plans"], ["Subscriptions", "Subscriptions"], ["Endpoints", "Endpoints"]]) {
        await a.getByRole("navigation", { name: "Operator" }).getByRole("link", { name }).click();
        await a.getByRole("heading", { name: heading, exact: true }).waitFor();
        await a.waitForLoadState("networkidle");
        await a.waitForFunction(() => !document.querySelector(".spinner"));
        const overflow = await a.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        if (overflow > 0) await shot(a, `failure-375-admin-${name.toLowerCase()}`);
        check(overflow <= 0, `operator ${name} scrolls sideways at 375 px (${overflow} px)`);
      }
      await shot(a, "12-admin-endpoints-375");
      await admin.close();
      // The suspended user's session ends: a new login is refused with the server's message.
      const r = await fetch(`${BASE}/api/user/auth/login`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email, password: "another-horse-43" }),
      });
      check(r.status === 403, `a suspended user's login answered ${r.status}`);
    }],
    ["no CSP violation or uncaught error on any page", async () => {
      check(problems.length === 0, problems.join("\n"));
    }],
  ];

  for (const [name, fn] of all) {
    if (!(await step(name, fn))) {
      await shot(page, "failure").catch(() => {});
      // The steps build on each other: the rest cannot run.
      const rest = all.slice(all.findIndex(([n]) => n === name) + 1);
      for (const [skipped] of rest) {
        results.push({ name: skipped, ok: false });
        console.log(`FAIL ${skipped}: not run (an earlier step failed)`);
      }
      break;
    }
  }
} finally {
  await browser.close();
}

const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(`screenshots: ${ARTIFACTS}`);
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

import { describe, expect, it } from "vitest";
import { formatPriceDifference } from "./format";
import { keyExpiry } from "./validate";

describe("an API key's expiry", () => {
  const now = new Date("2026-12-06T16:00:00Z");
  it("is optional", () => {
    expect(keyExpiry("", now)).toEqual({});
    expect(keyExpiry("  ", now)).toEqual({});
  });
  it("is the end of the chosen day UTC, as RFC 3339", () => {
    expect(keyExpiry("2026-12-31", now)).toEqual({ expiresAt: "2026-12-31T23:59:59Z" });
    expect(keyExpiry("2026-12-06", now)).toEqual({ expiresAt: "2026-12-06T23:59:59Z" });
  });
  it("refuses the past, nonsense and more than 3 years away", () => {
    expect(keyExpiry("2026-12-05", now).error).toMatch(/today or a later date/);
    expect(keyExpiry("2020-01-01", now).error).toMatch(/today or a later date/);
    expect(keyExpiry("2027-02-30", now).error).toMatch(/valid date/);
    expect(keyExpiry("next week", now).error).toMatch(/Enter a date/);
    expect(keyExpiry("2030-01-01", now).error).toMatch(/3 years/);
    expect(keyExpiry("2029-12-05", now).expiresAt).toBe("2029-12-05T23:59:59Z");
  });
});

describe("the price difference between plans", () => {
  const plan = (price: number, currency = "usd") => ({ price, currency });
  it("says how much more or less a month", () => {
    expect(formatPriceDifference(plan(2900), plan(900))).toBe("+$20.00 / month");
    expect(formatPriceDifference(plan(0), plan(900))).toBe("\u2212$9.00 / month");
    expect(formatPriceDifference(plan(900), plan(900))).toBe("same price");
  });
  it("compares the same currency only", () => {
    expect(formatPriceDifference(plan(2900, "eur"), plan(900))).toBeNull();
    expect(formatPriceDifference(plan(2900, "USD"), plan(900))).toBe("+$20.00 / month");
  });
});

describe("the call log's status filter", () => {
  it("takes any status (empty) or a code from 100 to 599", async () => {
    const { parseStatus } = await import("../pages/Usage");
    expect(parseStatus("")).toEqual({});
    expect(parseStatus(" 404 ")).toEqual({ status: 404 });
    expect(parseStatus("42").error).toMatch(/100 to 599/);
    expect(parseStatus("600").error).toMatch(/100 to 599/);
    expect(parseStatus("2xx").error).toMatch(/100 to 599/);
  });
});

import { describe, expect, it } from "vitest";
import { email, isValid, password } from "./validate";
import { validateSignup } from "../pages/Signup";

describe("form validation", () => {
  it("checks emails", () => {
    expect(email("")).toMatch(/Enter your email/);
    expect(email("ada")).toMatch(/valid email/);
    expect(email(" ada@example.com ")).toBeUndefined();
  });

  it("applies the password policy", () => {
    expect(password("short1")).toMatch(/at least 10/);
    expect(password("aaaaaaaaaaaa")).toMatch(/letter and one digit/);
    expect(password("1111111111")).toMatch(/letter and one digit/);
    expect(password("ada-lovelace-1", "lovelace@example.com")).toMatch(/email address/);
    expect(password("correct-horse-42", "ada@example.com")).toBeUndefined();
  });

  it("checks the whole sign-up form", () => {
    const errors = validateSignup({ first_name: " ", last_name: "Lovelace", email: "nope", password: "x", company_name: "" });
    expect(Object.keys(errors).sort()).toEqual(["email", "first_name", "password"]);
    expect(
      isValid(validateSignup({ first_name: "Ada", last_name: "Lovelace", email: "ada@example.com", password: "correct-horse-42", company_name: "" })),
    ).toBe(true);
  });
});

describe("the webhook form", async () => {
  const { validateWebhook } = await import("../pages/Webhooks");
  it("needs a full http(s) address and an event type", () => {
    expect(Object.keys(validateWebhook("example.com/hook", []))).toEqual(["url", "events"]);
    expect(validateWebhook("ftp://example.com/x", ["quota.exceeded"]).url).toMatch(/https/);
    expect(validateWebhook("https://example.com/hook", ["quota.exceeded"])).toEqual({});
  });
});

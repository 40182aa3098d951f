// Client-side checks mirroring the server's rules (the OpenAPI document's lengths and the
// password policy), so a form says what is wrong before it sends anything. The server
// checks again; its message is shown when it refuses.

export type Errors<K extends string> = Partial<Record<K, string>>;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function email(value: string): string | undefined {
  const v = value.trim();
  if (!v) return "Enter your email address.";
  if (v.length > 254 || !EMAIL.test(v)) return "Enter a valid email address, like ada@example.com.";
  return undefined;
}

/** The password policy: 10 to 128 characters, a letter and a digit or symbol, not one repeated character. */
export function password(value: string, emailValue?: string): string | undefined {
  if (!value) return "Enter a password.";
  if (value.length < 10) return "Use at least 10 characters.";
  if (value.length > 128) return "Use at most 128 characters.";
  if (!/\p{L}/u.test(value) || !/[^\p{L}]/u.test(value)) return "Use at least one letter and one digit or symbol.";
  if (new Set(value).size === 1) return "Do not repeat a single character.";
  const local = emailValue?.split("@")[0]?.toLowerCase();
  if (local && local.length >= 3 && value.toLowerCase().includes(local)) return "Do not use your email address in the password.";
  return undefined;
}

export function name(value: string, label: string, max = 100): string | undefined {
  const v = value.trim();
  if (!v) return `Enter ${label}.`;
  if (v.length > max) return `Use at most ${max} characters.`;
  // eslint-disable-next-line no-control-regex -- the server refuses control characters
  if (/[\u0000-\u001f\u007f-\u009f]/.test(v)) return "Remove control characters.";
  return undefined;
}

export function required(value: string, message: string): string | undefined {
  return value.trim() ? undefined : message;
}

/** Keeps the defined messages only; empty: the form is valid. */
export function collect<K extends string>(checks: Record<K, string | undefined>): Errors<K> {
  const out: Errors<K> = {};
  for (const [k, v] of Object.entries(checks) as [K, string | undefined][]) if (v) out[k] = v;
  return out;
}

export function isValid<K extends string>(errors: Errors<K>): boolean {
  return Object.keys(errors).length === 0;
}

/**
 * An API key's optional expiry from a date input (`YYYY-MM-DD`): the end of that day UTC as
 * RFC 3339, or an error. Empty: no expiry. The server refuses the past and more than 3 years.
 */
export function keyExpiry(value: string, now = new Date()): { error?: string; expiresAt?: string } {
  const v = value.trim();
  if (!v) return {};
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) return { error: "Enter a date, like 2027-01-31." };
  const end = new Date(`${v}T23:59:59Z`);
  if (Number.isNaN(end.getTime()) || end.toISOString().slice(0, 10) !== v) return { error: "Enter a valid date." };
  if (end.getTime() <= now.getTime()) return { error: "Choose today or a later date." };
  const max = new Date(now);
  max.setUTCFullYear(max.getUTCFullYear() + 3);
  if (end.getTime() > max.getTime()) return { error: "Choose a date at most 3 years away." };
  return { expiresAt: end.toISOString().replace(".000Z", "Z") };
}

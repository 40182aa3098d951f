export function formatNumber(n: number | null | undefined): string {
  return n == null ? "-" : new Intl.NumberFormat("en-US").format(n);
}

/** Minor units (cents) of `currency` as money. */
export function formatMoney(minor: number | null | undefined, currency = "usd"): string {
  if (minor == null) return "-";
  return new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() }).format(minor / 100);
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "-";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "-" : d.toISOString().slice(0, 10);
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return "-";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "-" : d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function formatPercent(ratio: number | null | undefined, digits = 1): string {
  return ratio == null ? "-" : `${(ratio * 100).toFixed(digits)} %`;
}

export function daysLeft(endIso: string, now = new Date()): number {
  return Math.max(0, Math.ceil((new Date(endIso).getTime() - now.getTime()) / 86_400_000));
}

/**
 * The monthly price difference of `target` against `current` ("+$20.00 / month",
 * "−$9.00 / month"), or null when the currencies differ.
 */
export function formatPriceDifference(
  target: { price: number; currency: string },
  current: { price: number; currency: string },
): string | null {
  if (target.currency.toLowerCase() !== current.currency.toLowerCase()) return null;
  const diff = target.price - current.price;
  if (diff === 0) return "same price";
  return `${diff > 0 ? "+" : "\u2212"}${formatMoney(Math.abs(diff), target.currency)} / month`;
}

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

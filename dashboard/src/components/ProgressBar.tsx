/** Usage against a quota: a native progress bar (announced as such) with its figures. */
export function ProgressBar({ value, max, label }: { value: number; max: number; label: string }) {
  const pct = max > 0 ? (value / max) * 100 : 0;
  const level = pct >= 90 ? "high" : pct >= 75 ? "mid" : "low";
  return (
    <progress className={`progress progress-${level}`} value={Math.min(value, max)} max={max} aria-label={label}>
      {pct.toFixed(1)} %
    </progress>
  );
}

// A time chart on uPlot (loaded on demand: see ./LazyChart). Canvas, so it carries a text
// summary for screen readers; the same figures are in the page's tables.
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  label: string;
  values: (number | null)[];
  color: string;
}

export interface TimeChartProps {
  /** Seconds since the epoch, one per point. */
  times: number[];
  series: Series[];
  label: string;
  height?: number;
}

export default function TimeChart({ times, series, label, height = 220 }: TimeChartProps) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(280, el.clientWidth);
    const plot = new uPlot(
      {
        width,
        height,
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, fill: `${s.color}22` }))],
        axes: [{}, { size: 60 }],
        scales: { x: { time: true } },
        legend: { show: true },
      },
      [times, ...series.map((s) => s.values)],
      el,
    );
    const resize = () => plot.setSize({ width: Math.max(280, el.clientWidth), height });
    window.addEventListener("resize", resize);
    return () => {
      window.removeEventListener("resize", resize);
      plot.destroy();
    };
  }, [times, series, height]);
  return <div className="chart" ref={box} role="img" aria-label={label} />;
}

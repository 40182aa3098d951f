import { lazy, Suspense } from "react";
import type { TimeChartProps } from "./TimeChart";
import { ErrorBoundary } from "../components/ErrorBoundary";
import { Loading } from "../components/States";

// uPlot is its own chunk, fetched the first time a chart is shown.
const TimeChart = lazy(() => import("./TimeChart"));

export function LazyTimeChart(props: TimeChartProps) {
  return (
    <ErrorBoundary what="chart">
      <Suspense fallback={<Loading label="Loading the chart" />}>
        <TimeChart {...props} />
      </Suspense>
    </ErrorBoundary>
  );
}

import { useCallback, useEffect, useRef, useState } from "react";

export type AsyncState<T> =
  | { status: "loading"; data?: undefined; error?: undefined }
  | { status: "ok"; data: T; error?: undefined }
  | { status: "error"; data?: undefined; error: unknown };

/**
 * Runs `load` when `deps` change; `reload()` runs it again. Stale answers are dropped.
 *
 * A reload keeps the data on screen until its answer arrives (after a save, the forms stay
 * mounted, with what the user typed in them); new `deps` are other data, so they show the
 * loading state, as does a retry after an error.
 */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): AsyncState<T> & { reload: () => void } {
  const [state, setState] = useState<AsyncState<T>>({ status: "loading" });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const loadedDeps = useRef<unknown[] | null>(null);
  useEffect(() => {
    let live = true;
    const previous = loadedDeps.current;
    const sameDeps = previous !== null && previous.length === deps.length && previous.every((d, i) => Object.is(d, deps[i]));
    loadedDeps.current = deps;
    setState((current) => (sameDeps && current.status === "ok" ? current : { status: "loading" }));
    loadRef.current().then(
      (data) => live && setState({ status: "ok", data }),
      (error: unknown) => live && setState({ status: "error", error }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

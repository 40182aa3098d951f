import { useCallback, useState } from "react";

export interface Action {
  /** True while a `run` is in progress. */
  busy: boolean;
  /** What the last `run` threw; null after a `run` starts or when there was nothing. */
  error: unknown;
  /** Sets `busy`, clears `error`, awaits `fn`, records what it throws, clears `busy`. Never rejects. */
  run: (fn: () => Promise<unknown>) => Promise<void>;
  /** Sets or clears `error` directly (e.g. for a failure found outside a `run`). */
  setError: (error: unknown) => void;
}

/**
 * The submit dance of a form or button: one action at a time, its error shown until the next try.
 *
 *     const { busy, error, run } = useAction();
 *     <form onSubmit={(e) => { e.preventDefault(); void run(async () => unwrap(await api.POST(...))); }}>
 */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = useCallback(async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, setError };
}

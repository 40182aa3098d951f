import { act, renderHook } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { useAction } from "./useAction";

describe("useAction", () => {
  it("is busy while running, records a thrown error, and clears it on the next run", async () => {
    const { result } = renderHook(() => useAction());
    expect(result.current.busy).toBe(false);
    expect(result.current.error).toBeNull();

    let fail!: (e: unknown) => void;
    let pending!: Promise<void>;
    act(() => {
      pending = result.current.run(() => new Promise((_, reject) => (fail = reject)));
    });
    expect(result.current.busy).toBe(true);
    const boom = new Error("boom");
    await act(async () => {
      fail(boom);
      await pending;
    });
    expect(result.current.busy).toBe(false);
    expect(result.current.error).toBe(boom);

    let finish!: () => void;
    act(() => {
      pending = result.current.run(() => new Promise<void>((resolve) => (finish = resolve)));
    });
    expect(result.current.busy).toBe(true);
    expect(result.current.error).toBeNull();
    await act(async () => {
      finish();
      await pending;
    });
    expect(result.current.busy).toBe(false);
    expect(result.current.error).toBeNull();
  });

  it("lets the caller set the error directly", () => {
    const { result } = renderHook(() => useAction());
    act(() => result.current.setError("nope"));
    expect(result.current.error).toBe("nope");
  });
});

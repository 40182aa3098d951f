import { act, renderHook } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { useAsync } from "./useAsync";

describe("useAsync", () => {
  it("keeps the data on screen while a reload runs, and shows loading for other deps", async () => {
    let answer = 1;
    let release: () => void = () => {};
    const load = () =>
      new Promise<number>((resolve) => {
        const value = answer;
        release = () => resolve(value);
      });
    const { result, rerender } = renderHook(({ id }) => useAsync(load, [id]), { initialProps: { id: "a" } });
    expect(result.current.status).toBe("loading");
    await act(async () => release());
    expect(result.current).toMatchObject({ status: "ok", data: 1 });

    // A reload (after a save, say) leaves the forms in place until the new answer arrives.
    answer = 2;
    act(() => result.current.reload());
    expect(result.current).toMatchObject({ status: "ok", data: 1 });
    await act(async () => release());
    expect(result.current).toMatchObject({ status: "ok", data: 2 });

    // Other deps are other data: the old one is not shown while they load.
    answer = 3;
    rerender({ id: "b" });
    expect(result.current.status).toBe("loading");
    await act(async () => release());
    expect(result.current).toMatchObject({ status: "ok", data: 3 });
  });

  it("shows loading again when retrying after an error", async () => {
    let fail = true;
    let settle: () => void = () => {};
    const load = () =>
      new Promise<string>((resolve, reject) => {
        const failing = fail;
        settle = () => (failing ? reject(new Error("down")) : resolve("up"));
      });
    const { result } = renderHook(() => useAsync(load, []));
    await act(async () => settle());
    expect(result.current.status).toBe("error");
    fail = false;
    act(() => result.current.reload());
    expect(result.current.status).toBe("loading");
    await act(async () => settle());
    expect(result.current).toMatchObject({ status: "ok", data: "up" });
  });
});

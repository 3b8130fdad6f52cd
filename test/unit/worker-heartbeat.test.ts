/** The worker's heartbeat throttle (lib/worker/heartbeat.ts): at most one send an interval, the last call never lost. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Json } from "../../lib/language/model.js";
import { quarterOf, throttled, together } from "../../lib/worker/heartbeat.js";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("heartbeats", () => {
  it("sends the first call at once and the calls within an interval once, at its end, with the latest details", async () => {
    const sent: { at: number; details?: Json }[] = [];
    const start = Date.now();
    const beats = throttled(
      async (details) => void sent.push({ at: Date.now() - start, details }),
      1000,
      () => undefined,
    );
    await beats.beat({ i: 0 });
    for (let i = 1; i <= 9; i++) {
      await vi.advanceTimersByTimeAsync(100);
      await beats.beat({ i });
    }
    expect(sent).toEqual([{ at: 0, details: { i: 0 } }]);
    await vi.advanceTimersByTimeAsync(100);
    expect(sent).toEqual([
      { at: 0, details: { i: 0 } },
      { at: 1000, details: { i: 9 } },
    ]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(sent).toHaveLength(2); // nothing called since: nothing sent
  });

  it("sends nothing after close, not even a call waiting for the interval's end", async () => {
    const sent: unknown[] = [];
    const beats = throttled(
      async (details) => void sent.push(details),
      1000,
      () => undefined,
    );
    await beats.beat(1);
    await beats.beat(2);
    beats.close();
    await beats.beat(3);
    await vi.advanceTimersByTimeAsync(2000);
    expect(sent).toEqual([1]);
  });

  it("logs a failed trailing send instead of throwing it at no one", async () => {
    const logged: string[] = [];
    let calls = 0;
    const send = async () => {
      calls += 1;
      if (calls > 1) throw new Error("queue gone");
    };
    const beats = throttled(send, 1000, (line) => logged.push(line));
    await beats.beat();
    await beats.beat();
    await vi.advanceTimersByTimeAsync(1000);
    expect(logged).toEqual(["docket worker: heartbeat: queue gone"]);
  });

  it("never rejects into the handler: a failed send is logged, even the first", async () => {
    const logged: string[] = [];
    const beats = throttled(
      async () => Promise.reject(new Error("lease lost")),
      1000,
      (line) => logged.push(line),
    );
    await expect(beats.beat()).resolves.toBeUndefined();
    expect(logged).toEqual(["docket worker: heartbeat: lease lost"]);
  });

  it("closes only once the send under way has finished, so nothing follows the reply", async () => {
    const order: string[] = [];
    const beats = throttled(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 500));
        order.push("heartbeat sent");
      },
      100,
      () => undefined,
    );
    void beats.beat();
    const closed = beats.close().then(() => order.push("closed"));
    await vi.advanceTimersByTimeAsync(1000);
    await closed;
    expect(order).toEqual(["heartbeat sent", "closed"]);
  });

  it("beats its parts together, each at its own interval", async () => {
    const sent: string[] = [];
    const part = (name: string, ms: number) =>
      throttled(
        async () => void sent.push(name),
        ms,
        () => undefined,
      );
    const beats = together([part("lease", 100), part("engine", 1000)]);
    for (let i = 0; i < 10; i++) {
      await beats.beat();
      await vi.advanceTimersByTimeAsync(100);
    }
    await beats.close();
    expect(sent.filter((name) => name === "lease").length).toBeGreaterThanOrEqual(9);
    expect(sent.filter((name) => name === "engine")).toEqual(["engine", "engine"]);
  });

  it("beats a quarter of the interval it keeps, at least every 100 ms", () => {
    expect(quarterOf(300)).toBe(75_000);
    expect(quarterOf(60)).toBe(15_000);
    expect(quarterOf(0.1)).toBe(100);
  });
});

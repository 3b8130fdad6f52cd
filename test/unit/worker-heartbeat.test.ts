/** The worker's heartbeat throttle (lib/worker/heartbeat.ts): at most one send an interval, the last call never lost. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Json } from "../../lib/language/model.js";
import { heartbeatInterval, heartbeats } from "../../lib/worker/heartbeat.js";

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
    const beats = heartbeats(
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
    const beats = heartbeats(
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
    const beats = heartbeats(send, 1000, (line) => logged.push(line));
    await beats.beat();
    await beats.beat();
    await vi.advanceTimersByTimeAsync(1000);
    expect(logged).toEqual(["docket worker: heartbeat: queue gone"]);
  });

  it("beats a quarter of the lease or of the action's heartbeat, whichever is shorter", () => {
    expect(heartbeatInterval(300)).toBe(75_000);
    expect(heartbeatInterval(300, 60)).toBe(15_000);
    expect(heartbeatInterval(1, 60)).toBe(250);
    expect(heartbeatInterval(0.1)).toBe(100);
  });
});

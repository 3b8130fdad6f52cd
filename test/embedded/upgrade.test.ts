/**
 * Docket upgrades on the embedded host: instances stored by an earlier docket (snapshot format 1,
 * test/fixtures/snapshots) run to their end on this one, and an instance started under one set of
 * rules (semantics 1) finishes under the next, each step under the rules it was applied under.
 */
import { describe, expect, it } from "vitest";
import type { Message } from "../../lib/engine/types.js";
import { DAY, driveToEnd, formatOne, RETRYING, timerDelays } from "../support/upgrade.js";
import { open, project } from "./helpers.js";

describe("an engine upgrade, embedded", () => {
  it("runs each instance an earlier docket stored (format 1) to its end", async () => {
    const fixtures = formatOne();
    const { config } = project({ "definitions/upgrade.yaml": fixtures.source });
    // Stored as the earlier docket wrote them (their JSON: format 1, no semantics), then read
    // afresh by a docket that never saw them.
    const writer = await open(config, { participants: false });
    const record = { at: 0, message: { type: "launch", instance: "x" } as Message, commands: [], notes: [] };
    for (const stored of Object.values(fixtures.snapshots))
      await writer.store.save(
        { snapshot: stored as never, outbox: [], definition: fixtures.hash },
        record,
        undefined,
      );
    await writer.close();
    const engine = await open(config, { participants: false });
    try {
      for (const id of Object.keys(fixtures.snapshots)) {
        const loaded = await engine.snapshot(id);
        expect([loaded?.format, loaded?.semantics]).toEqual([2, 1]);
        const apply = async (message: Message) => {
          await engine.enqueue(id, message);
          await engine.settleInstance(id);
        };
        const ended = await driveToEnd(id, () => engine.snapshot(id), apply);
        expect([id, ended.status, ended.semantics]).toEqual([id, "completed", 2]);
      }
    } finally {
      await engine.close();
    }
  });

  it("finishes an instance started under semantics 1 under semantics 2, each step under its own", async () => {
    const { config } = project({ "definitions/flaky.yaml": RETRYING });
    let now = Date.parse("2026-03-01T00:00:00Z");
    const clock = { now: () => now };
    const step = async (engine: Awaited<ReturnType<typeof open>>, message: Message, after = 0) => {
      now += after;
      await engine.enqueue("r-1", message);
      return engine.settleInstance("r-1");
    };
    const fail = (attempt: number): Message => ({
      type: "reply",
      task: { id: `r-1/0.0/${attempt}`, node: "0.0", attempt, instance: "r-1" },
      status: "error",
      error: { message: "busy" },
    });
    const backoff = async (engine: Awaited<ReturnType<typeof open>>, after: number) => {
      const state = (await engine.snapshot("r-1"))?.nodes.find(([path]) => path === "0.0")?.[1];
      const timer = state?.k === "action" ? (state.timer as string) : "";
      return step(engine, { type: "timer", node: "0.0", timer }, after);
    };

    const before = await open(config, { participants: false, clock, semantics: 1 });
    await before.launch({ process: "flaky", id: "r-1" });
    await before.settleInstance("r-1");
    await step(before, fail(1));
    await backoff(before, DAY);
    await step(before, fail(2)); // semantics 1: the backoff doubles, to two days
    await before.close();

    const after = await open(config, { participants: false, clock });
    await backoff(after, 2 * DAY);
    await step(after, fail(3)); // semantics 2: four days capped at one
    await backoff(after, DAY);
    const done = await step(after, {
      type: "reply",
      task: { id: "r-1/0.0/4", node: "0.0", attempt: 4, instance: "r-1" },
      status: "done",
    });
    expect([done?.status, done?.semantics]).toEqual(["completed", 2]);
    const history = await after.store.history("r-1");
    expect(timerDelays(history.records)).toEqual([DAY, 2 * DAY, DAY]);
    await after.close();
  });
});

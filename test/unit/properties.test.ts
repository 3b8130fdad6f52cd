/**
 * Properties of the interpreter under any delivery: replies in any order, with duplicates and
 * redeliveries of messages already applied (what a crash between save and acknowledge causes).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { rootContext, type TaskCommand } from "../../lib/engine/index.js";
import { readDefinition } from "../../lib/language/index.js";
import type { JsonObject } from "../../lib/language/model.js";
import { MemoryRuntime } from "../../lib/runtime/memory.js";

const definition = readDefinition(
  `process: shuffled
context: { a0: 0, b1: 0, c1: 0, c2: 0, z: 0, total: 0 }
do:
  - action: a0
  - all:
      do:
        - action: b1
        - sequence: { do: [ { action: c1 }, { action: c2 } ] }
        - foreach: { select: "[1, 2, 3]", parallel: true, do: [ { action: d } ] }
        - action: { participant: e, retry: 2 }
  - action: z
`,
  { format: "yaml" },
);

/** What a participant answers: its own key set, so the final context does not depend on order. */
function answer(task: TaskCommand): JsonObject {
  return { ...task.fields, [task.task.participant]: 1 };
}

interface Schedule {
  /** Which open task answers next (index modulo the open tasks). */
  readonly picks: readonly number[];
  /** After each reply, whether to redeliver an earlier message (index modulo the replies so far). */
  readonly redeliver: readonly (number | null)[];
  /** Whether `e` first fails with an error reply (retried). */
  readonly flaky: boolean;
}

function runSchedule(schedule: Schedule) {
  const runtime = new MemoryRuntime({ resolve: () => definition });
  runtime.launch(definition, "p");
  const sent: { instance: string; message: Parameters<MemoryRuntime["send"]>[1] }[] = [];
  let step = 0;
  let failedOnce = false;
  const allCompletedEarly: string[] = [];
  for (let open = runtime.openTasks(); open.length; open = runtime.openTasks(), step++) {
    if (step > 200) throw new Error("no progress");
    const task = open[(schedule.picks[step % schedule.picks.length] ?? 0) % open.length] as TaskCommand;
    const fail: boolean = schedule.flaky && task.task.participant === "e" && !failedOnce;
    failedOnce ||= fail;
    const message = fail
      ? ({ type: "reply", task: task.task, status: "error", error: { message: "flaky" } } as const)
      : ({ type: "reply", task: task.task, status: "done", fields: answer(task) } as const);
    runtime.send("p", message);
    sent.push({ instance: "p", message });
    const again = schedule.redeliver[step % Math.max(1, schedule.redeliver.length)];
    if (again !== null && again !== undefined) {
      const earlier = sent[again % sent.length];
      if (earlier) runtime.send(earlier.instance, earlier.message);
    }
    // The all must not complete while any of its branches still has an open task.
    const snapshot = runtime.instances.get("p");
    const branchOpen = runtime.openTasks().some((t) => t.task.node.startsWith("0.1."));
    if (branchOpen && snapshot?.nodes.every(([path]) => path !== "0.1"))
      allCompletedEarly.push(`step ${step}`);
  }
  return { runtime, allCompletedEarly };
}

const inOrder = runSchedule({ picks: [0], redeliver: [null], flaky: false });
const schedules = fc.record({
  picks: fc.array(fc.nat(20), { minLength: 1, maxLength: 30 }),
  redeliver: fc.array(fc.option(fc.nat(50), { nil: null }), { minLength: 1, maxLength: 30 }),
  flaky: fc.boolean(),
});

describe("under any order and duplication of replies", () => {
  it("the in-order run completes with every participant's key", () => {
    const snapshot = inOrder.runtime.instances.get("p");
    expect(snapshot?.status).toBe("completed");
    expect(rootContext(snapshot ?? ({} as never))).toMatchObject({ a0: 1, b1: 1, c1: 1, c2: 1, e: 1, z: 1 });
  });

  it("an instance ends in the same state as in order", () => {
    fc.assert(
      fc.property(schedules, (schedule) => {
        const { runtime } = runSchedule(schedule);
        const snapshot = runtime.instances.get("p");
        expect(snapshot?.status).toBe("completed");
        expect(rootContext(snapshot ?? ({} as never))).toEqual(
          rootContext(inOrder.runtime.instances.get("p") ?? ({} as never)),
        );
      }),
      { numRuns: 300 },
    );
  });

  it("no task is dispatched twice for one attempt", () => {
    fc.assert(
      fc.property(schedules, (schedule) => {
        const { runtime } = runSchedule(schedule);
        const ids = runtime.dispatched.map((t) => t.task.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(runtime.duplicateDispatches).toEqual([]);
        const perNode = new Map<string, number[]>();
        for (const t of runtime.dispatched)
          perNode.set(t.task.node, [...(perNode.get(t.task.node) ?? []), t.task.attempt]);
        for (const attempts of perNode.values()) expect(attempts).toEqual(attempts.map((_, i) => i + 1));
      }),
      { numRuns: 300 },
    );
  });

  it("all never completes before each branch", () => {
    fc.assert(
      fc.property(schedules, (schedule) => {
        expect(runSchedule(schedule).allCompletedEarly).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it("redelivering any applied message changes nothing", () => {
    fc.assert(
      fc.property(schedules, fc.nat(100), (schedule, pick) => {
        const { runtime } = runSchedule(schedule);
        const before = runtime.instances.get("p");
        const history = runtime.history.get("p") ?? [];
        const entry = history[pick % history.length];
        if (entry) runtime.send("p", entry.message);
        expect(runtime.instances.get("p")).toBe(before);
      }),
      { numRuns: 200 },
    );
  });
});

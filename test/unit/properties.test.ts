/**
 * Properties of the interpreter under any delivery: replies in any order, with duplicates and
 * redeliveries of messages already applied (what a crash between save and acknowledge causes).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { rootContext, type TaskCommand } from "../../lib/engine/index.js";
import type { Message } from "../../lib/engine/types.js";
import { InfrastructureError } from "../../lib/errors.js";
import { readDefinition } from "../../lib/language/index.js";
import type { JsonObject } from "../../lib/language/model.js";
import { MemoryHost } from "../../lib/runtime/memory-host.js";

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
  /** Which task sends (1-based, counting each try) fail after their step is saved. */
  readonly failSends: readonly number[];
}

async function runSchedule(schedule: Schedule) {
  const runtime = new MemoryHost();
  runtime.definitions.add(definition);
  const failedSends = failSomeSends(runtime, schedule.failSends);
  await runtime.launch(definition.name, { id: "p" });
  const sent: Message[] = [];
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
    await runtime.send("p", message);
    sent.push(message);
    const again = schedule.redeliver[step % Math.max(1, schedule.redeliver.length)];
    if (again !== null && again !== undefined) {
      const earlier = sent[again % sent.length];
      if (earlier) await runtime.send("p", earlier);
    }
    // The all must not complete while any of its branches still has an open task.
    const snapshot = runtime.snapshot("p");
    const branchOpen = runtime.openTasks().some((t) => t.task.node.startsWith("0.1."));
    if (branchOpen && snapshot?.nodes.every(([path]) => path !== "0.1"))
      allCompletedEarly.push(`step ${step}`);
  }
  return { runtime, allCompletedEarly, failedSends: failedSends.count };
}

/**
 * Makes the n-th task send fail for each n in `which` (a crash after the step was saved, before its
 * commands went out): the host redelivers the message, and the saved outbox must go out then.
 */
function failSomeSends(runtime: MemoryHost, which: readonly number[]): { count: number } {
  const failures = { count: 0 };
  const send = runtime.dispatcher.sendTask.bind(runtime.dispatcher);
  let calls = 0;
  runtime.dispatcher.sendTask = async (command) => {
    calls += 1;
    if (which.includes(calls)) {
      failures.count += 1;
      throw new InfrastructureError(`send ${calls} failed`);
    }
    return send(command);
  };
  return failures;
}

const inOrder = await runSchedule({ picks: [0], redeliver: [null], flaky: false, failSends: [] });
const schedules = fc.record({
  picks: fc.array(fc.nat(20), { minLength: 1, maxLength: 30 }),
  redeliver: fc.array(fc.option(fc.nat(50), { nil: null }), { minLength: 1, maxLength: 30 }),
  flaky: fc.boolean(),
  failSends: fc.array(fc.integer({ min: 1, max: 12 }), { maxLength: 4 }),
});

describe("under any order and duplication of replies", () => {
  it("the in-order run completes with every participant's key", () => {
    const snapshot = inOrder.runtime.snapshot("p");
    expect(snapshot?.status).toBe("completed");
    expect(rootContext(snapshot ?? ({} as never))).toMatchObject({ a0: 1, b1: 1, c1: 1, c2: 1, e: 1, z: 1 });
  });

  it("an instance ends in the same state as in order, whichever sends failed after their save", async () => {
    await fc.assert(
      fc.asyncProperty(schedules, async (schedule) => {
        const { runtime } = await runSchedule(schedule);
        const snapshot = runtime.snapshot("p");
        expect(snapshot?.status).toBe("completed");
        expect(rootContext(snapshot ?? ({} as never))).toEqual(
          rootContext(inOrder.runtime.snapshot("p") ?? ({} as never)),
        );
        expect(runtime.setAside).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it("no task is dispatched twice for one attempt", async () => {
    await fc.assert(
      fc.asyncProperty(schedules, async (schedule) => {
        const { runtime, failedSends } = await runSchedule(schedule);
        const ids = runtime.dispatched.map((t) => t.task.id);
        expect(new Set(ids).size).toBe(ids.length);
        // A step's tasks go out again only when a send of that step failed (receivers deduplicate by id).
        if (failedSends === 0) expect(runtime.dispatcher.duplicateDispatches).toEqual([]);
        const perNode = new Map<string, number[]>();
        for (const t of runtime.dispatched)
          perNode.set(t.task.node, [...(perNode.get(t.task.node) ?? []), t.task.attempt]);
        for (const attempts of perNode.values()) expect(attempts).toEqual(attempts.map((_, i) => i + 1));
      }),
      { numRuns: 300 },
    );
  });

  it("all never completes before each branch", async () => {
    await fc.assert(
      fc.asyncProperty(schedules, async (schedule) => {
        expect((await runSchedule(schedule)).allCompletedEarly).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it("redelivering any applied message changes nothing", async () => {
    await fc.assert(
      fc.asyncProperty(schedules, fc.nat(100), async (schedule, pick) => {
        const { runtime } = await runSchedule(schedule);
        const before = runtime.snapshot("p");
        const history = runtime.history("p");
        const entry = history[pick % history.length];
        if (entry) await runtime.send("p", entry.message);
        expect(runtime.snapshot("p")).toBe(before);
      }),
      { numRuns: 200 },
    );
  });
});

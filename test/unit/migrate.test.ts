/** Migration planning and moving (lib/engine/migrate.ts), through transition() on both sides. */
import { describe, expect, it } from "vitest";
import { migrate, type Snapshot, transition } from "../../lib/engine/index.js";
import { readDefinition } from "../../lib/language/index.js";

const read = (source: string) => readDefinition(source, { file: "p.yaml" });
const V1 = read(`process: p
context: { n: 0 }
do:
  - action: { participant: a, id: first }
  - action: { participant: b, id: second, timeout: PT1H }
  - action: c
`);

/** An instance of V1 waiting for b (its second action), the task sent. */
function waitingForB(): Snapshot {
  let { snapshot } = transition(V1, undefined, { type: "launch", instance: "i" }, 0);
  ({ snapshot } = transition(V1, snapshot, reply("i/0.0/1", "0.0"), 1));
  return snapshot;
}
function reply(id: string, node: string, fields = {}) {
  return { type: "reply" as const, task: { id, node, attempt: 1 }, status: "done" as const, fields };
}

describe("migrate", () => {
  it("moves an active action by its stable id, keeps its task, and takes the old task's reply to it", () => {
    const v2 = read(`process: p
context: { n: 0, audited: false }
do:
  - action: { participant: a, id: first }
  - action: inserted
  - action: { participant: b, id: second, timeout: PT1H }
  - action: d
`);
    const { plan, snapshot } = migrate(waitingForB(), V1, v2, "v2");
    expect(plan).toEqual({
      instance: "i",
      moves: [{ from: "0.1", to: "0.2", kind: "action" }],
      added: ["0.audited"],
      problems: [],
    });
    const moved = snapshot as Snapshot;
    expect(moved.nodes).toEqual([
      ["0", { k: "seq", i: 2 }],
      ["0.2", expect.objectContaining({ k: "action", task: "i/0.1/1" })],
    ]);
    // The worker answers the task it was sent (node 0.1): the action at 0.2 completes, then d runs.
    const after = transition(v2, moved, reply("i/0.1/1", "0.1", { b: true }), 2);
    expect(after.commands.find((c) => c.type === "task")).toMatchObject({
      task: { node: "0.3", participant: "d" },
    });
    expect(after.commands.some((c) => c.type === "cancel-timer")).toBe(true);
    expect(after.snapshot.scopes[0]?.[1]).toMatchObject({ b: true, audited: false });
  });

  it("refuses, with every problem, what has no counterpart, changed kind or changed activity", () => {
    const v2 = read(`process: p
do:
  - action: { participant: a, id: first }
  - delay: { duration: 10, id: second }
`);
    const { plan, snapshot } = migrate(waitingForB(), V1, v2, "v2");
    expect(snapshot).toBeUndefined();
    expect(plan.problems).toEqual([
      '0.1 (action "second") maps to 0.1, a delay: an active node keeps its kind',
    ]);
    const unnamed = read("process: p\ndo:\n  - action: a\n  - action: clerk\n");
    expect(migrate(waitingForB(), V1, unnamed, "v3").plan.problems).toEqual([
      '0.1 (action "second") has no counterpart in the new version: map it (old=new)',
    ]);
  });

  it("follows an explicit mapping, by stable id or path, and names a mapping that names nothing", () => {
    const v2 = read("process: p\ndo:\n  - action: a\n  - action: clerk\n");
    expect(migrate(waitingForB(), V1, v2, "v2", { second: "0.1" }).plan).toMatchObject({
      problems: [],
      moves: [],
    });
    expect(migrate(waitingForB(), V1, v2, "v2", { nope: "0.1", second: "0.9" }).plan.problems).toEqual([
      "map nope=0.1: nope is neither an id nor a path in the instance's version",
      "map second=0.9: 0.9 is neither an id nor a path in the new version",
      '0.1 (action "second") has no counterpart in the new version: map it (old=new)',
    ]);
  });

  it("refuses a node moved out of its container, a parallel block that gains a branch, a finished instance", () => {
    const nested = read(`process: p
do:
  - action: { participant: a, id: first }
  - sequence:
      do:
        - action: { participant: b, id: second }
`);
    expect(migrate(waitingForB(), V1, nested, "v2").plan.problems.join()).toMatch(
      /0\.1 \(action "second"\) maps to 0\.1\.0, outside the container it runs in \(0\)/,
    );
    const all1 = read("process: q\ndo:\n  - all: [ { action: x }, { action: y } ]\n");
    const all2 = read("process: q\ndo:\n  - all: [ { action: x }, { action: y }, { action: z } ]\n");
    const running = transition(all1, undefined, { type: "launch", instance: "j" }, 0).snapshot;
    expect(migrate(running, all1, all2, "v2").plan.problems.join()).toMatch(
      /runs 2 branches; the new version's has 3/,
    );
    const done = { ...waitingForB(), status: "completed" as const };
    expect(migrate(done, V1, V1, "v1").plan.problems.join()).toMatch(
      /is completed: only running or suspended/,
    );
  });
});

describe("migrate, what the review found", () => {
  const launch = (definition: ReturnType<typeof read>) =>
    transition(definition, undefined, { type: "launch", instance: "i" }, 0).snapshot;

  it("gives what runs later at a path a moved node left task ids of its own, and runs to the end", () => {
    const v2 = read(
      "process: p\ndo:\n  - action: { participant: b, id: second, timeout: PT1H }\n  - action: c\n",
    );
    const { snapshot } = migrate(waitingForB(), V1, v2, "v2");
    let next = transition(v2, snapshot as Snapshot, reply("i/0.1/1", "0.1"), 2);
    const task = next.commands.find((c) => c.type === "task");
    expect(task).toMatchObject({ task: { node: "0.1", participant: "c", id: "i/0.1/2" } });
    next = transition(v2, next.snapshot, reply("i/0.1/2", "0.1"), 3);
    expect(next.snapshot.status).toBe("completed");
  });

  it("takes a moved container's children along, and adds a context the new version gives a running one", () => {
    const v1 = read(
      "process: p\ndo:\n  - action: a\n  - sequence: { id: box, do: [ { action: x }, { action: y } ] }\n",
    );
    const v2 = read(
      "process: p\ndo:\n  - action: a\n  - action: z\n  - sequence: { id: box, context: { seen: 0 }, do: [ { action: x }, { action: y } ] }\n",
    );
    let snapshot = launch(v1);
    snapshot = transition(v1, snapshot, reply("i/0.0/1", "0.0"), 1).snapshot;
    const moved = migrate(snapshot, v1, v2, "v2");
    expect(moved.plan.problems).toEqual([]);
    expect(moved.plan.moves.map((m) => `${m.from}>${m.to}`)).toEqual(["0.1>0.2", "0.1.0>0.2.0"]);
    expect(moved.plan.added).toEqual(["0.2.seen"]);
    expect(moved.snapshot?.scopes).toContainEqual(["0.2", { seen: 0 }]);
  });

  it("moves an instance inside a parallel foreach's branches or a fault handler", () => {
    const each = read(
      "process: p\ndo:\n  - foreach: { select: '[1, 2]', parallel: true, do: [ { action: w } ] }\n",
    );
    const each2 = read(
      "process: p\ncontext: { more: 1 }\ndo:\n  - foreach: { select: '[1, 2]', parallel: true, do: [ { action: w } ] }\n",
    );
    expect(migrate(launch(each), each, each2, "v2").plan).toMatchObject({ problems: [], added: ["0.more"] });
    const guarded = read(
      "process: p\ndo:\n  - sequence:\n      faults: [ { case: Bad, do: [ { action: fix } ] } ]\n      do: [ { fault: Bad } ]\n",
    );
    const running = launch(guarded);
    expect(running.nodes.map(([path]) => path)).toContain("0.0.f0.0");
    expect(migrate(running, guarded, guarded, "v2").plan.problems).toEqual([]);
  });

  it("cancels the heartbeat a new version's action no longer has", () => {
    const beating = read("process: p\ndo:\n  - action: { participant: a, heartbeat: 60 }\n");
    const calm = read("process: p\ndo:\n  - action: a\n");
    const started = transition(beating, undefined, { type: "launch", instance: "i" }, 0);
    const beat = started.commands.find((c) => c.type === "timer");
    const moved = migrate(started.snapshot, beating, calm, "v2");
    expect(moved.commands).toEqual([{ type: "cancel-timer", timer: (beat as { timer: string }).timer }]);
  });
});

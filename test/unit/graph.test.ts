import { describe, expect, it } from "vitest";
import { type Message, type Snapshot, type TaskCommand, transition } from "../../lib/engine/index.js";
import { readDefinition } from "../../lib/language/index.js";
import type { HistoryRecord } from "../../lib/ports.js";
import { definitionGraph, instanceGraph } from "../../lib/runtime/graph.js";

/** Runs an instance through the interpreter, answering each task as `replies` says, and draws its graph. */
function states(source: string, replies: readonly ("done" | "critical")[], fields = {}, then?: Message) {
  const definition = readDefinition(source, { format: "yaml" });
  const history: HistoryRecord[] = [];
  let snapshot: Snapshot | undefined;
  const open: TaskCommand[] = [];
  const apply = (message: Message) => {
    const result = transition(definition, snapshot, message, history.length);
    snapshot = result.snapshot;
    history.push({ at: history.length, message, commands: result.commands, notes: result.notes });
    open.push(...result.commands.filter((c): c is TaskCommand => c.type === "task"));
  };
  apply({ type: "launch", instance: "i-1", fields });
  for (const status of replies) {
    const task = open.shift();
    if (!task) throw new Error("no open task");
    const { id, node, attempt } = task.task;
    apply({ type: "reply", task: { id, node, attempt }, status, error: { code: "Boom", message: "boom" } });
  }
  if (then) apply(then);
  if (!snapshot) throw new Error("no snapshot");
  return { status: snapshot.status, states: instanceGraph(definition, snapshot, history).states };
}

describe("an instance's graph", () => {
  it("marks done what ran without a command of its own: assigns, a switch, a loop, an all's branches, joins", () => {
    const { status, states: s } = states(
      `context: { n: 0, items: [1, 2] }
do:
  - assign: { property: n, value: "1" }
  - switch:
      - when: context.n == 1
        do: [{ assign: { property: n, value: "2" } }]
      - when: context.n == 5
        do: [{ action: never }]
  - foreach: { select: context.items, do: [{ assign: { property: n, value: "3" } }] }
  - all: [{ action: a }, { assign: { property: n, value: "4" } }]
  - assign: { property: n, value: "5" }
`,
      ["done"],
    );
    expect(status).toBe("completed");
    expect(s).toEqual({
      "0": "done",
      "0.0": "done",
      "0.1": "done",
      // Which case held, and whether the loop's body ran, leave no trace: those stay not reached.
      "0.1/join": "done",
      "0.2": "done",
      "0.3": "done",
      "0.3.0": "done",
      "0.3.1": "done",
      "0.3/join": "done",
      "0.4": "done",
    });
  });

  it("marks done the case that held, by the action it ran", () => {
    const { states: s } = states(
      "context: { n: 1 }\ndo:\n  - switch:\n      - when: context.n == 1\n        do: [{ action: one }]\n      - when: context.n == 2\n        do: [{ action: two }]\n",
      ["done"],
    );
    expect(s).toMatchObject({ "0.0": "done", "0.0.0": "done", "0.0.0.0": "done", "0.0/join": "done" });
    expect(s["0.0.1"]).toBeUndefined();
  });

  it("leaves what followed a fault not reached, and a running instance's nodes active or waiting", () => {
    const source = `do:
  - sequence:
      - assign: { property: x, value: "1" }
      - action: risky
      - assign: { property: x, value: "2" }
  - action: after
`;
    expect(states(source, []).states).toEqual({
      "0": "active",
      "0.0": "active",
      "0.0.0": "done",
      "0.0.1": "waiting",
    });
    const faulted = states(source, ["critical"]);
    expect(faulted.status).toBe("faulted");
    expect(faulted.states["0"]).toBe("faulted");
    expect(faulted.states["0.0.1"]).toBe("faulted");
    expect(faulted.states["0.0.2"]).toBeUndefined();
    expect(faulted.states["0.1"]).toBeUndefined();
  });

  it("does not call done what a caught fault or a cancel interrupted, nor what came after it", () => {
    const caught = states(
      "faults: [{ default: [{ action: cure }] }]\ndo:\n  - sequence: [{ action: risky }]\n  - action: after\n",
      ["critical", "done"],
    );
    expect(caught.status).toBe("completed");
    expect(caught.states).toMatchObject({
      "0": "done",
      "0.0": "faulted",
      "0.0.0": "faulted",
      "0.f0.0": "done",
    });
    expect(caught.states["0.1"]).toBeUndefined();
    const canceled = states(
      "do:\n  - all: [{ action: a }, { sequence: [{ action: b }, { action: c }] }]\n  - action: after\n",
      ["done"],
      {},
      { type: "operator", action: "cancel" },
    );
    expect(canceled.status).toBe("canceled");
    expect(canceled.states).toMatchObject({
      "0": "canceled",
      "0.0": "canceled",
      "0.0.0": "done",
      "0.0.1": "canceled",
    });
    expect(canceled.states["0.0/join"]).toBeUndefined();
    expect(canceled.states["0.1"]).toBeUndefined();
  });

  it("calls a race done by its winner, a losing sequence canceled", () => {
    const { states: s } = states(
      "do:\n  - race: [{ action: fast }, { sequence: [{ action: slow }, { action: later }] }]\n  - action: end\n",
      ["done"],
    );
    expect(s).toMatchObject({
      "0.0": "done",
      "0.0.0": "done",
      "0.0.1": "canceled",
      "0.0/join": "done",
      "0.1": "waiting",
    });
    expect(s["0.0.1.1"]).toBeUndefined();
  });

  it("names each node by its static path and joins by the path of what branches", () => {
    const graph = definitionGraph(
      readDefinition("do:\n  - race: [{ await: e }, { delay: PT1H }]\n  - action: end\n", { format: "yaml" }),
    );
    expect(graph.nodes.map((n) => `${n.id} ${n.kind} ${n.label}`)).toEqual([
      "0 process process",
      "0.0 race race",
      "0.0/join join first wins",
      "0.0.0 await await: e",
      "0.0.1 delay delay 3600s",
      "0.1 action action: end",
    ]);
    expect(graph.edges).toContainEqual({ from: "0.0/join", to: "0.1" });
  });
});

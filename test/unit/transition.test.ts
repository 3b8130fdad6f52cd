import { describe, expect, it } from "vitest";
import {
  type Command,
  type Message,
  nodeState,
  rootContext,
  type Snapshot,
  type TaskCommand,
  transition,
} from "../../lib/engine/index.js";
import { readDefinition } from "../../lib/language/index.js";

const definition = readDefinition(
  `process: t
context: { n: 0 }
do:
  - action: { participant: first, timeout: 60 }
  - all:
      do:
        - action: second
        - call: { process: sub }
  - await: { event: go, key: "'k'" }
`,
  { format: "yaml" },
);

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

const tasks = (commands: readonly Command[]) => commands.filter((c): c is TaskCommand => c.type === "task");
const launch: Message = { type: "launch", instance: "i-1", fields: { n: 1, extra: "x" } };

function started(): { snapshot: Snapshot; task: TaskCommand } {
  const result = transition(definition, undefined, launch, 1000);
  const task = tasks(result.commands)[0];
  if (!task) throw new Error("no task");
  return { snapshot: result.snapshot, task };
}

describe("transition()", () => {
  it("launches with the fields overlaying the root context and dispatches the first task", () => {
    const { snapshot, task } = started();
    expect(snapshot.status).toBe("running");
    expect(rootContext(snapshot)).toEqual({ n: 1, extra: "x" });
    expect(task.task).toEqual({
      id: "i-1/0.0/1",
      instance: "i-1",
      node: "0.0",
      participant: "first",
      attempt: 1,
    });
    expect(task.fields).toEqual({ n: 1, extra: "x" });
  });

  it("is pure: it never mutates its input and gives the same output for the same input", () => {
    const { snapshot, task } = started();
    deepFreeze(snapshot);
    const reply: Message = { type: "reply", task: task.task, status: "done", fields: { n: 2 } };
    const a = transition(definition, snapshot, reply, 2000);
    const b = transition(definition, snapshot, reply, 2000);
    expect(a).toEqual(b);
    expect(rootContext(snapshot)).toEqual({ n: 1, extra: "x" });
  });

  it("works from a snapshot that went through JSON (storage)", () => {
    const { snapshot, task } = started();
    const stored = JSON.parse(JSON.stringify(snapshot)) as Snapshot;
    const reply: Message = { type: "reply", task: task.task, status: "done", fields: { n: 2 } };
    expect(transition(definition, stored, reply, 2000)).toEqual(
      transition(definition, snapshot, reply, 2000),
    );
  });

  it("cancels the action's timeout timer when its reply arrives", () => {
    const { snapshot, task } = started();
    const timer = nodeState(snapshot, "0.0");
    if (timer?.k !== "action" || !timer.timer) throw new Error("no timer");
    const result = transition(definition, snapshot, { type: "reply", task: task.task, status: "done" }, 2000);
    expect(result.commands).toContainEqual({ type: "cancel-timer", timer: timer.timer });
    expect(tasks(result.commands).map((t) => t.task.participant)).toEqual(["second"]);
    expect(result.commands).toContainEqual(
      expect.objectContaining({ type: "start-child", child: "i-1~2", process: { name: "sub" } }),
    );
  });

  it("ignores a duplicate launch and any message to a finished instance, recording why", () => {
    const { snapshot } = started();
    const again = transition(definition, snapshot, launch, 2000);
    expect(again.snapshot).toBe(snapshot);
    expect(again.notes[0]?.reason).toMatch(/exists already/);
    const canceled = transition(definition, snapshot, { type: "operator", action: "cancel" }, 3000).snapshot;
    expect(canceled.status).toBe("canceled");
    const late = transition(definition, canceled, { type: "operator", action: "resume" }, 4000);
    expect(late.snapshot).toBe(canceled);
    expect(late.notes[0]).toEqual({
      kind: "ignored",
      reason: "instance i-1 is canceled; the operator message changes nothing",
    });
  });

  it("cancels children, timers and subscriptions when the instance is canceled", () => {
    const { snapshot, task } = started();
    const second = transition(definition, snapshot, { type: "reply", task: task.task, status: "done" }, 2000);
    const result = transition(definition, second.snapshot, { type: "operator", action: "cancel" }, 3000);
    expect(result.commands).toContainEqual({ type: "cancel-child", child: "i-1~2" });
    expect(result.commands).toContainEqual(
      expect.objectContaining({ type: "publish", event: "docket.instance.canceled" }),
    );
    expect(result.snapshot.nodes).toEqual([]);
  });

  it("rejects a malformed message with the field at fault, changing nothing", () => {
    const { snapshot } = started();
    const bureaucratEvent = {
      process_id: "5775e116",
      activity_id: "0_0",
      type: "response",
    } as unknown as Message;
    const result = transition(definition, snapshot, bureaucratEvent, 2000);
    expect(result.snapshot).toBe(snapshot);
    expect(result.notes[0]?.reason).toBe(
      'malformed message: type: must be one of launch, reply, timer, event, child, migrate, operator, got "response"',
    );
    const noStatus = {
      type: "reply",
      task: { id: "x", node: "0.0", attempt: 1 },
      status: "maybe",
    } as unknown as Message;
    expect(transition(definition, snapshot, noStatus, 2000).notes[0]?.reason).toMatch(
      /status: must be one of done, critical, error, heartbeat, got "maybe"/,
    );
    expect(() => transition(definition, undefined, bureaucratEvent, 2000)).toThrow(/malformed message/);
  });

  it("ignores a reply for another attempt or task", () => {
    const { snapshot, task } = started();
    const wrong = transition(
      definition,
      snapshot,
      { type: "reply", task: { ...task.task, id: "i-1/0.0/7", attempt: 7 }, status: "done" },
      2000,
    );
    expect(wrong.snapshot).toBe(snapshot);
    expect(wrong.notes[0]?.reason).toMatch(/stale or a duplicate/);
  });

  it("rejects operator commands that do not apply", () => {
    const { snapshot } = started();
    expect(
      transition(definition, snapshot, { type: "operator", action: "retry" }, 2000).notes[0]?.reason,
    ).toBe("the instance has no incident");
    expect(
      transition(definition, snapshot, { type: "operator", action: "resume" }, 2000).notes[0]?.reason,
    ).toBe("the instance is not paused");
  });

  it("keeps task ids unique across loop iterations", () => {
    const loop = readDefinition(
      "context: { i: 0 }\ndo:\n  - while:\n      condition: context.i < 3\n      do: [ { action: w } ]\n",
      { format: "yaml" },
    );
    let result = transition(loop, undefined, { type: "launch", instance: "L" }, 0);
    const ids: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const task = tasks(result.commands)[0];
      if (!task) throw new Error("no task");
      ids.push(task.task.id);
      result = transition(
        loop,
        result.snapshot,
        { type: "reply", task: task.task, status: "done", fields: { i } },
        i,
      );
    }
    expect(ids).toEqual(["L/0.0.0/1", "L/0.0.0/2", "L/0.0.0/3"]);
    expect(result.snapshot.status).toBe("completed");
  });
});

/** An action's two clocks (timeout, heartbeat) as transition() starts and cancels them. */
import { describe, expect, it } from "vitest";
import { type Command, type Message, type Snapshot, transition } from "../../lib/engine/index.js";
import { readDefinition } from "../../lib/language/index.js";

const definition = readDefinition(
  "do:\n  - action: { participant: crunch, timeout: PT1H, heartbeat: 60, retry: 1, backoff: 10 }\n",
  { file: "hb.yaml" },
);

type Timer = Extract<Command, { type: "timer" }>;
const timers = (commands: readonly Command[]) => commands.filter((c): c is Timer => c.type === "timer");
const canceled = (commands: readonly Command[]) =>
  commands.flatMap((c) => (c.type === "cancel-timer" ? [c.timer] : [])).sort();

function launched(): { snapshot: Snapshot; commands: readonly Command[] } {
  return transition(definition, undefined, { type: "launch", instance: "i" }, 0);
}

function reply(snapshot: Snapshot, status: string, at: number, extra: object = {}) {
  const state = snapshot.nodes.find(([path]) => path === "0.0")?.[1] as { task: string; attempt: number };
  const message = {
    type: "reply",
    task: { id: state.task, node: "0.0", attempt: state.attempt },
    status,
    ...extra,
  };
  return transition(definition, snapshot, message as Message, at);
}

describe("an action's timeout and heartbeat timers", () => {
  it("start both as the task is sent, the heartbeat's due one heartbeat later", () => {
    const { commands } = launched();
    expect(timers(commands).map((t) => t.due)).toEqual([3_600_000, 60_000]);
    expect(commands.find((c) => c.type === "task")).toMatchObject({ task: { heartbeat: 60 } });
  });

  it.each(["done", "critical", "error"])("a %s reply cancels both", (status) => {
    const start = launched();
    const all = timers(start.commands)
      .map((t) => t.timer)
      .sort();
    const { commands } = reply(start.snapshot, status, 1000, { error: { message: "x" } });
    expect(canceled(commands)).toEqual(all);
  });

  it("a timeout cancels the heartbeat's timer, a missed heartbeat the timeout's", () => {
    const start = launched();
    const [timeout, beat] = timers(start.commands) as [Timer, Timer];
    const byBeat = transition(
      definition,
      start.snapshot,
      { type: "timer", node: "0.0", timer: beat.timer },
      60_000,
    );
    expect(byBeat.snapshot.fault).toMatchObject({ code: "Timeout" });
    expect(canceled(byBeat.commands)).toEqual([timeout.timer]);
    const byTimeout = transition(
      definition,
      start.snapshot,
      { type: "timer", node: "0.0", timer: timeout.timer },
      3_600_000,
    );
    expect(byTimeout.snapshot.fault?.message).toMatch(/timed out/);
    expect(canceled(byTimeout.commands)).toEqual([beat.timer]);
  });

  it("a heartbeat sets nothing going; the timer, when due, is set again from it", () => {
    const start = launched();
    const beat = timers(start.commands)[1] as Timer;
    const heard = reply(start.snapshot, "heartbeat", 50_000, { details: { done: 3 } });
    expect(heard.commands).toEqual([]);
    const due = transition(
      definition,
      heard.snapshot,
      { type: "timer", node: "0.0", timer: beat.timer },
      60_000,
    );
    expect(due.snapshot.status).toBe("running");
    expect(timers(due.commands).map((t) => t.due)).toEqual([110_000]);
  });

  it("a cancel stops both", () => {
    const start = launched();
    const all = timers(start.commands)
      .map((t) => t.timer)
      .sort();
    const { commands } = transition(definition, start.snapshot, { type: "operator", action: "cancel" }, 1000);
    expect(canceled(commands)).toEqual(all);
  });

  it("a task held by pause starts both when resume sends it", () => {
    const two = readDefinition(
      "do:\n  - action: first\n  - action: { participant: crunch, timeout: PT1H, heartbeat: 60 }\n",
      {
        file: "two.yaml",
      },
    );
    let { snapshot } = transition(two, undefined, { type: "launch", instance: "i" }, 0);
    ({ snapshot } = transition(two, snapshot, { type: "operator", action: "pause" }, 0));
    const first = { id: "i/0.0/1", node: "0.0", attempt: 1 };
    const held = transition(two, snapshot, { type: "reply", task: first, status: "done" }, 1000);
    expect(timers(held.commands)).toEqual([]);
    const resumed = transition(two, held.snapshot, { type: "operator", action: "resume" }, 5000);
    expect(timers(resumed.commands).map((t) => t.due)).toEqual([3_605_000, 65_000]);
  });
});

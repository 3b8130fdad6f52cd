import { describe, expect, it } from "vitest";
import {
  type Command,
  type Message,
  type Snapshot,
  type TaskCommand,
  type TransitionResult,
  transition,
} from "../../lib/engine/index.js";
import { readDefinition } from "../../lib/language/index.js";

const yaml = (source: string) => readDefinition(source, { format: "yaml" });

type Subscribe = Extract<Command, { type: "subscribe" }>;
type Timer = Extract<Command, { type: "timer" }>;
const ofType = <T extends Command["type"]>(commands: readonly Command[], type: T) =>
  commands.filter((c): c is Extract<Command, { type: T }> => c.type === type);

/** The event message a runtime delivers to one subscription. */
function delivery(subscription: Subscribe, id: string, key?: string, data: number = 0): Message {
  return {
    type: "event",
    node: subscription.node,
    subscription: subscription.subscription,
    id,
    name: subscription.event,
    ...(key === undefined ? {} : { key }),
    data,
  };
}

describe("the record of consumed events stays small", () => {
  it("keyed awaits in a 1,000-branch parallel foreach keep the snapshot linear in the branches", () => {
    const n = 1000;
    const definition = yaml(`do:
  - foreach: { select: context.orders, parallel: true, do: [{ await: { event: paid, key: inst.current, into: got } }] }
`);
    const orders = Array.from({ length: n }, (_, i) => `o${i}`);
    let result: TransitionResult = transition(
      definition,
      undefined,
      { type: "launch", instance: "i", fields: { orders } },
      0,
    );
    const subscriptions = ofType(result.commands, "subscribe");
    expect(subscriptions).toHaveLength(n);
    let largest = 0;
    for (const [i, subscription] of subscriptions.entries()) {
      result = transition(
        definition,
        result.snapshot,
        delivery(subscription, `e${i}`, subscription.key),
        i + 1,
      );
      if (i % 100 === 0) largest = Math.max(largest, JSON.stringify(result.snapshot).length);
    }
    expect(result.snapshot.status).toBe("completed");
    // Every event is recorded as consumed, and none lists other awaits: no other key could take it.
    expect(result.snapshot.consumed).toHaveLength(n);
    expect(result.snapshot.consumed.every((entry) => entry.length === 2)).toBe(true);
    // Under 250 bytes per branch (its await's state and scope, one consumed record; about 170
    // now), where listing every other branch's await on each record took some 10 KB per branch.
    expect(largest).toBeLessThan(n * 250);
  });

  it("an await that stops waiting is struck from the events it could still take", () => {
    const definition = yaml(`do:
  - all:
      - await: { event: go, into: a }
      - race: [{ await: { event: go, into: b } }, { delay: PT1M }]
`);
    const launched = transition(definition, undefined, { type: "launch", instance: "i" }, 0);
    const [first, second] = ofType(launched.commands, "subscribe");
    if (!first || !second) throw new Error("expected two subscriptions");
    const taken = transition(definition, launched.snapshot, delivery(first, "e1"), 1);
    expect(taken.snapshot.consumed).toEqual([["e1", 1, [second.subscription]]]);
    // The delay wins the race before the second await's delivery arrives.
    const [timer] = ofType(launched.commands, "timer") as Timer[];
    if (!timer) throw new Error("expected the delay's timer");
    const timed = transition(
      definition,
      taken.snapshot,
      { type: "timer", node: timer.node, timer: timer.timer },
      60_000,
    );
    expect(timed.commands).toContainEqual({ type: "unsubscribe", subscription: second.subscription });
    expect(timed.snapshot.consumed).toEqual([["e1", 1]]);
    expect(transition(definition, timed.snapshot, delivery(second, "e1"), 60_001).notes).toEqual([
      expect.objectContaining({ kind: "ignored" }),
    ]);
  });
});

describe("pause", () => {
  it("publishes docket.instance.suspended when it suspends a running instance, and nothing when it was suspended", () => {
    const definition = yaml("do:\n  - action: { participant: a, retry: 0 }\n  - action: b\n");
    const launched = transition(definition, undefined, { type: "launch", instance: "i" }, 0);
    const paused = transition(
      definition,
      launched.snapshot,
      { type: "operator", action: "pause", reason: "audit" },
      1,
    );
    expect(paused.snapshot.status).toBe("suspended");
    expect(ofType(paused.commands, "publish")).toEqual([
      {
        type: "publish",
        event: "docket.instance.suspended",
        detail: { instance: "i", process: launched.snapshot.process, paused: true, reason: "audit" },
      },
    ]);
    const resumed = transition(definition, paused.snapshot, { type: "operator", action: "resume" }, 2);
    const [task] = ofType(launched.commands, "task");
    if (!task) throw new Error("expected a's task");
    const failed = transition(
      definition,
      resumed.snapshot,
      { type: "reply", task: task.task, status: "error" },
      3,
    );
    expect(failed.snapshot.status).toBe("suspended"); // an incident: published as one
    const again = transition(definition, failed.snapshot, { type: "operator", action: "pause" }, 4);
    expect(ofType(again.commands, "publish")).toEqual([]);
  });
});

describe("resume", () => {
  it("sends only the held tasks an action still waits for", () => {
    const definition = yaml(`do:
  - delay: PT1M
  - race: [{ action: held }, { delay: PT2M }]
  - action: after
`);
    const step = (snapshot: Snapshot | undefined, message: Message, now: number) =>
      transition(definition, snapshot, message, now);
    const launched = step(undefined, { type: "launch", instance: "i" }, 0);
    const paused = step(launched.snapshot, { type: "operator", action: "pause" }, 1);
    const [first] = ofType(launched.commands, "timer");
    if (!first) throw new Error("expected the first delay's timer");
    const raced = step(paused.snapshot, { type: "timer", node: first.node, timer: first.timer }, 60_000);
    const held = raced.snapshot.held;
    expect(held.map((task: TaskCommand) => task.task.participant)).toEqual(["held"]);
    const [second] = ofType(raced.commands, "timer");
    if (!second) throw new Error("expected the race's delay timer");
    const won = step(raced.snapshot, { type: "timer", node: second.node, timer: second.timer }, 180_000);
    expect(won.snapshot.held.map((task) => task.task.participant)).toEqual(["after"]);
    // A snapshot written before canceling an action dropped its held task still holds it.
    const old: Snapshot = { ...won.snapshot, held: [...held, ...won.snapshot.held] };
    const resumed = step(old, { type: "operator", action: "resume" }, 180_001);
    expect(ofType(resumed.commands, "task").map((task) => task.task.participant)).toEqual(["after"]);
    expect(resumed.snapshot.held).toEqual([]);
  });
});

/**
 * For the upgrade tests on both hosts: snapshots written by an earlier docket (format 1, kept in
 * test/fixtures/snapshots with their definition), and the message that moves an instance on from
 * whatever it waits for, so one driver takes each to its end whatever the host.
 */
import { readFileSync } from "node:fs";
import type { Message, Snapshot } from "../../lib/engine/types.js";

export interface StoredFixtures {
  readonly source: string;
  readonly hash: string;
  /** Each as the earlier docket stored it: its JSON, not this docket's Snapshot type. */
  readonly snapshots: Record<string, Record<string, unknown>>;
}

export const formatOne = (): StoredFixtures =>
  JSON.parse(readFileSync("test/fixtures/snapshots/format-1.json", "utf8")) as StoredFixtures;

/** What moves the instance on: resume, skip an incident, fire a backoff, answer a task, an event. */
export function nextMessage(snapshot: Snapshot, step: number): Message | undefined {
  if (snapshot.paused) return { type: "operator", action: "resume", id: `resume-${step}` };
  if (snapshot.incidents.length) return { type: "operator", action: "skip", id: `skip-${step}` };
  for (const [node, state] of snapshot.nodes) {
    if (state.k === "action" && state.wait === "backoff" && state.timer)
      return { type: "timer", node, timer: state.timer };
    if (state.k === "action" && state.wait === "reply") {
      const task = { id: state.task, node, attempt: state.attempt, instance: snapshot.id };
      return { type: "reply", task, status: "done", fields: { [`done_${node}`]: true } };
    }
    if (state.k === "await")
      return {
        type: "event",
        node,
        subscription: state.subscription,
        id: `e-${step}`,
        name: "paid",
        data: { amount: 50 },
      };
  }
  return undefined;
}

/** Drives an instance to its end; `load` and `apply` are the host's. */
export async function driveToEnd(
  id: string,
  load: () => Promise<Snapshot | undefined>,
  apply: (message: Message) => Promise<void>,
): Promise<Snapshot> {
  for (let step = 0; step < 40; step++) {
    const snapshot = await load();
    if (!snapshot) throw new Error(`no instance ${id}`);
    if (snapshot.status !== "running" && snapshot.status !== "suspended") return snapshot;
    const message = nextMessage(snapshot, step);
    if (!message) throw new Error(`${id}: nothing moves it on: ${JSON.stringify(snapshot.nodes)}`);
    await apply(message);
  }
  throw new Error(`${id} did not end in 40 messages`);
}

/** The due times (ms after `from`) of the timers an instance's history started, in order. */
export function timerDelays(
  records: readonly { at: number; commands: readonly { type: string; due?: number }[] }[],
) {
  return records.flatMap((r) =>
    r.commands.flatMap((c) => (c.type === "timer" && c.due ? [c.due - r.at] : [])),
  );
}

/** The retry rule changed in semantics 2: an action that errs three times, a day's backoff. */
export const RETRYING = "do:\n  - action: { participant: flaky, retry: 3, backoff: P1D }\n";
export const DAY = 86_400_000;

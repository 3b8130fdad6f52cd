/**
 * The timer relay on the emulator (lib/aws/timer-relay.ts), running as its function's role when
 * IAM is enforced: a timer the instance no longer waits for (its reply came first, the instance
 * ended) never reaches the inbox, a live one does; what it cannot judge (no such instance) is
 * forwarded as before, and a failed read fails the record, so SQS delivers it again.
 */
import { beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type AwsClients, type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import type { SqsRecord } from "../../lib/aws/edge.js";
import { makeTimerRelayHandler } from "../../lib/aws/timer-relay.js";
import type { NodeState } from "../../lib/engine/types.js";
import { emulatorClients } from "./emulator.js";
import { drainQueue } from "./queues.js";
import { depsOfFunctions, provisioning } from "./roles.js";

const clients: AwsClients = emulatorClients(inject("endpoint"));
const run = Date.now().toString(36);
let resources: Provisioned;
let deps: AwsDeps;
let relayDeps: AwsDeps;
let runner: LocalRunner;

beforeAll(async () => {
  resources = await provisionEngine(provisioning(clients), `rly${run}`);
  deps = makeAwsDeps(clients, resources);
  const functions = depsOfFunctions(resources, (own, its) => makeAwsDeps(own, its), deps);
  relayDeps = functions("timer-relay");
  runner = new LocalRunner(functions, resources.feeds, { visibilityTimeout: 1 });
  // Ten minutes: within SQS's reach, so each timer waits on the timer queue, out of the way.
  await deps.definitions.register(
    "timed.yaml",
    "do:\n  - action: { participant: first, timeout: PT10M }\n  - action: { participant: second, timeout: PT10M }\n",
  );
}, 120_000);

/** The timer the instance's action now waits on, as the timer queue would carry it once due. */
async function liveTimer(id: string) {
  const stored = await deps.runtime.deps.store.load(id);
  const [node, state] = (stored?.snapshot.nodes ?? []).find(([, s]) => s.k === "action") as [
    string,
    Extract<NodeState, { k: "action" }>,
  ];
  return { timer: state.timer as string, instance: id, node, due: Date.now() - 1000 };
}

let records = 0;
const record = (body: object): SqsRecord => ({ messageId: `m${records++}`, body: JSON.stringify(body) });

/** The relay's answer for these timers, and the timer messages it put in the inbox. */
async function relay(handlerDeps: AwsDeps, ...timers: object[]) {
  const result = await makeTimerRelayHandler(handlerDeps)({ Records: timers.map(record) });
  const inbox = await drainQueue(clients.sqs, resources.queues.inbox);
  return { failed: result.batchItemFailures.length, inbox: inbox.map((m) => m.body) };
}

/** Answers the one task waiting on the task queue, and lets the functions apply the reply. */
async function answerTask() {
  const [task] = await drainQueue(clients.sqs, resources.queues.tasks);
  await deps.runtime.reply({ task: task?.body.task, status: "done", fields: {} });
  await runner.settle();
}

describe("the timer relay (emulator)", () => {
  it("drops a timer its instance no longer waits for, and forwards a live one", async () => {
    const id = `timed-${run}`;
    await deps.runtime.launch({ process: "timed", id });
    await runner.settle();
    const first = await liveTimer(id);
    expect(await relay(relayDeps, first)).toEqual({
      failed: 0,
      inbox: [{ type: "timer", node: first.node, timer: first.timer }],
    });

    // The reply comes first: the first action's timer is stale, the second action's is live.
    await answerTask();
    const second = await liveTimer(id);
    expect(second.timer).not.toBe(first.timer);
    expect(await relay(relayDeps, first, second)).toEqual({
      failed: 0,
      inbox: [{ type: "timer", node: second.node, timer: second.timer }],
    });

    // Once the instance has ended, no timer of it is live.
    await answerTask();
    expect((await deps.runtime.deps.store.load(id))?.snapshot.status).toBe("completed");
    expect(await relay(relayDeps, first, second)).toEqual({ failed: 0, inbox: [] });
    // The instance never saw a dropped timer: its history has no timer message.
    const { records: history } = await deps.runtime.deps.store.history(id);
    expect(history.map((r) => r.message.type)).toEqual(["launch", "reply", "reply"]);

    // Deleted and launched again under its id: the new run's first timer has the old one's id, and
    // a relay container that saw the old run end judges it on the new run, read afresh.
    const container = makeAwsDeps(clients, resources);
    expect(await relay(container, first)).toEqual({ failed: 0, inbox: [] });
    await deps.runtime.deps.store.remove(id);
    await deps.runtime.launch({ process: "timed", id });
    // Applied by containers that never saw the old run (one that cached it would take the new
    // launch for its old instance's: the advance function's cache has that gap too).
    const fresh = depsOfFunctions(
      resources,
      (own, its) => makeAwsDeps(own, its),
      makeAwsDeps(clients, resources),
    );
    await new LocalRunner(fresh, resources.feeds, { visibilityTimeout: 1 }).settle();
    const again = await liveTimer(id);
    expect(again.timer).toBe(first.timer);
    expect(await relay(container, again)).toEqual({
      failed: 0,
      inbox: [{ type: "timer", node: again.node, timer: again.timer }],
    });
  }, 60_000);

  it("forwards what it cannot judge, and fails the record when the instance cannot be read", async () => {
    const ghost = {
      timer: `ghost-${run}/0.0/t1`,
      instance: `ghost-${run}`,
      node: "0.0",
      due: Date.now() - 1,
    };
    expect(await relay(relayDeps, ghost)).toEqual({
      failed: 0,
      inbox: [{ type: "timer", node: "0.0", timer: ghost.timer }],
    });
    const unreadable = makeAwsDeps(clients, { ...resources, table: `missing-${run}` });
    expect(await relay(unreadable, ghost)).toEqual({ failed: 1, inbox: [] });
  }, 60_000);
});

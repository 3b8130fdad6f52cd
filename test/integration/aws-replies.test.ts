/**
 * Replies that name what does not exist, on the emulator: a reply whose instance does not exist
 * and one whose task its instance never issued can never be applied, so the advance function sets
 * them aside in the RejectedMessages queue at once, each with its reason (not retried until the
 * inbox's maxReceiveCount); a stale or duplicate reply to a task the instance did issue is
 * ignored and noted in the history, as before.
 */
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type AwsClients, type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import { emulatorClients } from "./emulator.js";
import { drainQueue } from "./queues.js";
import { depsOfFunctions, provisioning } from "./roles.js";

const clients: AwsClients = emulatorClients(inject("endpoint"));
const run = Date.now().toString(36);
let resources: Provisioned;
let deps: AwsDeps;
let runner: LocalRunner;

beforeAll(async () => {
  resources = await provisionEngine(provisioning(clients), `rpl${run}`);
  deps = makeAwsDeps(clients, resources);
  const functions = depsOfFunctions(resources, (own, its) => makeAwsDeps(own, its), deps);
  runner = new LocalRunner(functions, resources.feeds, { visibilityTimeout: 1 });
  await deps.definitions.register("solo.yaml", "do: [ { action: solo } ]\n");
});

/**
 * Every message set aside in RejectedMessages: its reason, by the task id its body names (raw: an
 * operator's read of the dead-letter queue).
 */
async function setAside(): Promise<Map<string, string>> {
  const reasons = new Map<string, string>();
  for (let empty = 0; empty < 2; ) {
    const { Messages = [] } = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: resources.queues.deadLetters, MaxNumberOfMessages: 10 }),
    );
    empty = Messages.length ? 0 : empty + 1;
    for (const m of Messages) {
      const { reason, body } = JSON.parse(m.Body ?? "{}") as { reason: string; body: string };
      reasons.set((JSON.parse(body) as { task: { id: string } }).task.id, reason);
    }
  }
  return reasons;
}

describe("replies that name what does not exist (emulator)", () => {
  it("sets aside a reply to no instance and one to a task never issued, with their reasons; a duplicate is noted", async () => {
    const id = `one-${run}`;
    await deps.runtime.launch({ process: "solo", id });
    await runner.settle();
    const [sent] = await drainQueue(clients.sqs, resources.queues.tasks);
    const task = sent?.body.task as { id: string; instance: string; node: string; attempt: number };
    expect(task).toMatchObject({ id: `${id}/${task.node}/1`, instance: id, attempt: 1 });
    const reply = (t: { id: string; instance: string; node: string; attempt: number }) =>
      deps.runtime.reply({ task: t, status: "done", fields: {} });
    const ghost = `ghost-${run}`;
    await reply({ id: `${ghost}/0.0/1`, instance: ghost, node: "0.0", attempt: 1 });
    await reply({ ...task, id: `forged-${run}` });
    await reply({ ...task, id: `${id}/0.9.9/1`, node: "0.9.9" });
    await reply({ ...task, id: `${id}/${task.node}/3`, attempt: 3 });
    await reply(task);
    await runner.settle();
    // The same reply again, after it completed the instance: stale, ignored and noted.
    await deps.runtime.reply({ task, status: "done", fields: { again: true } });
    await runner.settle();

    expect((await deps.runtime.deps.store.load(id))?.snapshot.status).toBe("completed");
    expect(Object.fromEntries(await setAside())).toEqual({
      [`${ghost}/0.0/1`]: `no instance ${ghost} for the reply to task ${ghost}/0.0/1`,
      [`forged-${run}`]: `instance ${id} never issued task forged-${run}: a task of node ${task.node}, attempt 1 is ${id}/${task.node}/1`,
      [`${id}/0.9.9/1`]: `instance ${id} never issued task ${id}/0.9.9/1: process solo has no node at 0.9.9`,
      [`${id}/${task.node}/3`]: `instance ${id} never issued task ${id}/${task.node}/3: its latest attempt at ${task.node} is 1`,
    });
    // Nothing waits in the inbox to be tried again.
    expect(await drainQueue(clients.sqs, resources.queues.inbox, { keep: true })).toEqual([]);
    const { records } = await deps.runtime.deps.store.history(id);
    const duplicate = records.find((r) => (r.message as { fields?: { again?: boolean } }).fields?.again);
    expect(duplicate?.notes).toEqual([
      {
        kind: "ignored",
        reason: expect.stringMatching(/^instance .* is completed; the reply message changes nothing/),
      },
    ]);
  }, 60_000);
});

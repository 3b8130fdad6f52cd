/**
 * The inbox's failure paths on the emulator: a step whose sends fail after its save until SQS
 * dead-letters its message, the instance's next message applied meanwhile, then the redrive (a new
 * message id); two advance handlers on one inbox at once; steps and definitions too large for one
 * DynamoDB item.
 */
import { PutRuleCommand, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  PurgeQueueCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type AwsClients, type AwsDeps, type AwsResources, makeAwsDeps } from "../../lib/aws/deps.js";
import type { TaskCommand } from "../../lib/engine/types.js";
import { InfrastructureError } from "../../lib/errors.js";
import { emulatorClients, emulatorConfig } from "./emulator.js";
import { drainQueue, type Received } from "./queues.js";
import { depsOfFunctions, provisioning } from "./roles.js";

const clients: AwsClients = emulatorClients(emulatorConfig(inject("endpoint")).endpoint);
let resources: Provisioned;
let deps: AwsDeps;
const run = Date.now().toString(36);

beforeAll(async () => {
  resources = await provisionEngine(provisioning(clients), `dlv${run}`);
  deps = makeAwsDeps(clients, resources);
});

/**
 * The handlers' deps, each function's with its own role when IAM is enforced (npm run test:iam),
 * each changed by `patch` as a test needs (a dispatcher that fails, a handler that is slow).
 */
function handlers(patch: (d: AwsDeps) => void = () => {}, adjust = (r: AwsResources) => r) {
  const made = (own: AwsClients, its: AwsResources) => {
    const d = makeAwsDeps(own, adjust(its));
    patch(d);
    return d;
  };
  return depsOfFunctions(resources, made, made(clients, resources));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The inbox's dead-letter queue, from its redrive policy. */
async function inboxDeadLetters(): Promise<string> {
  const { Attributes } = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: resources.queues.inbox, AttributeNames: ["RedrivePolicy"] }),
  );
  const arn = String(JSON.parse(Attributes?.RedrivePolicy ?? "{}").deadLetterTargetArn);
  const { QueueUrl } = await clients.sqs.send(new GetQueueUrlCommand({ QueueName: arn.split(":").pop() }));
  return QueueUrl as string;
}

/** Answers every task on the default queue with `done` (but `hold`'s), keeping what came, until `until` holds. */
async function workUntil(
  runner: LocalRunner,
  seen: Received[],
  until: () => Promise<boolean>,
  rounds = 60,
  hold?: string,
): Promise<void> {
  for (let i = 0; i < rounds && !(await until()); i++) {
    for (const task of await drainQueue(clients.sqs, resources.queues.tasks)) {
      seen.push(task);
      if ((task.body.task as { participant: string }).participant !== hold)
        await deps.runtime.reply({ task: task.body.task, status: "done", fields: {} });
    }
    await runner.tick();
    await sleep(200);
  }
}

/** A queue that a rule on the engine's bus fills with docket's events of one detail-type. */
async function watchEvents(detailType: string, suffix: string): Promise<string> {
  const name = `dlv${run}-${suffix}`;
  const { QueueUrl } = await clients.sqs.send(new CreateQueueCommand({ QueueName: name }));
  const { Attributes } = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }),
  );
  await clients.events.send(
    new PutRuleCommand({
      Name: name,
      EventBusName: resources.bus,
      EventPattern: JSON.stringify({ source: ["docket"], "detail-type": [detailType] }),
    }),
  );
  await clients.events.send(
    new PutTargetsCommand({
      Rule: name,
      EventBusName: resources.bus,
      Targets: [{ Id: "watch", Arn: Attributes?.QueueArn }],
    }),
  );
  return QueueUrl as string;
}

const status = async (id: string) => (await deps.runtime.deps.store.load(id))?.snapshot.status;
const taskIds = (seen: Received[], participant: string) =>
  seen
    .map((m) => m.body.task as { id: string; participant: string })
    .filter((t) => t.participant === participant)
    .map((t) => t.id);

describe("the inbox's failure paths (emulator)", () => {
  it("finishes the sends of a step whose message was dead-lettered after its save, once, after the redrive", async () => {
    await deps.definitions.register(
      "redrive.yaml",
      `do:
  - all:
      do:
        - sequence:
            do:
              - action: first
              - all: { do: [ { action: mid }, { delay: 1 } ] }
        - sequence: { do: [ { action: second }, { action: after-second } ] }
`,
    );
    const id = `redrive-${run}`;
    // Handlers whose sends of `mid` fail, as an outage would, after the step is saved.
    let refused = 0;
    const broken = (d: AwsDeps) => {
      const send = d.dispatcher.sendTask.bind(d.dispatcher);
      d.dispatcher.sendTask = async (task: TaskCommand) => {
        if (task.task.participant !== "mid") return send(task);
        refused++;
        throw new InfrastructureError("the task queue is unreachable");
      };
    };
    const failing = new LocalRunner(handlers(broken), resources.feeds, { visibilityTimeout: 1 });
    await deps.runtime.launch({ process: "redrive", id });
    await failing.settle();
    const firsts = (await drainQueue(clients.sqs, resources.queues.tasks)).filter(
      (m) => (m.body.task as { instance: string }).instance === id,
    );
    expect(taskIds(firsts, "first")).toHaveLength(1);
    const first = firsts.find((m) => (m.body.task as { participant: string }).participant === "first");
    const second = firsts.find((m) => (m.body.task as { participant: string }).participant === "second");
    await deps.runtime.reply({ task: first?.body.task, status: "done", fields: {} });
    // The reply's step is saved, its sends fail on every receive, and SQS dead-letters it.
    const deadLetters = await inboxDeadLetters();
    let dead: Received[] = [];
    for (let i = 0; i < 120 && !dead.length; i++) {
      await failing.tick();
      await sleep(250);
      if (i % 8 === 7) dead = await drainQueue(clients.sqs, deadLetters, { keep: true });
    }
    expect(dead).toHaveLength(1);
    expect(refused).toBeGreaterThan(1);
    expect((await deps.runtime.deps.store.load(id))?.outbox.length).toBeGreaterThan(0);

    // The instance's next message is applied before anyone redrives: it finishes the step's sends first.
    const healthy = new LocalRunner(handlers(), resources.feeds, { visibilityTimeout: 1 });
    const seen: Received[] = [];
    await deps.runtime.reply({ task: second?.body.task, status: "done", fields: {} });
    await healthy.settle();
    // Then the redrive: the same body back in the inbox under a new message id.
    const [message] = await drainQueue(clients.sqs, deadLetters);
    await clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: resources.queues.inbox,
        MessageBody: message?.raw,
        MessageGroupId: id,
        MessageDeduplicationId: `redrive-${Date.now()}`,
      }),
    );
    await workUntil(healthy, seen, async () => (await status(id)) === "completed");
    expect(await status(id)).toBe("completed");
    const mine = seen.filter((m) => (m.body.task as { instance: string }).instance === id);
    expect(taskIds(mine, "mid")).toEqual([`${id}/0.0.0.1.0/1`]);
    expect(taskIds(mine, "after-second")).toHaveLength(1);
    // The redriven reply was met as a duplicate, after everything it had to send was sent.
    const history = (await deps.runtime.deps.store.history(id)).records;
    expect(history.filter((r) => r.notes.some((n) => n.kind === "ignored"))).toHaveLength(1);
  }, 120_000);

  it("applies each message once when two advance handlers take the same messages (visibility passed)", async () => {
    await deps.definitions.register(
      "pair.yaml",
      "do: [ { action: one }, { action: two }, { action: three } ]\n",
    );
    const id = `pair-${run}`;
    // The first handler is slow after its save: its messages become visible again to the second.
    const slow = (d: AwsDeps) => {
      const send = d.dispatcher.sendTask.bind(d.dispatcher);
      d.dispatcher.sendTask = async (task: TaskCommand) => {
        await sleep(1600);
        return send(task);
      };
    };
    // Which deliveries each handler took: some must have reached both.
    const took = (ids: Set<string>) => (d: AwsDeps) => {
      const apply = d.runtime.apply.bind(d.runtime);
      d.runtime.apply = (instance, message, delivery) => {
        if (instance === id && delivery) ids.add(delivery);
        return apply(instance, message, delivery);
      };
    };
    const [byA, byB] = [new Set<string>(), new Set<string>()];
    const a = new LocalRunner(
      handlers((d) => {
        slow(d);
        took(byA)(d);
      }),
      resources.feeds,
      { visibilityTimeout: 1 },
    );
    const b = new LocalRunner(handlers(took(byB)), resources.feeds, { visibilityTimeout: 1 });
    await deps.runtime.launch({ process: "pair", id });
    const seen: Received[] = [];
    for (let i = 0; i < 40 && (await status(id)) !== "completed"; i++) {
      await Promise.all([a.tick(), sleep(1100).then(() => b.tick())]);
      for (const task of await drainQueue(clients.sqs, resources.queues.tasks)) {
        seen.push(task);
        await deps.runtime.reply({ task: task.body.task, status: "done", fields: {} });
      }
    }
    expect(await status(id)).toBe("completed");
    const history = (await deps.runtime.deps.store.history(id)).records;
    // One step per message, in order, none applied twice (a duplicate would show as an ignored note).
    expect(history.map((r) => [r.seq, r.message.type, r.notes.length])).toEqual([
      [1, "launch", 0],
      [2, "reply", 0],
      [3, "reply", 0],
      [4, "reply", 0],
    ]);
    expect([...byA].filter((delivery) => byB.has(delivery)).length).toBeGreaterThan(0);
    const mine = seen.filter((m) => (m.body.task as { instance: string }).instance === id);
    expect(new Set(taskIds(mine, "two"))).toEqual(new Set([`${id}/0.1/1`]));
  }, 120_000);

  it("finishes a finishing step's sends after a crash, though its status moved the head (a child's end reaches its parent)", async () => {
    await deps.definitions.register("kid.yaml", "do: [ { action: chore } ]\n");
    await deps.definitions.register("parent.yaml", "do: [ { call: kid }, { action: after-kid } ]\n");
    const id = `parent-${run}`;
    // The child's last step is saved (completed: its head is due), then the handler dies sending.
    let died = 0;
    const dying = (d: AwsDeps) => {
      const enqueue = d.dispatcher.enqueue.bind(d.dispatcher);
      d.dispatcher.enqueue = async (instance, message) => {
        if (message.type === "child" && died++ === 0) throw new Error("the Lambda died here");
        return enqueue(instance, message);
      };
    };
    const runner = new LocalRunner(handlers(dying), resources.feeds, { visibilityTimeout: 1 });
    await deps.runtime.launch({ process: "parent", id });
    const seen: Received[] = [];
    await workUntil(runner, seen, async () => died > 0);
    // The container is gone with what it kept in memory: a new one takes the redelivery.
    const fresh = new LocalRunner(handlers(), resources.feeds, { visibilityTimeout: 1 });
    await workUntil(fresh, seen, async () => (await status(id)) === "completed");
    expect(died).toBe(1);
    expect(await status(id)).toBe("completed");
    expect(taskIds(seen, "after-kid")).toEqual([`${id}/0.1/1`]);
    // The child's head, due at its last step, was written by the container that finished its sends.
    const kids = await deps.runtime.deps.store.list({ status: "completed", process: "kid" });
    expect(kids.map((k) => k.id).filter((k) => k.startsWith(id))).toHaveLength(1);
  }, 60_000);

  it("publishes a lifecycle event too large for EventBridge with its ids and a truncated mark", async () => {
    const watch = await watchEvents("docket.instance.faulted", "faulted");
    await deps.definitions.register("loud.yaml", "do: [ { action: loud } ]\n");
    const id = `loud-${run}`;
    const runner = new LocalRunner(handlers(), resources.feeds, { visibilityTimeout: 1 });
    await deps.runtime.launch({ process: "loud", id });
    await runner.settle();
    const [task] = await drainQueue(clients.sqs, resources.queues.tasks);
    // A fault message of 300 KB: the event that carries it would pass EventBridge's 256 KB.
    const message = "x".repeat(300_000);
    await deps.runtime.reply({ task: task?.body.task, status: "critical", error: { message } });
    await runner.settle();
    expect(await status(id)).toBe("faulted");
    const events: Received[] = [];
    for (let i = 0; i < 10 && !events.length; i++) events.push(...(await drainQueue(clients.sqs, watch)));
    expect(events.map((e) => e.body.detail)).toEqual([{ instance: id, process: "loud", truncated: true }]);
  }, 60_000);

  it("sends a step's commands once though another container, behind it, replays that step later", async () => {
    await deps.definitions.register("duo.yaml", "do: [ { action: one }, { action: two } ]\n");
    const id = `duo-${run}`;
    const watch = await watchEvents("docket.instance.completed", "completed");
    const [a, b] = [handlers(), handlers()].map(
      (functions) => new LocalRunner(functions, resources.feeds, { visibilityTimeout: 1 }),
    );
    await deps.runtime.launch({ process: "duo", id });
    const seen: Received[] = [];
    // Container A applies the launch and the first reply; B the last (its head is due: completed).
    const mine = (m: Received) => (m.body.task as { instance: string }).instance === id;
    await workUntil(
      a as LocalRunner,
      seen,
      async () => taskIds(seen.filter(mine), "two").length > 0,
      30,
      "two",
    );
    const two = seen.filter(mine).find((m) => (m.body.task as { participant: string }).participant === "two");
    await deps.runtime.reply({ task: two?.body.task, status: "done", fields: {} });
    await (b as LocalRunner).settle();
    expect(await status(id)).toBe("completed");
    // A duplicate reply reaches A, whose last state is a step behind: it replays the last step.
    await deps.runtime.reply({ task: two?.body.task, status: "done", fields: { again: true } });
    await (a as LocalRunner).settle();
    const events: Received[] = [];
    for (let i = 0; i < 6; i++) events.push(...(await drainQueue(clients.sqs, watch)));
    expect(events.filter((e) => (e.body.detail as { instance: string }).instance === id)).toHaveLength(1);
  }, 60_000);

  it("sets aside a reply sent outside its instance's message group", async () => {
    await deps.definitions.register("grouped.yaml", "do: [ { action: grouped } ]\n");
    const id = `grouped-${run}`;
    const runner = new LocalRunner(handlers(), resources.feeds, { visibilityTimeout: 1 });
    await deps.runtime.launch({ process: "grouped", id });
    await runner.settle();
    const [task] = await drainQueue(clients.sqs, resources.queues.tasks);
    await clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: resources.queues.inbox,
        MessageGroupId: "somewhere-else",
        MessageBody: JSON.stringify({ task: task?.body.task, status: "done", fields: {} }),
      }),
    );
    await runner.settle();
    expect(await status(id)).toBe("running");
    const reasons: string[] = [];
    for (let i = 0; i < 5 && !reasons.length; i++)
      for (const m of await drainQueue(clients.sqs, resources.queues.deadLetters as string))
        if (String(m.body.body).includes(id)) reasons.push(String(m.body.reason));
    expect(reasons).toEqual([
      `a reply for instance ${id} sent in message group somewhere-else: send it with MessageGroupId = task.reply_group`,
    ]);
  }, 60_000);

  it("sets aside, unapplied, a message whose step could never be sent (a target with no invoke queue)", async () => {
    await deps.definitions.register("charged.yaml", "do: [ { action: prepare }, { action: charge } ]\n");
    const id = `charged-${run}`;
    const misconfigured = handlers(undefined, (its) => ({
      ...its,
      targetParticipants: ["charge"],
      queues: { ...its.queues, invoke: undefined },
    }));
    const runner = new LocalRunner(misconfigured, resources.feeds, { visibilityTimeout: 1 });
    await deps.runtime.launch({ process: "charged", id });
    await runner.settle();
    const [prepare] = await drainQueue(clients.sqs, resources.queues.tasks);
    expect(prepare?.body.task).toMatchObject({ participant: "prepare" });
    await deps.runtime.reply({ task: prepare?.body.task, status: "done", fields: {} });
    await runner.settle();
    // Found before the save: the step is not written, so the message is whole in the dead-letter queue.
    const stored = await deps.runtime.deps.store.load(id);
    expect(stored?.version).toBe(1);
    const reasons: string[] = [];
    for (let i = 0; i < 5 && !reasons.length; i++)
      for (const m of await drainQueue(clients.sqs, resources.queues.deadLetters as string))
        if (String(m.body.body).includes(id)) reasons.push(String(m.body.reason));
    expect(reasons).toEqual(["participant charge is a target but no invoke queue is configured"]);
  }, 60_000);

  it("keeps a launch of hundreds of tasks and a definition near 1 MB out of DynamoDB's 400 KB items", async () => {
    const big = `# ${"x".repeat(600_000)}\ncontext: { items: [] }\ndo:\n  - foreach: { select: context.items, parallel: true, do: [ { action: many } ] }\n`;
    await deps.definitions.register("wide.yaml", big);
    const id = `wide-${run}`;
    const items = Array.from({ length: 300 }, (_, i) => i);
    await deps.runtime.launch({ process: "wide", id, fields: { items } });
    const runner = new LocalRunner(handlers(), resources.feeds, { visibilityTimeout: 5 });
    await runner.settle();
    expect((await deps.runtime.deps.store.load(id))?.snapshot.status).toBe("running");
    const { Attributes } = await clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: resources.queues.tasks,
        AttributeNames: ["ApproximateNumberOfMessages"],
      }),
    );
    expect(Number(Attributes?.ApproximateNumberOfMessages)).toBe(items.length);
    // The next step (a reply) of the same instance saves and loads as usual.
    const [one] = await drainQueue(clients.sqs, resources.queues.tasks);
    await clients.sqs.send(new PurgeQueueCommand({ QueueUrl: resources.queues.tasks }));
    await deps.runtime.reply({ task: one?.body.task, status: "done", fields: {} });
    await runner.settle();
    expect((await deps.runtime.deps.store.history(id)).records.map((r) => r.message.type)).toEqual([
      "launch",
      "reply",
    ]);
  }, 180_000);
});

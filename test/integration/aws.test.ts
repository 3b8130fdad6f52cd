/**
 * docket's Lambda handlers against a real emulator endpoint over HTTP (moto's server): a definition
 * dropped in the bucket, a launch on the bus, a worker answering from its queue (the worker SDK's SQS
 * connection), an await woken by PutEvents, a delay, lifecycle events, a crash between the state write
 * and the outbox.
 */
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import {
  ReceiveMessageCommand,
  type ReceiveMessageCommandOutput,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type AwsClients, type AwsDeps, type AwsResources, makeAwsDeps } from "../../lib/aws/deps.js";
import { rootContext } from "../../lib/engine/index.js";
import type { JsonObject } from "../../lib/language/model.js";
import { taskRef, type WireTask } from "../../lib/runtime/wire.js";
import { type Connection, type Delivery, sqsConnection } from "../../lib/worker/index.js";
import { emulatorClients, emulatorConfig } from "./emulator.js";
import { depsOfFunctions, provisioning } from "./roles.js";

const config = emulatorConfig(inject("endpoint"));
const clients: AwsClients = emulatorClients(config.endpoint);

let resources: Provisioned;
let deps: AwsDeps;
let runner: LocalRunner;
let clock = Date.now();
/** The fan process's branches' participants, each with a queue of its own. */
const FAN = ["fa", "fb", "fc"];

beforeAll(async () => {
  resources = await provisionEngine(provisioning(clients), `it${Date.now().toString(36)}`, {
    participants: ["approve", ...FAN],
  });
  deps = makeAwsDeps(clients, resources, () => clock);
  runner = new LocalRunner(functionsOf(deps), resources.feeds, { visibilityTimeout: 1 });
});

/** Each function's deps: its role's with IAM enforced (test/integration/roles.ts), else `shared`. */
function functionsOf(shared: AwsDeps, adjust = (r: AwsResources): AwsResources => r) {
  return depsOfFunctions(resources, (own, its) => makeAwsDeps(own, adjust(its), () => clock), shared);
}

/**
 * An operator's read of a queue, left in flight: raw on purpose, as these tests count what is on a
 * queue (tasks sent once) or read events and dead letters, which no worker takes.
 */
async function receive(url: string): Promise<{ body: Record<string, unknown>; handle: string }[]> {
  const { Messages = [] } = await clients.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ["All"] }),
  );
  return Messages.map((m) => ({ body: JSON.parse(m.Body ?? "{}"), handle: m.ReceiptHandle as string }));
}

/**
 * A worker's connection (the SDK's, docket/worker) taking `participant`'s tasks from `queue`; on the
 * default queue it passes other participants' tasks on, a second or three later. No long poll: the
 * tests step the functions between receives.
 */
function connection(queue: string, participant: string, sqs: SQSClient = clients.sqs): Connection {
  return sqsConnection({ queue, participant, sqs, s3: clients.s3, waitSeconds: 0, leaseSeconds: 60 });
}

/**
 * A worker's answer: a done reply through the connection (to the task's inbox, in its instance's
 * group), then the task deleted.
 */
async function answer(delivery: Delivery, fields: JsonObject): Promise<void> {
  await delivery.reply({ task: taskRef(delivery.task), status: "done", fields });
  await delivery.acknowledge();
}

/**
 * A worker: takes one of `participant`'s tasks from a queue and answers it, stepping `functions`
 * until one comes.
 */
async function work(
  url: string,
  participant: string,
  fields: (task: WireTask) => JsonObject,
  { functions = runner, sqs = clients.sqs }: { functions?: LocalRunner; sqs?: SQSClient } = {},
): Promise<WireTask> {
  const worker = connection(url, participant, sqs);
  for (let i = 0; i < 20; i++) {
    const [delivery] = await worker.receive(1);
    if (delivery) {
      await answer(delivery, fields(delivery.task));
      return delivery.task;
    }
    await functions.tick();
  }
  throw new Error(`no ${participant} task arrived on ${url}`);
}

/**
 * An SQS client for a worker's connection that keeps the body of every message it receives: the
 * task as it was sent, before the connection reads fields offloaded to S3.
 */
function wireTap(): { sqs: SQSClient; received: Record<string, unknown>[] } {
  const sqs = new SQSClient(config);
  const received: Record<string, unknown>[] = [];
  sqs.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (context.commandName === "ReceiveMessageCommand")
        for (const m of (result.output as ReceiveMessageCommandOutput).Messages ?? [])
          received.push(JSON.parse(m.Body ?? "{}"));
      return result;
    },
    { step: "initialize", name: "wireTap" },
  );
  return { sqs, received };
}

const ORDER = `process: order
context: { ref: "", total: 0 }
do:
  - action: reserve
  - action: approve
  - await: { event: payment.received, key: context.ref, into: payment }
  - delay: 2
  - action: ship
`;

describe("on an AWS emulator", () => {
  it("registers a definition put in the bucket, and rejects an invalid one with its errors", async () => {
    await clients.s3.send(
      new PutObjectCommand({ Bucket: resources.bucket, Key: "sales/order.yaml", Body: ORDER }),
    );
    await clients.s3.send(
      new PutObjectCommand({
        Bucket: resources.bucket,
        Key: "broken.xml",
        Body: "<process><nope/></process>",
      }),
    );
    await runner.settle();
    expect((await deps.definitions.resolve("sales/order"))?.definition.root.children).toHaveLength(5);
    expect(await deps.definitions.rejection("broken")).toEqual([
      expect.stringMatching(/^broken\.xml:1:\d+: unknown element <nope>/),
    ]);
  });

  it("runs an instance launched on the bus: tasks on queues, replies, an await, a delay", async () => {
    await clients.events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: resources.bus,
            Source: "shop",
            DetailType: "docket.launch",
            Detail: JSON.stringify({
              process: "sales/order",
              id: "order-7",
              fields: { ref: "R7", total: 70 },
            }),
          },
        ],
      }),
    );
    await runner.settle();
    const reserve = await work(resources.queues.tasks, "reserve", () => ({ reserved: true }));
    expect(reserve.fields).toMatchObject({ ref: "R7", total: 70 });
    await runner.settle();
    const approve = await work(resources.queues.participants?.approve as string, "approve", (t) => ({
      approved: (t.fields as { total: number }).total < 100,
    }));
    expect(approve.task.participant).toBe("approve");
    await runner.settle();
    await clients.events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: resources.bus,
            Source: "bank",
            DetailType: "payment.received",
            Detail: JSON.stringify({ key: "R7", data: { amount: 70 } }),
          },
        ],
      }),
    );
    await runner.settle();
    clock += 3000;
    await new Promise((r) => setTimeout(r, 2100));
    await runner.settle();
    await work(resources.queues.tasks, "ship", () => ({ shipped: true }));
    await runner.settle();
    const stored = await deps.runtime.deps.store.load("order-7");
    expect(stored?.snapshot.status).toBe("completed");
    expect(rootContext(stored?.snapshot ?? ({} as never))).toMatchObject({
      reserved: true,
      approved: true,
      payment: { amount: 70 },
      shipped: true,
    });
  }, 60_000);
});

describe("on an AWS emulator, under load and faults", () => {
  it("publishes lifecycle events that an EventBridge rule delivers to a queue", async () => {
    const { CreateQueueCommand, GetQueueAttributesCommand } = await import("@aws-sdk/client-sqs");
    const { PutRuleCommand, PutTargetsCommand } = await import("@aws-sdk/client-eventbridge");
    const { QueueUrl } = await clients.sqs.send(
      new CreateQueueCommand({ QueueName: `${resources.table}-watch` }),
    );
    const { Attributes } = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }),
    );
    await clients.events.send(
      new PutRuleCommand({
        Name: `${resources.table}-watch`,
        EventBusName: resources.bus,
        EventPattern: JSON.stringify({ source: ["docket"], "detail-type": ["docket.instance.completed"] }),
      }),
    );
    await clients.events.send(
      new PutTargetsCommand({
        Rule: `${resources.table}-watch`,
        EventBusName: resources.bus,
        Targets: [{ Id: "watch", Arn: Attributes?.QueueArn }],
      }),
    );
    await deps.definitions.register("quick.yaml", "do: [ { assign: { property: x, value: '1' } } ]\n");
    await deps.runtime.launch({ process: "quick", id: "quick-1" });
    await runner.settle();
    const seen = await receive(QueueUrl as string);
    expect(
      seen.map((m) => [m.body["detail-type"], (m.body.detail as { instance: string }).instance]),
    ).toContainEqual(["docket.instance.completed", "quick-1"]);
  });

  it("recovers from a crash between the state write and the outbox send, with no duplicate task", async () => {
    await deps.definitions.register("two.yaml", "do: [ { action: first }, { action: second } ]\n");
    const functions = functionsOf(makeAwsDeps(clients, resources, () => clock));
    const crashing = functions("advance");
    const send = crashing.dispatcher.sendTask.bind(crashing.dispatcher);
    let crashes = 0;
    crashing.dispatcher.sendTask = async (task) => {
      if (task.task.participant === "second" && crashes++ === 0) throw new Error("the Lambda died here");
      return send(task);
    };
    const crashRunner = new LocalRunner(functions, resources.feeds, { visibilityTimeout: 1 });
    await deps.runtime.launch({ process: "two", id: "two-1" });
    await crashRunner.settle();
    await work(resources.queues.tasks, "first", () => ({ a: 1 }), { functions: crashRunner });
    for (let i = 0; i < 5 && crashes < 2; i++) {
      await crashRunner.tick();
      await new Promise((r) => setTimeout(r, 1100));
    }
    await crashRunner.settle();
    const seconds: unknown[] = [];
    for (let i = 0; i < 3; i++)
      seconds.push(
        ...(await receive(resources.queues.tasks)).filter(
          (m) => (m.body.task as { participant: string }).participant === "second",
        ),
      );
    expect(crashes).toBe(2);
    expect(seconds).toHaveLength(1);
    // Once sent, the step's commands are marked so: nothing is left to send again.
    expect((await deps.runtime.deps.store.load("two-1"))?.outbox).toEqual([]);
  }, 60_000);

  it("recovers from a crash right after the launch's write: the first task is sent once", async () => {
    await deps.definitions.register("solo.yaml", "do: [ { action: solo } ]\n");
    const functions = functionsOf(makeAwsDeps(clients, resources, () => clock));
    const crashing = functions("advance");
    const send = crashing.dispatcher.sendTask.bind(crashing.dispatcher);
    let crashes = 0;
    crashing.dispatcher.sendTask = async (task) => {
      if (crashes++ === 0) throw new Error("the Lambda died after writing the launch");
      return send(task);
    };
    const crashRunner = new LocalRunner(functions, resources.feeds, { visibilityTimeout: 1 });
    await deps.runtime.launch({ process: "solo", id: "solo-1" });
    await crashRunner.settle();
    for (let i = 0; i < 5 && crashes < 2; i++) {
      await new Promise((r) => setTimeout(r, 1100));
      await crashRunner.tick();
    }
    await crashRunner.settle();
    const solos: unknown[] = [];
    for (let i = 0; i < 3; i++) solos.push(...(await receive(resources.queues.tasks)));
    expect(crashes).toBe(2);
    expect(solos.map((m) => (m as { body: { task: { id: string } } }).body.task.id)).toEqual([
      "solo-1/0.0/1",
    ]);
  }, 60_000);

  it("refuses what only docket may send to the inbox (a forged cancel, a forged timer) from anyone else", async () => {
    await deps.definitions.register(
      "guarded.yaml",
      "do: [ { action: { participant: guard, timeout: PT1H } } ]\n",
    );
    await deps.runtime.launch({ process: "guarded", id: "guard-1" });
    await runner.settle();
    const before = JSON.stringify((await deps.runtime.deps.store.load("guard-1"))?.snapshot);
    const forge = (message: object, signature?: string) =>
      clients.sqs.send(
        new SendMessageCommand({
          QueueUrl: resources.queues.inbox,
          MessageGroupId: "guard-1",
          MessageDeduplicationId: String(Math.random()),
          MessageBody: JSON.stringify(message),
          ...(signature
            ? { MessageAttributes: { "docket-signature": { DataType: "String", StringValue: signature } } }
            : {}),
        }),
      );
    await forge({ type: "operator", action: "cancel" });
    await forge({ type: "operator", action: "cancel" }, "0".repeat(64));
    await forge({ type: "timer", node: "0.0", timer: "guard-1/0.0/t1" }, "not hex");
    await runner.settle();
    expect(JSON.stringify((await deps.runtime.deps.store.load("guard-1"))?.snapshot)).toBe(before);
    const reasons: string[] = [];
    for (let i = 0; i < 5 && reasons.length < 3; i++)
      for (const m of await receive(resources.queues.deadLetters as string)) {
        const reason = String(m.body.reason);
        if (String(m.body.body).includes("guard-1") || reason.includes("unsigned")) reasons.push(reason);
      }
    expect(reasons.sort()).toEqual([
      "an unsigned operator message: only docket's functions may send one",
      "an unsigned operator message: only docket's functions may send one",
      "an unsigned timer message: only docket's functions may send one",
    ]);
    // Its real task still completes it (and leaves the shared task queue clean for the next tests).
    await work(resources.queues.tasks, "guard", () => ({ guarded: true }));
    await runner.settle();
    expect((await deps.runtime.deps.store.load("guard-1"))?.snapshot.status).toBe("completed");
  }, 60_000);

  it("keeps a duplicate reply in the history, after the step it met, across pages", async () => {
    await deps.definitions.register(
      "three.yaml",
      "do: [ { action: one }, { action: two }, { action: three } ]\n",
    );
    await deps.runtime.launch({ process: "three", id: "dup-1" });
    await runner.settle();
    const first = await work(resources.queues.tasks, "one", () => ({ a: 1 }));
    await runner.settle();
    // The worker's reply again (SQS delivers at least once): noted as ignored, nothing changes.
    await deps.runtime.reply({ task: first.task, status: "done", fields: { a: 2 } });
    await runner.settle();
    await work(resources.queues.tasks, "two", () => ({ b: 1 }));
    await runner.settle();
    const store = deps.runtime.deps.store;
    const all = (await store.history("dup-1")).records;
    const kinds = all.map(
      (r) => `${r.seq}:${r.message.type}${r.notes.length ? `(${r.notes[0]?.kind})` : ""}`,
    );
    expect(kinds).toEqual(["1:launch", "2:reply", "2:reply(ignored)", "3:reply"]);
    // Paging one record at a time keeps the note with its step, and loses nothing.
    const launch = await store.history("dup-1", { limit: 1 });
    expect(launch.records.map((r) => r.seq)).toEqual([1]);
    const first2 = await store.history("dup-1", { after: launch.next, limit: 1 });
    expect(first2.records.map((r) => r.seq)).toEqual([2, 2]);
    const rest = await store.history("dup-1", { after: first2.next, limit: 1 });
    expect(rest.records.map((r) => r.seq)).toEqual([3]);
    expect(rootContext((await store.load("dup-1"))?.snapshot ?? ({} as never))).toMatchObject({ a: 1, b: 1 });
  }, 60_000);

  it("runs 50 instances with parallel branches concurrently with no lost update", async () => {
    await deps.definitions.register(
      "fan.yaml",
      "context: { a: 0, b: 0, c: 0 }\ndo:\n  - all: { do: [ { action: fa }, { action: fb }, { action: fc } ] }\n",
    );
    const ids = Array.from({ length: 50 }, (_, i) => `fan-${i}`);
    await Promise.all(ids.map((id) => deps.runtime.launch({ process: "fan", id })));
    await runner.settle();
    // A worker for each branch's participant, each on its participant's queue, as the README advises:
    // on the shared default queue each would pass the others' tasks on (a send and a delete each).
    const workers = FAN.map((p) => connection(resources.queues.participants?.[p] as string, p));
    for (let round = 0; round < 80; round++) {
      for (const worker of workers)
        for (const delivery of await worker.receive(10)) {
          const key = delivery.task.task.participant.slice(1);
          await answer(delivery, { ...delivery.task.fields, [key]: 1 });
        }
      await Promise.all([runner.tick(), runner.tick()]);
      const done = await Promise.all(ids.map((id) => deps.runtime.deps.store.load(id)));
      if (done.every((s) => s?.snapshot.status === "completed")) break;
    }
    for (const id of ids) {
      const stored = await deps.runtime.deps.store.load(id);
      expect({
        id,
        status: stored?.snapshot.status,
        context: rootContext(stored?.snapshot ?? ({} as never)),
      }).toEqual({ id, status: "completed", context: { a: 1, b: 1, c: 1 } });
    }
    // Listing reads the status index: every one of them, as completed, and none as running.
    const store = deps.runtime.deps.store;
    const completed = await store.list({ status: "completed", process: "fan", limit: 100 });
    expect(completed.map((i) => i.id).sort()).toEqual([...ids].sort());
    expect(await store.list({ status: "running", process: "fan" })).toEqual([]);
    const some = await store.list({ process: "fan", limit: 7 });
    expect(some).toHaveLength(7);
    expect(some.map((i) => i.createdAt)).toEqual([...some.map((i) => i.createdAt)].sort((a, b) => b - a));
  }, 120_000);

  it("offloads contexts, messages and task fields over the threshold to S3", async () => {
    const small = makeAwsDeps(clients, { ...resources, largePayloadBytes: 4096 }, () => clock);
    const smaller = (r: AwsResources) => ({ ...r, largePayloadBytes: 4096 });
    const smallRunner = new LocalRunner(functionsOf(small, smaller), resources.feeds, {
      visibilityTimeout: 1,
    });
    await small.definitions.register(
      "big.yaml",
      "context: { blob: '' }\ndo: [ { action: big }, { action: after } ]\n",
    );
    const blob = "b".repeat(200_000);
    // The launch message itself is over the threshold: the inbox carries a reference.
    await small.runtime.launch({ process: "big", id: "big-1", fields: { seed: blob } });
    await smallRunner.settle();
    const tap = wireTap();
    const worked = { functions: smallRunner, sqs: tap.sqs };
    await work(resources.queues.tasks, "big", () => ({ blob }), worked);
    await smallRunner.settle();
    const afterTask = await work(resources.queues.tasks, "after", () => ({ done: true }), worked);
    await smallRunner.settle();
    // The task as it was sent (the connection hands over its fields read from S3).
    const after = tap.received.find(
      (body) => (body.task as { participant: string }).participant === "after",
    ) as Record<string, unknown>;
    const stored = await small.runtime.deps.store.load("big-1");
    expect(stored?.snapshot.status).toBe("completed");
    expect(String(rootContext(stored?.snapshot ?? ({} as never)).blob)).toHaveLength(200_000);
    // A task too large for SQS names where its fields are; the worker reads them there.
    expect(afterTask.fields).toMatchObject({ blob, seed: blob });
    expect(after.fields).toBeUndefined();
    const ref = after.fields_ref as { bucket: string; key: string };
    expect(ref).toEqual({
      bucket: resources.payloadBucket,
      key: expect.stringMatching(/^transient\/[0-9a-f]{64}\.json$/),
    });
    const { GetObjectCommand, ListObjectsV2Command } = await import("@aws-sdk/client-s3");
    const object = await clients.s3.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
    expect(JSON.parse((await object.Body?.transformToString()) ?? "{}")).toMatchObject({ blob, seed: blob });
    const { Contents = [] } = await clients.s3.send(
      new ListObjectsV2Command({ Bucket: resources.payloadBucket, Prefix: "instances/big-1/" }),
    );
    expect(Contents.length).toBeGreaterThanOrEqual(2); // the reply's message and the snapshot
    // Nothing offloaded lands in the definitions bucket, where it would be taken for a definition.
    const definitions = await clients.s3.send(new ListObjectsV2Command({ Bucket: resources.bucket }));
    expect((definitions.Contents ?? []).map((o) => o.Key)).not.toContainEqual(
      expect.stringMatching(/[0-9a-f]{64}/),
    );
    // Deleting the instance deletes its payloads.
    expect(await small.runtime.deps.store.remove("big-1")).toBe(true);
    const left = await clients.s3.send(
      new ListObjectsV2Command({ Bucket: resources.payloadBucket, Prefix: "instances/big-1/" }),
    );
    expect(left.Contents ?? []).toEqual([]);
  }, 60_000);
});

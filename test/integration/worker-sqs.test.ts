/**
 * The worker SDK over SQS (lib/worker/sqs.ts) on the emulator, the handlers run by the LocalRunner:
 * a participant's own queue, fields offloaded to S3, concurrency, a heartbeat keeping a task past
 * its visibility, a stop in the middle of a task giving it back, another participant's task passed
 * on from the shared default queue more times than its maxReceiveCount and still worked.
 */

import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import type { Snapshot } from "../../lib/engine/types.js";
import {
  createWorker,
  dynamoIdempotency,
  type Handler,
  type IdempotencyStore,
  sqsConnection,
  type Worker,
} from "../../lib/worker/index.js";
import { emulatorClients } from "./emulator.js";
import { provisioning } from "./roles.js";

const clients = emulatorClients(inject("endpoint"));
/** `npm run soak:workers` (DOCKET_WORKER_SOAK=1): the heartbeat test at full length. */
const FULL_SCALE = process.env.DOCKET_WORKER_SOAK === "1";
let resources: Provisioned;
let deps: AwsDeps;
let runner: LocalRunner;
let running = true;
let ticking: Promise<void>;
const workers: Worker[] = [];

beforeAll(async () => {
  resources = await provisionEngine(provisioning(clients), `wsdk${Date.now().toString(36)}`, {
    participants: ["review"],
  });
  deps = makeAwsDeps(clients, resources);
  runner = new LocalRunner(deps, resources.feeds, { visibilityTimeout: 1 });
  await deps.definitions.register("review.yaml", "context: { n: 0 }\ndo: [ { action: review } ]\n");
  const watched = "do: [ { action: { participant: review, heartbeat: 3 } } ]\n";
  await deps.definitions.register("watched.yaml", watched);
  ticking = (async () => {
    while (running) if ((await runner.tick()) === 0) await new Promise((r) => setTimeout(r, 50));
  })();
}, 120_000);
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop(0)));
});
afterAll(async () => {
  running = false;
  await ticking;
});

function worker(
  participant: string,
  handler: Handler,
  options: { lease?: number; concurrency?: number; idempotency?: IdempotencyStore } = {},
) {
  const queue = participant === "review" ? resources.queues.participants?.review : resources.queues.tasks;
  const started = createWorker({
    participant,
    handler,
    concurrency: options.concurrency,
    idempotency: options.idempotency,
    connection: sqsConnection({
      queue: queue as string,
      participant,
      sqs: clients.sqs,
      s3: clients.s3,
      leaseSeconds: options.lease ?? 30,
      waitSeconds: 1,
    }),
    log: () => undefined,
  });
  workers.push(started);
  return started;
}

async function ended(id: string, timeoutMs = 30_000): Promise<Snapshot> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const snapshot = (await deps.runtime.deps.store.load(id))?.snapshot;
    if (snapshot && snapshot.status !== "running") return snapshot;
    if (Date.now() > deadline)
      throw new Error(`${id} is still ${snapshot?.status}: ${JSON.stringify(snapshot?.nodes)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("a worker over SQS", () => {
  it("answers tasks concurrently, reading fields offloaded to S3", async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    // Each task holds until three run at once (or 10 s pass): the peak is the limit, however the
    // tasks arrive, and a worker over its limit would show 4.
    let three: () => void = () => undefined;
    const threeRunning = new Promise<void>((resolve) => {
      three = resolve;
    });
    worker(
      "review",
      async (task) => {
        running++;
        peak = Math.max(peak, running);
        if (running === 3) three();
        seen.push(String(task.fields.big ?? "").length);
        await Promise.race([threeRunning, new Promise((r) => setTimeout(r, 10_000))]);
        running--;
        return { n: 1 };
      },
      { concurrency: 3 },
    );
    const big = "x".repeat(100_000); // over the 64 KB threshold: the task carries fields_ref
    for (let i = 0; i < 4; i++)
      await deps.runtime.launch({ process: "review", id: `q-${i}`, fields: { big } });
    for (let i = 0; i < 4; i++) expect((await ended(`q-${i}`)).status).toBe("completed");
    expect(seen).toEqual([100_000, 100_000, 100_000, 100_000]);
    expect(peak).toBe(3);
  }, 90_000);

  it("keeps a task past its visibility with heartbeats, so a second worker never runs it", async () => {
    // 5 s of work against a 3 s visibility, a heartbeat each second (2 s to spare on a busy
    // emulator); `npm run soak`: 3 minutes against 1 minute, a heartbeat every 15 s.
    const { lease, beats, every } = FULL_SCALE
      ? { lease: 60, beats: 12, every: 15_000 }
      : { lease: 3, beats: 5, every: 1000 };
    const runs: string[] = [];
    const slow: Handler = async (task) => {
      runs.push(task.id);
      for (let i = 0; i < beats; i++) {
        await new Promise((r) => setTimeout(r, every));
        await task.heartbeat();
      }
      return { n: 2 };
    };
    worker("review", slow, { lease });
    worker("review", slow, { lease });
    await deps.runtime.launch({ process: "review", id: "hb-1" });
    expect((await ended("hb-1", beats * every + 30_000)).status).toBe("completed");
    expect(runs).toEqual(["hb-1/0.0/1"]);
  }, 300_000);

  it("keeps an action with a heartbeat alive while its worker beats, and times it out when it goes silent", async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    worker(
      "review",
      async (task) => {
        await task.heartbeat({ step: 0 });
        if (task.instance === "silent-1")
          await sleep(9000); // silent three times its 3 s heartbeat
        else for (let i = 1; i <= 7; i++) await sleep(1000).then(() => task.heartbeat({ step: i }));
        return { n: 3 };
      },
      { concurrency: 2 },
    );
    await deps.runtime.launch({ process: "watched", id: "beating-1" });
    await deps.runtime.launch({ process: "watched", id: "silent-1" });
    const beating = await ended("beating-1");
    expect([beating.status, beating.fault?.message]).toEqual(["completed", undefined]);
    const silent = await ended("silent-1");
    expect(silent.fault).toMatchObject({ code: "Timeout", node: "0.0" });
    expect(silent.fault?.message).toMatch(/sent no heartbeat for 3 s/);
  }, 90_000);

  it("answers a reply over SQS's 256 KiB as an error, so the instance hears of it", async () => {
    worker("review", async () => ({ blob: "x".repeat(300 * 1024) }));
    await deps.runtime.launch({ process: "review", id: "huge-1" });
    const snapshot = await ended("huge-1");
    expect(snapshot.status).toBe("suspended");
    expect(snapshot.incidents[0]?.error).toMatchObject({ code: "ReplyTooLarge" });
    expect(snapshot.incidents[0]?.error.message).toMatch(/over the 262144 its connection carries/);
  }, 90_000);

  it("passes another participant's task on the default queue on as a new message, never towards its dead-lettering", async () => {
    // The clerk has no queue of its own; the filer's worker polls the default queue first and
    // meets the clerk's task again and again, more times than the queue's maxReceiveCount.
    const tasks = resources.queues.tasks;
    const { Attributes } = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: tasks, AttributeNames: ["RedrivePolicy"] }),
    );
    const redrive = JSON.parse(Attributes?.RedrivePolicy ?? "{}") as {
      maxReceiveCount: number;
      deadLetterTargetArn: string;
    };
    const { QueueUrl: deadLetters } = await clients.sqs.send(
      new GetQueueUrlCommand({ QueueName: redrive.deadLetterTargetArn.split(":").at(-1) }),
    );
    await deps.definitions.register("clerk.yaml", "do: [ { action: clerk } ]\n");
    let met = 0;
    const counting = {
      send: async (command: Parameters<SQSClient["send"]>[0]) => {
        const output = await clients.sqs.send(command as ReceiveMessageCommand);
        const received = (
          output as { Messages?: { MessageAttributes?: Record<string, { StringValue?: string }> }[] }
        ).Messages;
        met += (received ?? []).filter(
          (m) => m.MessageAttributes?.participant?.StringValue === "clerk",
        ).length;
        return output;
      },
    } as unknown as SQSClient;
    const filer = createWorker({
      participant: "filer",
      handler: () => ({}),
      connection: sqsConnection({ queue: tasks, participant: "filer", sqs: counting, waitSeconds: 1 }),
      log: () => undefined,
    });
    workers.push(filer);
    await deps.runtime.launch({ process: "clerk", id: "passed-on" });
    const deadline = Date.now() + 60_000;
    while (met <= redrive.maxReceiveCount && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    expect(met).toBeGreaterThan(redrive.maxReceiveCount);
    // The filer stops before the clerk starts. On the emulator the two would not meet the task
    // fairly: its long poll looks at the queue when it starts and when a message is sent, so the
    // filer, polling again each second from the moment it passed the task on with a delay of
    // whole seconds, looks just after the task comes back every time, and the clerk, at a random
    // phase, rarely won (in one run, at the twelfth pass; SQS hands a message to a waiting long
    // poll as it comes back, and this test's 30 s wait was not always enough under CI's load).
    await filer.stop(0);
    worker("clerk", () => ({ filed: true }));
    expect((await ended("passed-on")).status).toBe("completed");
    const { Messages = [] } = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: deadLetters, MaxNumberOfMessages: 10 }),
    );
    expect(Messages).toEqual([]);
  }, 120_000);

  it("puts a task passed on 50 times back instead, for the dead-letter queue to see a participant no worker serves", async () => {
    const tasks = resources.queues.tasks;
    const { MessageId } = await clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: tasks,
        MessageBody: "{}",
        MessageAttributes: {
          participant: { DataType: "String", StringValue: "nobody" },
          "docket-passes": { DataType: "Number", StringValue: "50" },
        },
      }),
    );
    const calls: string[] = [];
    const watching = {
      send: (command: { constructor: { name: string } }) => {
        calls.push(command.constructor.name);
        return clients.sqs.send(command as ReceiveMessageCommand);
      },
    } as unknown as SQSClient;
    const filer = sqsConnection({ queue: tasks, participant: "filer", sqs: watching, waitSeconds: 1 });
    const deadline = Date.now() + 20_000;
    while (!calls.includes("ChangeMessageVisibilityCommand") && Date.now() < deadline)
      expect(await filer.receive(10)).toEqual([]);
    expect(calls.filter((c) => c !== "ReceiveMessageCommand")).toEqual(["ChangeMessageVisibilityCommand"]);
    // Taken off the queue again, so the next tests find it as they left it.
    for (let i = 0; i < 20; i++) {
      const { Messages = [] } = await clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: tasks, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      const ours = Messages.find((m) => m.MessageId === MessageId);
      if (!ours) continue;
      await clients.sqs.send(
        new DeleteMessageCommand({ QueueUrl: tasks, ReceiptHandle: ours.ReceiptHandle }),
      );
      break;
    }
  }, 60_000);

  it("gives back the task it holds when stopped, for another worker", async () => {
    let started = false;
    const stuck = worker("review", async (task) => {
      started = true;
      await new Promise((resolve) => task.signal.addEventListener("abort", resolve));
      return { n: -1 };
    });
    await deps.runtime.launch({ process: "review", id: "stop-1" });
    while (!started) await new Promise((r) => setTimeout(r, 50));
    await stuck.stop(0);
    worker("review", async () => ({ n: 3 }));
    const snapshot = await ended("stop-1");
    expect([snapshot.status, snapshot.scopes[0]?.[1].n]).toEqual(["completed", 3]);
  }, 90_000);

  it("answers a task already answered from the DynamoDB idempotency store, never running the handler again", async () => {
    const table = `wsdk-replies-${Date.now().toString(36)}`;
    await clients.dynamo.send(
      new CreateTableCommand({
        TableName: table,
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    const store = dynamoIdempotency({ table, client: clients.dynamo });
    const ref = { id: "idem-1/0.0/1", instance: "idem-1", node: "0.0", participant: "review", attempt: 1 };
    // As a worker that answered idem-1's task and crashed before deleting it left it.
    expect(await store.put(ref.id, { task: ref, status: "done", fields: { n: 5 } })).toMatchObject({
      fields: { n: 5 },
    });
    expect(await store.put(ref.id, { task: ref, status: "done", fields: { n: 6 } })).toMatchObject({
      fields: { n: 5 },
    });
    const calls: string[] = [];
    worker(
      "review",
      async (task) => {
        calls.push(task.id);
        return { n: 9 };
      },
      { idempotency: store },
    );
    await deps.runtime.launch({ process: "review", id: "idem-1" });
    await deps.runtime.launch({ process: "review", id: "idem-2" });
    expect((await ended("idem-1")).scopes[0]?.[1].n).toBe(5);
    expect((await ended("idem-2")).scopes[0]?.[1].n).toBe(9);
    expect(calls).toEqual(["idem-2/0.0/1"]);
    expect(await store.get("idem-2/0.0/1")).toMatchObject({ status: "done", fields: { n: 9 } });
  }, 90_000);
});

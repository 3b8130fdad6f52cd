/**
 * What an action step costs on AWS, measured on the emulator as deployed: the very handlers run by
 * LocalRunner with each function's own environment, a worker answering on SQS, and every call
 * metered by SDK middleware (emulator/metering.ts: DynamoDB units by item size, index writes,
 * SQS, EventBridge and S3 requests, what is left stored; emulator/lambda-time.ts: invocations, and
 * their duration from the handlers' own CPU time plus an assumed round trip per AWS call, at the
 * memory and architecture the construct gives the functions).
 *
 * The process holds a 10 KB context and every action has a timeout, so each step starts a timer
 * that fires after the reply came: a measurement runs until every step's timer has fired and been
 * handled, and their cost is the steps'. Four measurements: one instance at a time and ten at once
 * (the worker, SQS and Lambda in batches of ten), each cold (every step applied, and its timer
 * judged, by functions that never saw the instance: new deps each round; the definition is warm,
 * as a container reads it once for all its instances) and warm (the same deps throughout, as one
 * busy container). Prints a table per million action steps; README.md "Cost" shows it.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { FUNCTION_ARCHITECTURE, FUNCTION_MEMORY_MB } from "../../cdk/functions.js";
import { provisionEngine } from "../../cdk/synth.js";
import { CALL_LATENCY_MS, InvocationMeter } from "../../emulator/lambda-time.js";
import { LocalRunner } from "../../emulator/local.js";
import {
  costPerMillion,
  describeShape,
  emptyLedger,
  type LambdaSize,
  type Ledger,
  meterDynamo,
  meterRequests,
  storagePerMillionPerMonth,
  sumLedgers,
} from "../../emulator/metering.js";
import type { Provisioned } from "../../emulator/provision.js";
import type { FunctionName } from "../../emulator/provision-iam.js";
import { type AwsClients, type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import { emulatorClients, emulatorConfig } from "./emulator.js";

const config = emulatorConfig(inject("endpoint"));
const run = Date.now().toString(36);
/**
 * Each action's timeout: well over a round of the runner on a busy machine, so the reply comes
 * first (20 s let a reply come late once in CI, two test files sharing the emulator).
 */
const TIMEOUT_S = 30;
/**
 * Action steps measured per instance, after its first: its 20 steps end with the head's rewrite,
 * as every 20th step's does (the store's snapshotEvery), so a step bears its share of one.
 */
const STEPS = 19;
const LAMBDA: LambdaSize = {
  memoryMb: FUNCTION_MEMORY_MB,
  architecture: FUNCTION_ARCHITECTURE.name as LambdaSize["architecture"],
};
const PROCESS = `context: { i: 0, n: 0, payload: "${"p".repeat(10 * 1024)}" }
do:
  - action: warm
  - while:
      condition: context.i < context.n
      do: [ { action: { participant: work, timeout: PT${TIMEOUT_S}S } } ]
`;

const ledger = emptyLedger();
/** The worker's own requests (receive, reply, delete), counted apart: a step's cost, though not the engine's. */
const workerLedger = emptyLedger();
const admin = emulatorClients(config.endpoint as string);
let resources: Provisioned;
let metered: AwsClients;
let invocations: InvocationMeter;
let poller: SQSClient;
let worker: SQSClient;
let deps: AwsDeps;
let hash: string;
const results: {
  label: string;
  steps: number;
  ledger: Ledger;
  worker: Ledger;
  forwarded: number;
  ownMs: number;
  awsMs: number;
}[] = [];

beforeAll(async () => {
  resources = await provisionEngine(admin, `cost${run}`);
  const shape = await describeShape(admin.dynamo, resources.table);
  invocations = new InvocationMeter(ledger, LAMBDA.memoryMb);
  metered = {
    dynamo: new DynamoDBClient(config),
    sqs: new SQSClient(config),
    events: new EventBridgeClient(config),
    s3: new S3Client(config),
    secrets: new SecretsManagerClient(config),
  };
  meterDynamo(metered.dynamo, ledger, { reader: admin.dynamo, shape });
  meterRequests(metered.sqs, ledger, "sqs");
  meterRequests(metered.events, ledger, "events");
  meterRequests(metered.s3, ledger, "s3");
  invocations.watchCalls(metered.dynamo, "dynamodb");
  invocations.watchCalls(metered.sqs, "sqs");
  invocations.watchCalls(metered.events, "events");
  invocations.watchCalls(metered.s3, "s3");
  invocations.watchCalls(metered.secrets, "secrets");
  // Lambda's event source mapping polls and deletes for the functions; the worker's requests are a step's too.
  poller = new SQSClient(config);
  invocations.watchPoller(poller);
  worker = new SQSClient(config);
  meterRequests(worker, workerLedger, "sqs");
  deps = makeAwsDeps(admin, resources);
  const registration = await deps.definitions.register("reference.yaml", PROCESS);
  if (!registration.ok) throw new Error(registration.problems.join("; "));
  hash = registration.hash;
}, 120_000);

/** Runs `work` without its calls counted (the ledger as it was before). */
async function unmetered<T>(work: () => Promise<T>): Promise<T> {
  const saved = { ...ledger };
  try {
    return await work();
  } finally {
    Object.assign(ledger, saved);
  }
}

/** The functions that work in a step: the advance function, and the relay that judges its timer. */
const STEPPING = ["advance", "timer-relay"] as const;

/**
 * New deps for the stepping functions over the metered clients, with the definition read already
 * (a container reads it once, for all its instances).
 */
async function freshDeps(): Promise<Map<FunctionName, AwsDeps>> {
  const made = new Map<FunctionName, AwsDeps>(
    STEPPING.map((fn) => [fn, makeAwsDeps(metered, resources.functions[fn] ?? resources)]),
  );
  await unmetered(() => Promise.all([...made.values()].map((d) => d.definitions.byHash(hash))));
  return made;
}

/**
 * Deps that are whichever set `use` gave last: one runner (its sweep once a minute, as the rule
 * runs it) whose handlers find new deps each round. The other functions get none of a step's work.
 */
function switchableDeps() {
  let current = new Map<FunctionName, AwsDeps>();
  const proxies = new Map(
    STEPPING.map((fn) => [
      fn,
      new Proxy({} as AwsDeps, { get: (_, key) => (current.get(fn) as AwsDeps)[key as keyof AwsDeps] }),
    ]),
  );
  return {
    of: (fn: FunctionName): AwsDeps => proxies.get(fn as (typeof STEPPING)[number]) ?? deps,
    use: (made: Map<FunctionName, AwsDeps>) => {
      current = made;
    },
    current: (fn: FunctionName) => current.get(fn) as AwsDeps,
  };
}

/**
 * The worker: takes up to `batch` tasks, answers them in one SendMessageBatch, deletes them in one
 * call. Raw SQS, not the worker SDK (one reply and one delete a task): the README's cost table counts
 * exactly these requests.
 */
async function answer(batch: number): Promise<number> {
  const { Messages = [] } = await worker.send(
    new ReceiveMessageCommand({ QueueUrl: resources.queues.tasks, MaxNumberOfMessages: batch }),
  );
  if (!Messages.length) return 0;
  const tasks = Messages.map(
    (m) =>
      JSON.parse(m.Body ?? "{}") as {
        task: { id: string; reply_to: string; reply_group: string };
        fields: { i: number };
      },
  );
  await worker.send(
    new SendMessageBatchCommand({
      QueueUrl: tasks[0]?.task.reply_to,
      Entries: tasks.map((t, n) => ({
        Id: String(n),
        MessageGroupId: t.task.reply_group,
        MessageDeduplicationId: t.task.id,
        MessageBody: JSON.stringify({ task: t.task, status: "done", fields: { i: t.fields.i + 1 } }),
      })),
    }),
  );
  await worker.send(
    new DeleteMessageBatchCommand({
      QueueUrl: resources.queues.tasks,
      Entries: Messages.map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle as string })),
    }),
  );
  return Messages.length;
}

/**
 * Answers `count` tasks, a round of the functions after each answer. Fails, with the instances'
 * statuses, when no task comes for three timeouts (a reply later than its timeout faults one).
 */
async function answerAll(count: number, batch: number, round: () => Promise<void>, ids: string[]) {
  let progressed = Date.now();
  for (let answered = 0; answered < count; await round()) {
    const taken = await answer(batch);
    answered += taken;
    if (taken) progressed = Date.now();
    else if (Date.now() - progressed > 3 * TIMEOUT_S * 1000) {
      const loaded = await Promise.all(ids.map((id) => deps.runtime.deps.store.load(id)));
      throw new Error(`no task came: ${loaded.map((s) => s?.snapshot.status).join(", ")}`);
    }
  }
}

/**
 * `instances` instances of the reference process, `steps` action steps each after a first one
 * (which warms the functions up), the worker and Lambda taking up to `batch` messages at a time.
 * Cold: new deps for every round of the runner. Returns the ledger of the steps and their timers.
 */
async function measure(label: string, instances: number, steps: number, batch: number, cold: boolean) {
  let relayed = 0;
  const options = {
    visibilityTimeout: 5,
    sweepEveryMs: 60_000,
    poller,
    onBatch: (queue: string, size: number) => {
      invocations.close();
      if (queue === resources.queues.timers) relayed += size;
    },
  };
  const functions = switchableDeps();
  functions.use(await freshDeps());
  const runner = new LocalRunner(functions.of, resources.feeds, options);
  const round = async () => {
    if (cold) functions.use(await freshDeps());
    await runner.settle();
  };
  const ids = Array.from({ length: instances }, (_, k) => `${label.replace(/\W+/g, "-")}-${run}-${k}`);
  for (const id of ids) await deps.runtime.launch({ process: "reference", id, fields: { n: steps + 1 } });
  await round();
  await answerAll(instances, batch, round, ids);
  // Warm: the relay's container has seen the instances too (it judges their timers from its cache).
  if (!cold)
    await unmetered(() =>
      Promise.all(ids.map((id) => functions.current("timer-relay").runtime.deps.store.load(id))),
    );
  Object.assign(ledger, emptyLedger());
  Object.assign(workerLedger, emptyLedger());
  invocations.reset();
  relayed = 0;

  await answerAll(instances * steps, batch, round, ids);
  // Until every step's timer has fired and been handled (SQS delays each by the timeout).
  const deadline = Date.now() + (TIMEOUT_S + 30) * 1000;
  while (relayed < instances * steps && Date.now() < deadline) {
    await round();
    await new Promise((r) => setTimeout(r, 1000));
  }
  await round();
  const measured = sumLedgers(ledger, workerLedger);
  const workerShare = { ...workerLedger };
  expect(relayed).toBe(instances * steps);
  // A timer judged before its reply was applied is forwarded (and ignored by the instance): none
  // should be, the worker answering well within the timeout; their cost is counted if some are.
  let forwarded = 0;
  for (const id of ids) {
    const snapshot = (await deps.runtime.deps.store.load(id))?.snapshot;
    expect(snapshot?.status, `${id}: ${JSON.stringify(snapshot?.fault ?? snapshot?.incidents)}`).toBe(
      "completed",
    );
    const { records } = await deps.runtime.deps.store.history(id);
    forwarded += records.filter((r) => r.message.type === "timer").length;
  }
  results.push({
    label,
    steps: instances * steps,
    ledger: measured,
    worker: workerShare,
    forwarded,
    ...invocations.totals,
  });
  return { ledger: measured, steps: instances * steps, instances };
}

const dollars = (n: number) => `$${n.toFixed(2)}`;

afterAll(() => {
  const rows = results.map(({ label, steps, ledger: l, worker, forwarded, ownMs, awsMs }) => {
    const cost = costPerMillion(l, steps, LAMBDA);
    const storage = storagePerMillionPerMonth(l, steps);
    const per = (n: number) => (n / steps).toFixed(2);
    const perCall = (n: number) => (n / Math.max(1, l.invocations)).toFixed(1);
    const cells = [
      cost.dynamodb,
      cost.sqs,
      cost.s3,
      cost.eventbridge,
      cost.lambdaRequests,
      cost.lambdaDuration,
    ];
    return [
      `| ${label} | ${cells.map(dollars).join(" | ")} | **${dollars(cost.total)}** | ${dollars(costPerMillion(worker, steps, LAMBDA).total)} | ${dollars(storage.dynamodb + storage.s3)} |`,
      `    per step: ${per(l.tableWriteUnits)} WRU + ${per(l.indexWriteUnits)} index WRU, ${per(l.readUnits)} RRU; SQS ${per(l.sqsStandard)} standard + ${per(l.sqsFifo)} FIFO requests; ${per(l.events)} events; S3 ${per(l.s3Writes)} PUT + ${per(l.s3Reads)} GET; ${per(l.invocations)} invocations of ${perCall(l.lambdaMs)} billed ms (own CPU ${perCall(ownMs)} ms before scaling, AWS waits ${perCall(awsMs)} ms); ${per(l.dynamoBytes)} bytes left in DynamoDB, ${per(l.s3Bytes)} in S3; ${forwarded} timers forwarded`,
    ];
  });
  console.log(
    [
      `Per million action steps (10 KB context, a ${TIMEOUT_S} s timeout on every action; Lambda ${LAMBDA.memoryMb} MB ${LAMBDA.architecture}; assumed AWS round trips ${JSON.stringify(CALL_LATENCY_MS)} ms):`,
      "| | DynamoDB | SQS | S3 | EventBridge | Lambda requests | Lambda duration | total | of which the worker's | storage a month |",
      "|---|---|---|---|---|---|---|---|---|---|",
      ...rows.flat(),
    ].join("\n"),
  );
});

/**
 * What a step writes: its step item (its message, ~1 KB) and the marker that its commands were
 * sent; the head (the 10 KB state) once every 20 steps, here at the instance's end, billed by the
 * larger of the old head and the new. Rewriting the state each step would be 11 write units a
 * step; writing the listing index each step would be one index write unit a step, where only the
 * status change should be: running to completed moves the byStatus entry (two writes) and updates
 * the byDefinition entry's status (one).
 */
function expectSmallWrites({ ledger: l, steps, instances }: Awaited<ReturnType<typeof measure>>) {
  expect(l.tableWriteUnits / steps).toBeLessThan(3.5);
  expect(l.indexWriteUnits).toBeLessThanOrEqual(3 * instances);
}

describe("the cost of an action step (10 KB context, a timeout on every action)", () => {
  it("one instance at a time, cold: each step applied by functions that never saw the instance", async () => {
    expectSmallWrites(await measure("one at a time, cold", 1, STEPS, 1, true));
  }, 150_000);

  it("one instance at a time, warm", async () => {
    expectSmallWrites(await measure("one at a time, warm", 1, STEPS, 1, false));
  }, 150_000);

  it("ten instances, the worker, SQS and Lambda in batches of ten, cold", async () => {
    expectSmallWrites(await measure("batches of ten, cold", 10, STEPS, 10, true));
  }, 150_000);

  it("ten instances in batches of ten, warm", async () => {
    expectSmallWrites(await measure("batches of ten, warm", 10, STEPS, 10, false));
  }, 150_000);
});

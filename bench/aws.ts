/**
 * `npm run bench:aws`: throughput of the AWS engine on the emulator, and what the advance handler
 * costs a step. The engine is provisioned from its template (as the integration tests do), the very
 * Lambda handlers run in this process (emulator/local.ts LocalRunner), a worker answers every task.
 * For 1, 10 and 100 concurrent instances of a 10-action process: instances launched and completed
 * per second, steps per second; then, per step, the handlers' time with the time spent in emulator
 * calls taken out (their own compute), their requests and round trips to AWS, and from those an
 * estimate of the Lambda duration a step takes on AWS, to size the functions' concurrency.
 * Uses AWS_ENDPOINT_URL when set, else starts moto's server (tools/moto-server.py) and stops it.
 */
import type { ChildProcess } from "node:child_process";
import { availableParallelism, loadavg } from "node:os";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SQSClient } from "@aws-sdk/client-sqs";
import { provisionEngine } from "../cdk/synth.js";
import { LocalRunner } from "../emulator/local.js";
import { startMoto } from "../emulator/moto.js";
import type { Provisioned } from "../emulator/provision.js";
import { type AwsClients, makeAwsDeps } from "../lib/aws/deps.js";
import { CallTimer } from "./aws-calls.js";
import { DEFINITION, type Engine, forgetInstances, type Lane, runLevel } from "./aws-level.js";
import { printReport, type Report } from "./aws-report.js";

/**
 * Concurrent instances, and how many complete in each measurement: moto answers a hundred requests
 * a second or so, so these totals keep the run within minutes. BENCH_AWS_SCALE multiplies them.
 */
const SCALE = Number(process.env.BENCH_AWS_SCALE ?? 1);
const LEVELS = [
  { concurrency: 1, instances: 20 },
  { concurrency: 10, instances: 30 },
  { concurrency: 100, instances: 100 },
].map((level) => ({ ...level, instances: Math.max(1, Math.round(level.instances * SCALE)) }));
/** A measurement that has not ended by then has stalled (or the machine is too busy to say anything). */
const LEVEL_TIMEOUT_MS = 600_000;
/**
 * Handler loops (LocalRunners, each beside a worker loop) at most; BENCH_AWS_LANES sets it. Two keep
 * this process and moto busy on two CPUs; moto, one process, gains nothing from more.
 */
const MAX_LANES = Number(process.env.BENCH_AWS_LANES ?? 2);

/** AWS_ENDPOINT_URL, or moto's server started on a free port (stopped by the returned function). */
async function emulator(): Promise<{ endpoint: string; moto?: ChildProcess }> {
  const given = process.env.AWS_ENDPOINT_URL;
  if (given) return { endpoint: given };
  return startMoto();
}

function clientsFor(endpoint: string, timer?: CallTimer): Required<Pick<AwsClients, "secrets">> & AwsClients {
  const config = {
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  };
  const clients = {
    dynamo: new DynamoDBClient(config),
    sqs: new SQSClient(config),
    events: new EventBridgeClient(config),
    s3: new S3Client(config),
    secrets: new SecretsManagerClient(config),
  };
  if (timer) {
    timer.watch(clients.dynamo, "dynamodb");
    timer.watch(clients.sqs, "sqs");
    timer.watch(clients.events, "events");
    timer.watch(clients.s3, "s3");
    timer.watch(clients.secrets, "secrets");
  }
  return clients;
}

/** A LocalRunner over clients of its own; each batch's handler and AWS time go to the handler it fed. */
function makeLane(endpoint: string, resources: Provisioned, poller: SQSClient, engine: () => Engine): Lane {
  const timer = new CallTimer();
  const deps = makeAwsDeps(clientsFor(endpoint, timer), resources, {
    onPublish: (event, detail) => {
      if (event === "docket.instance.completed") engine().onCompleted(String(detail.instance));
    },
  });
  const handlerOf = new Map(resources.feeds.map((f) => [f.queue, f.handler]));
  const byHandler: Lane["byHandler"] = new Map();
  let seen = { handlerMs: 0, awsMs: 0 };
  // Only the inbox: this process's messages all go there (launches and replies), and polling the
  // engine's other, empty queues at every tick would spend moto's requests on nothing.
  const feeds = resources.feeds.filter((feed) => feed.handler === "advance");
  const runner: LocalRunner = new LocalRunner(deps, feeds, {
    // Long enough that no batch comes back while moto is slow to answer its deletes.
    visibilityTimeout: 30,
    // Never: the sweep is a function of its own on AWS, run once a minute, no part of a step.
    sweepEveryMs: Number.POSITIVE_INFINITY,
    poller,
    // Batches of a lane run one at a time: what its counters moved since the last is this batch's.
    onBatch: (queue, size) => {
      const name = handlerOf.get(queue) ?? queue;
      const tally = byHandler.get(name) ?? { batches: 0, messages: 0, handlerMs: 0, awsMs: 0 };
      tally.batches += 1;
      tally.messages += size;
      tally.handlerMs += runner.handlerMs - seen.handlerMs;
      tally.awsMs += timer.awsMs - seen.awsMs;
      byHandler.set(name, tally);
      seen = { handlerMs: runner.handlerMs, awsMs: timer.awsMs };
    },
  });
  const reset = () => {
    runner.invocations = 0;
    runner.handlerMs = 0;
    timer.reset();
    byHandler.clear();
    seen = { handlerMs: 0, awsMs: 0 };
  };
  return { runner, timer, byHandler, reset };
}

/** The engine provisioned afresh, the process registered, the lanes, worker and launcher with their timers. */
async function setUp(endpoint: string) {
  const resources = await provisionEngine(clientsFor(endpoint), `bench${Date.now().toString(36)}`);
  const timers = { poller: new CallTimer(), worker: new CallTimer(), launcher: new CallTimer() };
  const poller = clientsFor(endpoint, timers.poller).sqs;
  const launcher = makeAwsDeps(clientsFor(endpoint, timers.launcher), resources);
  await launcher.definitions.register("bench10.yaml", DEFINITION);
  const lanes: Lane[] = [];
  const engine: Engine = {
    launcher,
    worker: clientsFor(endpoint, timers.worker).sqs,
    tasksQueue: resources.queues.tasks,
    lanes,
    onCompleted: () => {},
  };
  for (let i = 0; i < MAX_LANES; i++) lanes.push(makeLane(endpoint, resources, poller, () => engine));
  return { engine, timers };
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadAtStart = loadavg()[0] ?? 0;
  const { endpoint, moto } = await emulator();
  try {
    console.log(
      `docket on the emulator (${moto ? "moto started here" : endpoint}): node ${process.version}, ` +
        `${availableParallelism()} CPUs, load ${loadAtStart.toFixed(1)}`,
    );
    const { engine, timers } = await setUp(endpoint);
    console.log(`provisioned in ${((performance.now() - started) / 1000).toFixed(1)} s; warming up`);
    await runLevel(engine, MAX_LANES, 2 * MAX_LANES, { label: "warm", timeoutMs: LEVEL_TIMEOUT_MS });
    const levels: Report["levels"] = [];
    for (const { concurrency, instances } of LEVELS) {
      await forgetInstances(engine.launcher);
      for (const timer of Object.values(timers)) timer.reset();
      const result = await runLevel(engine, concurrency, instances, {
        label: `c${concurrency}`,
        timeoutMs: LEVEL_TIMEOUT_MS,
      });
      const { poller, worker, launcher } = timers;
      levels.push({ ...result, poller: poller.total(), worker: worker.total(), launcher: launcher.total() });
      console.log(
        `${concurrency} concurrent: ${instances} instances in ${(result.wallMs / 1000).toFixed(1)} s`,
      );
    }
    printReport({
      date: new Date().toISOString(),
      node: process.version,
      cpus: availableParallelism(),
      emulator: moto ? "moto's server started here" : endpoint,
      minutes: (performance.now() - started) / 60_000,
      load: [loadAtStart, loadavg()[0] ?? 0],
      levels,
    });
  } finally {
    moto?.kill();
  }
}

await main();
// The SDK's keep-alive sockets would hold the process open.
process.exit(0);

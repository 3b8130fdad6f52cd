/**
 * One measurement of `npm run bench:aws`: `concurrency` instances of the 10-step process kept in
 * flight (a new one launched as each completes) until `total` have completed, with the handlers run
 * by LocalRunners (lanes: each its own clients, so the time its handlers spend in AWS calls is its
 * own) and a worker answering every task. See bench/aws.ts.
 */
import { performance } from "node:perf_hooks";
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { LocalRunner } from "../emulator/local.js";
import { batchWriteAll } from "../lib/aws/calls.js";
import type { AwsDeps } from "../lib/aws/deps.js";
import { addCounts, type CallTimer, type Counts, zeroCounts } from "./aws-calls.js";

export const STEPS = 10;
export const PROCESS = "bench10";
/** Ten actions in sequence: each a task to the worker and its reply, an advance of the instance. */
export const DEFINITION = `process: ${PROCESS}\ndo:\n${Array.from(
  { length: STEPS },
  (_, i) => `  - action: step${i + 1}\n`,
).join("")}`;

/** What each handler (by the queue that feeds it) was handed and how long it took. */
export interface HandlerTally {
  batches: number;
  messages: number;
  handlerMs: number;
  awsMs: number;
}

/** A LocalRunner whose handlers alone use the clients `timer` watches. */
export interface Lane {
  readonly runner: LocalRunner;
  readonly timer: CallTimer;
  readonly byHandler: Map<string, HandlerTally>;
  /** Zeroes the runner's, the timer's and the tallies' counts, as a measurement begins. */
  readonly reset: () => void;
}

export interface Engine {
  readonly launcher: AwsDeps;
  readonly lanes: readonly Lane[];
  readonly worker: SQSClient;
  readonly tasksQueue: string;
  /** Called with each instance whose completion was published; set by the measurement running. */
  onCompleted: (instance: string) => void;
}

export interface LevelResult {
  readonly concurrency: number;
  readonly lanes: number;
  readonly instances: number;
  readonly steps: number;
  readonly wallMs: number;
  /** The first `concurrency` launches, all at once: how long until every one had returned. */
  readonly burstMs: number;
  readonly meanLatencyMs: number;
  readonly invocations: number;
  readonly handlerMs: number;
  readonly awsMs: number;
  readonly requests: Counts;
  readonly roundTrips: Counts;
  /** The handlers' requests by SDK command. */
  readonly commands: Record<string, number>;
  /** CPU this process used (handlers, worker, poller, launches): not inflated by waiting for a CPU. */
  readonly cpuMs: number;
  readonly byHandler: Record<string, HandlerTally>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A runner with nothing to do waits this long before polling again (moto's capacity is shared). */
const IDLE_MS = 10;

/**
 * Deletes every instance's items (keys I#…; the definitions stay). moto's Query reads every item of
 * the table, whatever the key: each measurement starts from a table without the last one's items,
 * lest it pay for them.
 */
export async function forgetInstances({ table }: AwsDeps): Promise<void> {
  let start: Record<string, unknown> | undefined;
  do {
    const page = await table.client.send(
      new ScanCommand({ TableName: table.name, ProjectionExpression: "pk, sk", ExclusiveStartKey: start }),
    );
    const keys = (page.Items ?? []).filter((key) => String(key.pk).startsWith("I#"));
    await batchWriteAll(
      table,
      "forgetting the last measurement's instances",
      keys.map((Key) => ({ DeleteRequest: { Key } })),
    );
    start = page.LastEvaluatedKey;
  } while (start);
}

/** Answers every task: receives up to ten, replies to each `reply_to` in one batch, deletes them. */
async function workerLoop(engine: Engine, running: () => boolean): Promise<void> {
  const { worker, tasksQueue } = engine;
  while (running()) {
    const { Messages = [] } = await worker.send(
      new ReceiveMessageCommand({ QueueUrl: tasksQueue, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    if (!Messages.length) continue;
    const tasks = Messages.map(
      (m) =>
        (JSON.parse(m.Body ?? "{}") as { task: { id: string; reply_to: string; reply_group: string } }).task,
    );
    for (const replyTo of new Set(tasks.map((t) => t.reply_to)))
      await worker.send(
        new SendMessageBatchCommand({
          QueueUrl: replyTo,
          Entries: tasks
            .filter((t) => t.reply_to === replyTo)
            .map((task, n) => ({
              Id: String(n),
              MessageGroupId: task.reply_group,
              MessageDeduplicationId: task.id,
              MessageBody: JSON.stringify({ task, status: "done", fields: {} }),
            })),
        }),
      );
    await worker.send(
      new DeleteMessageBatchCommand({
        QueueUrl: tasksQueue,
        Entries: Messages.map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle as string })),
      }),
    );
  }
}

async function laneLoop(lane: Lane, running: () => boolean): Promise<void> {
  while (running()) if ((await lane.runner.tick()) === 0) await sleep(IDLE_MS);
}

/** Sums the lanes' counters into one result. */
function collect(lanes: readonly Lane[]) {
  const requests = zeroCounts();
  const roundTrips = zeroCounts();
  const byHandler: Record<string, HandlerTally> = {};
  const commands: Record<string, number> = {};
  let invocations = 0;
  let handlerMs = 0;
  let awsMs = 0;
  for (const { runner, timer, byHandler: own } of lanes) {
    invocations += runner.invocations;
    handlerMs += runner.handlerMs;
    awsMs += timer.awsMs;
    addCounts(requests, timer.requests);
    addCounts(roundTrips, timer.roundTrips);
    for (const [name, n] of Object.entries(timer.commands)) commands[name] = (commands[name] ?? 0) + n;
    for (const [name, t] of own) {
      const into = byHandler[name] ?? { batches: 0, messages: 0, handlerMs: 0, awsMs: 0 };
      byHandler[name] = into;
      into.batches += t.batches;
      into.messages += t.messages;
      into.handlerMs += t.handlerMs;
      into.awsMs += t.awsMs;
    }
  }
  return { invocations, handlerMs, awsMs, requests, roundTrips, commands, byHandler };
}

/** Keeps instances in flight: each completion launches the next until `total` have been launched. */
class InFlight {
  private launched = 0;
  private readonly launchedAt = new Map<string, number>();
  /** Each completed instance's time from its launch to its completion. */
  readonly latencies: number[] = [];
  readonly failures: unknown[] = [];
  private finish: () => void = () => {};
  readonly allCompleted = new Promise<void>((resolve) => {
    this.finish = resolve;
  });

  constructor(
    private readonly engine: Engine,
    private readonly label: string,
    private readonly total: number,
  ) {}

  async launch(): Promise<void> {
    const id = `${this.label}-${this.launched++}`;
    this.launchedAt.set(id, performance.now());
    await this.engine.launcher.runtime.launch({ process: PROCESS, id });
  }

  completed(id: string): void {
    const at = this.launchedAt.get(id);
    if (at === undefined) return;
    this.launchedAt.delete(id);
    this.latencies.push(performance.now() - at);
    if (this.launched < this.total) this.launch().catch((error) => this.failures.push(error));
    if (this.latencies.length === this.total) this.finish();
  }
}

/** Resolves to "timeout" after `ms`, unless `pending` settles first. */
async function within<T>(pending: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([pending, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function runLevel(
  engine: Engine,
  concurrency: number,
  total: number,
  options: { readonly label: string; readonly timeoutMs: number },
): Promise<LevelResult> {
  for (const lane of engine.lanes) lane.reset();
  const lanes = engine.lanes.slice(0, Math.min(concurrency, engine.lanes.length));
  const inFlight = new InFlight(engine, options.label, total);
  engine.onCompleted = (id) => inFlight.completed(id);
  let running = true;
  const loops = [
    ...lanes.map((lane) => laneLoop(lane, () => running)),
    ...lanes.map(() => workerLoop(engine, () => running)),
  ];
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, () => inFlight.launch()));
  const burstMs = performance.now() - started;
  // A line now and then: on a busy machine moto slows down many times over.
  const progress = setInterval(
    () => console.log(`  ${options.label}: ${inFlight.latencies.length} of ${total} completed`),
    15_000,
  );
  const outcome = await within(inFlight.allCompleted, options.timeoutMs);
  clearInterval(progress);
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  running = false;
  await Promise.all(loops);
  const { latencies, failures } = inFlight;
  if (failures.length) throw failures[0];
  if (outcome === "timeout")
    throw new Error(
      `${options.label}: ${latencies.length} of ${total} instances completed in ${options.timeoutMs / 1000} s`,
    );
  return {
    concurrency,
    lanes: lanes.length,
    instances: total,
    steps: total * STEPS,
    wallMs,
    burstMs,
    meanLatencyMs: latencies.reduce((a, b) => a + b, 0) / latencies.length,
    cpuMs: (cpu.user + cpu.system) / 1000,
    ...collect(lanes),
  };
}

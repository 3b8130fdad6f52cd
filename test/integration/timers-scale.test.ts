/**
 * The long-timer index at scale, on the emulator: timers started through the real dispatcher land
 * on many partition keys (lib/aws/timers.ts), and one sweep (lib/aws/sweep.ts) hands N timers due
 * in the same minute to the timer queue with a flat number of calls per timer. N is DOCKET_SCALE
 * (default 1000; the soak runs 10000). Also: a canceled timer leaves the index, a timer beyond the
 * horizon stays until a later sweep, and a sweep cut short by its deadline leaves the rest to the
 * next one. The clock is the test's: each case moves it hours past the last, as time would.
 */
import { PurgeQueueCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { GetCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import type { Provisioned } from "../../emulator/provision.js";
import { deleteMessagesAll } from "../../lib/aws/calls.js";
import { type AwsClients, type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import { makeSweepHandler } from "../../lib/aws/handlers.js";
import {
  bucketOf,
  TIMER_BUCKET_MS,
  TIMER_SHARDS,
  type TimerRef,
  timerIndexKey,
  timerPointerKey,
} from "../../lib/aws/timers.js";
import { hearCalls } from "../support/sdk-calls.js";
import { emulatorClients } from "./emulator.js";
import { depsOfFunctions, provisioning } from "./roles.js";

const N = Number(process.env.DOCKET_SCALE ?? 1000);
const MINUTE = 60_000;
const endpoint = inject("endpoint");
const admin: AwsClients = emulatorClients(endpoint);

let resources: Provisioned;
let deps: AwsDeps;
let clock = bucketOf(Date.now());
/** What the sweep's own clients did: calls by service, each entry it sent, and those SQS took in. */
const sweepCalls = { dynamo: 0, sqs: 0, sendBatches: 0 };
const sent: { timer: string; delay: number }[] = [];
const accepted: { timer: string; messageId: string }[] = [];
let sweep: ReturnType<typeof makeSweepHandler>;

type Entry = { Id: string; MessageBody: string; DelaySeconds: number };
/** Counts the calls a client makes, and keeps what each SendMessageBatch entry said and whether SQS took it. */
function counted(clients: AwsClients): AwsClients {
  for (const service of ["dynamo", "sqs"] as const)
    hearCalls(clients[service], {
      sent: ({ command, input }) => {
        sweepCalls[service]++;
        if (command !== "SendMessageBatchCommand") return;
        sweepCalls.sendBatches++;
        for (const entry of input.Entries as Entry[])
          sent.push({ timer: JSON.parse(entry.MessageBody).timer, delay: entry.DelaySeconds });
      },
      answered: ({ command, input, output }) => {
        if (command !== "SendMessageBatchCommand") return;
        const entries = new Map((input.Entries as Entry[]).map((e) => [e.Id, e]));
        for (const ok of (output?.Successful ?? []) as { Id: string; MessageId: string }[])
          accepted.push({
            timer: JSON.parse(entries.get(ok.Id)?.MessageBody ?? "{}").timer,
            messageId: ok.MessageId,
          });
      },
    });
  return clients;
}

const resetCounts = () => {
  Object.assign(sweepCalls, { dynamo: 0, sqs: 0, sendBatches: 0 });
  sent.length = 0;
  accepted.length = 0;
};

beforeAll(async () => {
  resources = await provisionEngine(provisioning(admin), `ts${Date.now().toString(36)}`);
  deps = makeAwsDeps(admin, resources, () => clock);
  const own = makeAwsDeps(counted(emulatorClients(endpoint)), resources, () => clock);
  // With IAM enforced (npm run test:iam) the sweep signs as its function's role.
  const sweepDeps = depsOfFunctions(
    resources,
    (clients, its) => makeAwsDeps(counted(clients), its, () => clock),
    own,
  )("sweep");
  sweep = makeSweepHandler(sweepDeps);
  // The rule has run the sweep before: the first sweep ever looks back a day (one query per shard and hour).
  await sweep();
}, 120_000);

/** Moves the clock hours past everything before, to the start of an hour plus `minutes`. */
function laterHour(minutes = 0): number {
  clock = bucketOf(clock) + 3 * TIMER_BUCKET_MS + minutes * MINUTE;
  return clock;
}

async function inParallel<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: width }, worker));
}

const startAll = (timers: readonly TimerRef[]) =>
  inParallel(timers, 16, (timer) => deps.dispatcher.startTimer(timer));

/** Index items and pointers still in the table whose timer id starts with `prefix`. */
async function indexed(prefix: string): Promise<number> {
  let count = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await deps.table.client.send(
      new ScanCommand({
        TableName: deps.table.name,
        FilterExpression: "(begins_with(pk, :index) AND contains(sk, :id)) OR begins_with(pk, :pointer)",
        ExpressionAttributeValues: { ":index": "TIMERS#", ":id": `#${prefix}`, ":pointer": `T#${prefix}` },
        ExclusiveStartKey: start,
      }),
    );
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey;
  } while (start);
  return count;
}

/**
 * Empties the timer queue every 200 ms until `done` settles, standing in for the relay. The
 * emulator's SQS tallies every message in a queue on each message sent or received, so a queue
 * left to fill makes sending N messages cost N² (hours at 10,000); what SQS took in is checked
 * from its answers to the sweep's SendMessageBatch calls instead.
 */
async function purgeWhile(done: Promise<unknown>): Promise<void> {
  let finished = false;
  const stop = () => {
    finished = true;
  };
  done.then(stop, stop);
  while (!finished) {
    await admin.sqs.send(new PurgeQueueCommand({ QueueUrl: resources.queues.timers }));
    await new Promise((r) => setTimeout(r, 200));
  }
  await done;
}

/** Takes the timer queue's messages as the relay would, received and deleted, until `done` settles and the queue reads empty. */
async function drainTimerQueue(done: Promise<unknown>): Promise<TimerRef[]> {
  const got = new Map<string, TimerRef>();
  let finished = false;
  const stop = () => {
    finished = true;
  };
  done.then(stop, stop);
  const receiver = async () => {
    for (let empty = 0; empty < 2; ) {
      const { Messages = [] } = await admin.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: resources.queues.timers,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 900,
          WaitTimeSeconds: 0,
        }),
      );
      // By message id: the emulator may give one message to two receivers at once.
      for (const m of Messages) got.set(m.MessageId as string, JSON.parse(m.Body ?? "{}"));
      if (Messages.length)
        await deleteMessagesAll(
          admin.sqs,
          resources.queues.timers,
          Messages.map((m) => m.ReceiptHandle as string),
        );
      else if (finished) empty++;
      else await new Promise((r) => setTimeout(r, 50));
    }
  };
  // Several receivers, so the queue stays short (see purgeWhile).
  await Promise.all([done, ...Array.from({ length: 8 }, receiver)]);
  return [...got.values()];
}

const timer = (id: string, due: number): TimerRef => ({ timer: id, instance: `i-${id}`, node: "0.0", due });

describe("long timers, sharded and swept in batches", () => {
  it(`hands ${N} timers due in the same minute to the queue in one sweep, with a flat number of calls per timer`, async () => {
    const start = laterHour(5);
    // The rule runs the sweep every minute: its cursor is current when the timers come due.
    await sweep();
    const minute = start + 60 * MINUTE;
    const timers = Array.from({ length: N }, (_, i) =>
      timer(`scale-${i}`, minute + Math.floor((i * MINUTE) / N)),
    );
    const started = performance.now();
    await startAll(timers);
    const shards = new Set(timers.map((t) => timerIndexKey(t).pk));
    expect(shards.size).toBe(TIMER_SHARDS);
    expect(await indexed("scale-")).toBe(2 * N);
    const startMs = performance.now() - started;

    clock = minute + MINUTE;
    resetCounts();
    const swept = performance.now();
    const sweeping = sweep();
    await purgeWhile(sweeping);
    expect(await sweeping).toEqual({ handed: N, finished: true });
    const sweepMs = performance.now() - swept;
    const perTimer = { sqs: sweepCalls.sqs / N, dynamo: sweepCalls.dynamo / N };
    console.log(
      `sweep of ${N} timers: ${sweepCalls.sqs} SQS calls (${perTimer.sqs.toFixed(3)}/timer), ` +
        `${sweepCalls.dynamo} DynamoDB calls (${perTimer.dynamo.toFixed(3)}/timer); ` +
        `starting them ${Math.round(startMs)} ms, the sweep ${Math.round(sweepMs)} ms`,
    );
    expect(sweepCalls.sqs).toBe(sweepCalls.sendBatches);
    expect(perTimer.sqs).toBeLessThanOrEqual(0.15);
    expect(perTimer.dynamo).toBeLessThanOrEqual(0.2);
    // All overdue by now: each went with no delay.
    expect(sent.every((s) => s.delay === 0)).toBe(true);

    expect(await indexed("scale-")).toBe(0);
    // SQS took in exactly one message for each timer.
    expect(accepted).toHaveLength(N);
    expect(new Set(accepted.map((a) => a.messageId)).size).toBe(N);
    expect(new Set(accepted.map((a) => a.timer))).toEqual(new Set(timers.map((t) => t.timer)));
  }, 600_000);

  it("takes a canceled timer out of the index; keeps one due past the horizon until a later sweep", async () => {
    const start = laterHour(30);
    const soon = timer("horizon-soon", start + 20 * MINUTE);
    const later = timer("horizon-later", start + 40 * MINUTE);
    const canceled = timer("horizon-canceled", start + 30 * MINUTE);
    await startAll([soon, later, canceled]);
    // Different hours: the index spreads them over buckets as well as shards.
    expect(bucketOf(soon.due)).not.toBe(bucketOf(later.due));
    const item = async (key: { pk: string; sk: string }) =>
      (await deps.table.client.send(new GetCommand({ TableName: deps.table.name, Key: key }))).Item;
    expect(await item(timerIndexKey(canceled))).toMatchObject({ timer: "horizon-canceled" });

    await deps.dispatcher.cancelTimer(canceled.timer);
    expect(await item(timerIndexKey(canceled))).toBeUndefined();
    expect(await item(timerPointerKey(canceled.timer))).toBeUndefined();
    expect(await item(timerIndexKey(soon))).toBeDefined();

    clock = start + 6 * MINUTE;
    resetCounts();
    expect(await sweep()).toEqual({ handed: 1, finished: true });
    // Each timer goes with the delay still to go, whole seconds up.
    expect(sent).toEqual([{ timer: "horizon-soon", delay: 14 * 60 }]);
    expect(await item(timerIndexKey(later))).toBeDefined();
    const { pk, sk } = timerIndexKey(later);
    expect(await item(timerPointerKey(later.timer))).toMatchObject({ in: pk, at: sk });

    clock = start + 26 * MINUTE + 500;
    resetCounts();
    expect(await sweep()).toEqual({ handed: 1, finished: true });
    expect(sent).toEqual([{ timer: "horizon-later", delay: 14 * 60 }]);
    expect(await indexed("horizon-")).toBe(0);
  }, 60_000);

  it("leaves what a sweep cut short by its deadline did not hand over to the next sweep, each timer once", async () => {
    const start = laterHour(10);
    const hour = bucketOf(start) + 2 * TIMER_BUCKET_MS;
    const timers = Array.from({ length: 200 }, (_, i) => timer(`cut-${i}`, hour + i * 9000));
    await startAll(timers);
    // Every one due, and their hour closed: a whole sweep would move its cursor past it.
    clock = hour + 50 * MINUTE;
    resetCounts();
    const cut = await sweep(undefined, {
      getRemainingTimeInMillis: () => (sweepCalls.sendBatches ? 0 : 60_000),
    });
    expect(cut.finished).toBe(false);
    expect(cut.handed).toBeGreaterThan(0);
    expect(cut.handed).toBeLessThan(timers.length);
    expect(await indexed("cut-")).toBe(2 * (timers.length - cut.handed));

    const sweeping = sweep();
    const received = await drainTimerQueue(sweeping);
    expect(await sweeping).toEqual({ handed: timers.length - cut.handed, finished: true });
    expect(await indexed("cut-")).toBe(0);
    // Each once, whether the first sweep or the second handed it over (the queue may still hold
    // delayed timers of the tests before: only this test's are compared).
    const cutOnes = received.map((t) => t.timer).filter((id) => id.startsWith("cut-"));
    expect(cutOnes.sort()).toEqual(timers.map((t) => t.timer).sort());
    expect(await sweep()).toEqual({ handed: 0, finished: true });
  }, 60_000);
});

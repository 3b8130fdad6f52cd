/**
 * The sweep, run once a minute: hands the long timers that have come within SQS's 15-minute delay
 * (the horizon, now + 15 minutes) to the timer queue, each with the delay still to go, and takes
 * them out of the index (timers.ts).
 *
 * - Where to start: a cursor item records the first hour bucket not yet wholly handed over, so a
 *   sweep reads from there to the horizon's bucket, never scans. On the very first sweep (no
 *   cursor yet) it looks back FIRST_LOOK_BACK_MS: a timer overdue by more than that when the first
 *   sweep ever succeeds is not found (the rule runs the sweep every minute from deployment, so
 *   only a sweep broken for an hour after its first timer came due would leave one behind; a
 *   longer look-back costs every fresh table a query per shard and hour).
 * - The cursor passes a bucket once every shard of it was handed over and the bucket has closed:
 *   its end lies SKEW_LAG_MS before the horizon. A timer is stored only when due beyond its
 *   writer's now + 15 minutes, so no later write lands in a closed bucket, given clocks and
 *   in-flight writes within that lag.
 * - Each shard of each bucket is one query, read page by page (1 MB each); its timers go to the
 *   queue with SendMessageBatch (10 a call) and out of the index with BatchWriteItem (25 a call),
 *   HANDOVER_CHUNK at a time, so the cost per timer is flat. SHARD_PARALLELISM shards at once.
 * - When the invocation's time runs low the sweep stops between chunks; the cursor stays at the
 *   first bucket not wholly handed over, and the next sweep carries on from there.
 */
import type { SQSClient } from "@aws-sdk/client-sqs";
import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { batchWriteAll, forEachLimited, queryPages, sendMessageBatchAll } from "./calls.js";
import { aws, type TableRef } from "./table.js";
import {
  bucketOf,
  MAX_SQS_DELAY_S,
  TIMER_BUCKET_MS,
  TIMER_SHARDS,
  type TimerRef,
  timerMessage,
  timerPartition,
  timerPointerKey,
  timerSortKey,
} from "./timers.js";

export interface SweepDeps {
  readonly table: TableRef;
  readonly sqs: SQSClient;
  /** The timer queue (the relay moves a fired timer from there to its instance's inbox). */
  readonly timerQueue: string;
  readonly now: () => number;
}

export interface SweepOptions {
  /** Milliseconds the invocation has left (Lambda's context.getRemainingTimeInMillis); absent: no deadline. */
  readonly timeLeftMs?: () => number;
}

export interface SweepResult {
  /** Timers handed to the timer queue. */
  readonly handed: number;
  /** False when the deadline cut the sweep short: the next one carries on. */
  readonly finished: boolean;
}

export const FIRST_LOOK_BACK_MS = 60 * 60 * 1000;
export const SKEW_LAG_MS = 2 * 60 * 1000;
/** Shards handed over at once (each sends its batches a few at a time too: sendMessageBatchAll). */
const SHARD_PARALLELISM = 8;
/** Timers handed over between two looks at the clock: 10 SendMessageBatch and 8 BatchWriteItem calls. */
const HANDOVER_CHUNK = 100;
/** Time kept for the chunks in flight when the deadline is seen (a chunk takes well under a second). */
const DEADLINE_RESERVE_MS = 5000;
const CURSOR_KEY = { pk: "TIMERS", sk: "CURSOR" };

interface Partition {
  readonly bucket: number;
  readonly shard: number;
}

/** One sweep: every shard of every bucket from the cursor to the horizon's, then the cursor moved on. */
export async function sweepTimers(deps: SweepDeps, options: SweepOptions = {}): Promise<SweepResult> {
  const horizon = deps.now() + MAX_SQS_DELAY_S * 1000;
  const last = bucketOf(horizon);
  const from = Math.min(await readCursor(deps), last);
  const partitions: Partition[] = [];
  for (let bucket = from; bucket <= last; bucket += TIMER_BUCKET_MS)
    for (let shard = 0; shard < TIMER_SHARDS; shard++) partitions.push({ bucket, shard });
  const { timeLeftMs } = options;
  const outOfTime = () => timeLeftMs !== undefined && timeLeftMs() < DEADLINE_RESERVE_MS;
  const unfinished = new Set<number>();
  let handed = 0;
  await forEachLimited(partitions, SHARD_PARALLELISM, async (partition) => {
    const swept = outOfTime()
      ? { handed: 0, complete: false }
      : await sweepPartition(deps, partition, horizon, outOfTime);
    handed += swept.handed;
    if (!swept.complete) unfinished.add(partition.bucket);
  });
  let next = from;
  while (next + TIMER_BUCKET_MS + SKEW_LAG_MS <= horizon && !unfinished.has(next)) next += TIMER_BUCKET_MS;
  if (next > from) await advanceCursor(deps, next);
  return { handed, finished: unfinished.size === 0 };
}

/** The first bucket that may still hold timers. */
async function readCursor(deps: SweepDeps): Promise<number> {
  const { table } = deps;
  const { Item } = await aws("reading the sweep's cursor", () =>
    table.client.send(new GetCommand({ TableName: table.name, Key: CURSOR_KEY, ConsistentRead: true })),
  );
  return typeof Item?.from === "number" ? Item.from : bucketOf(deps.now() - FIRST_LOOK_BACK_MS);
}

/** Moves the cursor forward only: a slower sweep running beside this one never moves it back. */
async function advanceCursor(deps: SweepDeps, from: number): Promise<void> {
  const { table } = deps;
  try {
    await aws("moving the sweep's cursor", () =>
      table.client.send(
        new PutCommand({
          TableName: table.name,
          Item: { ...CURSOR_KEY, from },
          ConditionExpression: "attribute_not_exists(#from) OR #from < :from",
          ExpressionAttributeNames: { "#from": "from" },
          ExpressionAttributeValues: { ":from": from },
        }),
      ),
    );
  } catch (error) {
    if (!(error instanceof Error && error.name === "ConditionalCheckFailedException")) throw error;
  }
}

/** Hands over one shard of one bucket, page by page; incomplete when the deadline stopped it. */
async function sweepPartition(
  deps: SweepDeps,
  { bucket, shard }: Partition,
  horizon: number,
  outOfTime: () => boolean,
): Promise<{ handed: number; complete: boolean }> {
  let handed = 0;
  const pages = queryPages(deps.table, "finding due timers", {
    KeyConditionExpression: "pk = :pk AND sk <= :to",
    ExpressionAttributeValues: { ":pk": timerPartition(bucket, shard), ":to": timerSortKey(horizon, "~") },
    ConsistentRead: true,
  });
  for await (const page of pages)
    for (let at = 0; at < page.length; at += HANDOVER_CHUNK) {
      if (outOfTime()) return { handed, complete: false };
      const chunk = page.slice(at, at + HANDOVER_CHUNK);
      await handOver(deps, chunk);
      handed += chunk.length;
    }
  return { handed, complete: true };
}

/**
 * Sends the timers to the timer queue, each with its own delay, then deletes them and their
 * pointers from the index. A crash between the two leaves them in the index, and the next sweep
 * hands them over again: that is harmless, the engine ignores a timer it has already fired.
 */
async function handOver(deps: SweepDeps, items: readonly Record<string, unknown>[]): Promise<void> {
  const timers: TimerRef[] = items.map((item) => ({
    timer: String(item.timer),
    instance: String(item.instance),
    node: String(item.node),
    due: Number(item.due),
  }));
  const now = deps.now();
  await sendMessageBatchAll(
    deps.sqs,
    deps.timerQueue,
    timers.map((timer) => timerMessage(timer, now)),
  );
  await batchWriteAll(
    deps.table,
    "removing handed-over timers",
    items.flatMap((item, i) => [
      { DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } },
      { DeleteRequest: { Key: timerPointerKey((timers[i] as TimerRef).timer) } },
    ]),
  );
}

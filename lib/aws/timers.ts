/**
 * The long-timer index: a timer beyond SQS's 15-minute delay waits in the table until the sweep
 * (sweep.ts) hands it to the timer queue. Its writes are spread over many partition keys,
 *
 *   TIMERS#<bucket start, 15 digits>#<shard, 2 digits>   <due, 15 digits>#<timer>
 *   T#<timer>                                            TIMER   (a pointer: `in` the pk, `at` the sk)
 *
 * so that a burst (10,000 instances started at once, each waiting an hour) does not fall on one
 * partition key: DynamoDB takes about 1,000 write units a second on a partition, so one key would
 * hold a burst to some 1,000 timers a second.
 *
 * - The shard is a stable hash of the timer id over TIMER_SHARDS keys: timers due in the same
 *   hour go to 8 keys, some 8,000 a second.
 * - The bucket is the hour the timer is due in. The sweep reads the buckets from its cursor up to
 *   its horizon (now + 15 minutes): with hours that is one bucket nearly always, so a sweep costs
 *   one query per shard (minute buckets would make it two buckets, and the first sweep's
 *   look-back sixty times as many queries). Within a partition the sort key is the due time, so a
 *   query reads only the timers already within the horizon.
 * - The pointer says where the timer is, so canceling finds it without knowing its due time.
 */
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { batchWriteAll } from "./calls.js";
import { aws, pad, shardOf, type TableRef } from "./table.js";

/** SQS delays a message at most 15 minutes (SendMessage, DelaySeconds): longer timers wait in the table. */
export const MAX_SQS_DELAY_S = 15 * 60;
export const TIMER_SHARDS = 8;
export const TIMER_BUCKET_MS = 60 * 60 * 1000;

/** A timer as the dispatcher starts it and the timer queue carries it. */
export interface TimerRef {
  readonly timer: string;
  readonly instance: string;
  readonly node: string;
  readonly due: number;
}

/**
 * A timer's message on the timer queue: the timer itself, delayed until it is due (at most SQS's
 * 15 minutes: a relay that gets it early sends it round again).
 */
export function timerMessage(timer: TimerRef, now: number): { MessageBody: string; DelaySeconds: number } {
  const delay = Math.ceil((timer.due - now) / 1000);
  return { MessageBody: JSON.stringify(timer), DelaySeconds: Math.min(MAX_SQS_DELAY_S, Math.max(0, delay)) };
}

export const bucketOf = (due: number) => Math.floor(due / TIMER_BUCKET_MS) * TIMER_BUCKET_MS;
export const timerPartition = (bucket: number, shard: number) =>
  `TIMERS#${pad(bucket, 15)}#${String(shard).padStart(2, "0")}`;
export const timerSortKey = (due: number, timer: string) => `${pad(due, 15)}#${timer}`;
export const timerPointerKey = (timer: string) => ({ pk: `T#${timer}`, sk: "TIMER" });

/** Where a timer sits in the index. */
export function timerIndexKey(timer: Pick<TimerRef, "timer" | "due">): { pk: string; sk: string } {
  return {
    pk: timerPartition(bucketOf(timer.due), shardOf(timer.timer, TIMER_SHARDS)),
    sk: timerSortKey(timer.due, timer.timer),
  };
}

/**
 * Puts a long timer in the index, with its pointer. Two plain writes in one BatchWriteItem, not a
 * transaction (which costs twice the write units): either one alone is harmless. An index item
 * without its pointer still fires, and the engine ignores a timer it has canceled; a pointer
 * without its item is deleted by cancel. A failed call throws, and the step's commands are sent
 * again, which writes both.
 */
export async function storeLongTimer(table: TableRef, timer: TimerRef): Promise<void> {
  const key = timerIndexKey(timer);
  await batchWriteAll(table, "storing a long timer", [
    { PutRequest: { Item: { ...key, ...timer } } },
    { PutRequest: { Item: { ...timerPointerKey(timer.timer), in: key.pk, at: key.sk } } },
  ]);
}

/** Takes a long timer out of the index, found by its pointer; a timer not there (fired, short) is no error. */
export async function cancelLongTimer(table: TableRef, timer: string): Promise<void> {
  const pointer = timerPointerKey(timer);
  const { Item } = await aws("finding a timer", () =>
    table.client.send(new GetCommand({ TableName: table.name, Key: pointer, ConsistentRead: true })),
  );
  if (!Item) return;
  // A pointer left by a failure here is found again by the next cancel; deleting what is gone is no error.
  await batchWriteAll(table, "canceling a timer", [
    { DeleteRequest: { Key: { pk: String(Item.in), sk: String(Item.at) } } },
    { DeleteRequest: { Key: pointer } },
  ]);
}

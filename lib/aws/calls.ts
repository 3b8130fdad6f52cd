/**
 * The AWS calls whose success is not all-or-nothing, made so nothing is dropped: queries that
 * follow every page, batch writes and sends whose left-over entries are retried with backoff, and
 * whose entries that can never pass are named in an InfrastructureError.
 */
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from "@aws-sdk/client-eventbridge";
import {
  DeleteMessageBatchCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { BatchWriteCommand, QueryCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import { InfrastructureError } from "../errors.js";
import { utf8Length } from "../language/xml.js";
import { aws, type TableRef } from "./table.js";

/** How often a batch's left-overs are sent again, and the backoff between tries. */
export interface RetryPolicy {
  readonly attempts: number;
  readonly baseMs: number;
  readonly capMs: number;
}

/** About 3 s of backoff in all before giving up: the caller's own retry (SQS redelivery) takes over. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseMs: 25, capMs: 1000 };

/** Exponential backoff with full jitter, as AWS recommends for batch left-overs. */
export function backoff(attempt: number, policy: RetryPolicy = DEFAULT_RETRY): Promise<void> {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
}

type Item = Record<string, unknown>;

/**
 * Every page of a query: DynamoDB returns at most 1 MB per Query call and a LastEvaluatedKey while
 * more may follow ("Paginating table query results", DynamoDB Developer Guide). `ConsistentRead`
 * is asked of each caller: a read that decides anything must see the latest write.
 */
export async function* queryPages(
  table: TableRef,
  what: string,
  input: Omit<QueryCommandInput, "TableName" | "ExclusiveStartKey"> & { ConsistentRead: boolean },
): AsyncGenerator<Item[]> {
  let start: Item | undefined;
  do {
    const page = await aws(what, () =>
      table.client.send(new QueryCommand({ ...input, TableName: table.name, ExclusiveStartKey: start })),
    );
    yield page.Items ?? [];
    start = page.LastEvaluatedKey;
  } while (start);
}

/** All the items of a query, over as many pages as DynamoDB hands them in. */
export async function queryAll(
  table: TableRef,
  what: string,
  input: Omit<QueryCommandInput, "TableName" | "ExclusiveStartKey"> & { ConsistentRead: boolean },
): Promise<Item[]> {
  const items: Item[] = [];
  for await (const page of queryPages(table, what, input)) items.push(...page);
  return items;
}

export type WriteRequest = { PutRequest: { Item: Item } } | { DeleteRequest: { Key: Item } };

/** BatchWriteItem takes at most 25 put or delete requests (DynamoDB API Reference, BatchWriteItem). */
export const MAX_BATCH_WRITE = 25;

const chunks = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

const keyOf = (request: WriteRequest) => {
  const item = "PutRequest" in request ? request.PutRequest.Item : request.DeleteRequest.Key;
  return `${String(item.pk)}/${String(item.sk)}`;
};

/**
 * Writes every request, 25 a call. A call may leave some UnprocessedItems (throttling, internal
 * failures): AWS asks to resend them with exponential backoff (API Reference, BatchWriteItem).
 * Throws an InfrastructureError naming the keys still unwritten when the retries run out.
 */
export async function batchWriteAll(
  table: TableRef,
  what: string,
  requests: readonly WriteRequest[],
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<void> {
  for (const chunk of chunks(requests, MAX_BATCH_WRITE)) {
    let left: WriteRequest[] = chunk;
    for (let attempt = 0; left.length; attempt++) {
      if (attempt === policy.attempts)
        throw new InfrastructureError(
          `${what} failed: ${left.length} item(s) still unprocessed after ${attempt} tries: ${left.map(keyOf).join(", ")}`,
        );
      if (attempt) await backoff(attempt, policy);
      const sent = left;
      const { UnprocessedItems } = await aws(what, () =>
        table.client.send(new BatchWriteCommand({ RequestItems: { [table.name]: sent } })),
      );
      left = (UnprocessedItems?.[table.name] ?? []) as WriteRequest[];
    }
  }
}

/** PutEvents takes at most 10 entries a call, of 256 KB in all (EventBridge API Reference, PutEvents). */
export const MAX_PUT_EVENTS = 10;
export const MAX_PUT_EVENTS_BYTES = 256 * 1024;

/** An entry's size as EventBridge counts it ("Calculating PutEvents event entry size"). */
export function eventEntrySize(entry: PutEventsRequestEntry): number {
  return (
    (entry.Time ? 14 : 0) +
    utf8Length(entry.Source ?? "") +
    utf8Length(entry.DetailType ?? "") +
    utf8Length(entry.Detail ?? "") +
    (entry.Resources ?? []).reduce((sum, r) => sum + utf8Length(r), 0)
  );
}

/** Entry failures worth sending again; others (MalformedDetail, AccessDenied…) never pass. */
const RETRYABLE_EVENT_ERRORS = new Set(["InternalFailure", "ThrottlingException", "ServiceUnavailable"]);

/**
 * Puts every entry. A PutEvents call that succeeds may still fail some entries: FailedEntryCount
 * says how many, and the result entry at the same index carries ErrorCode and ErrorMessage; AWS
 * asks to send those again ("Sending events with PutEvents", EventBridge User Guide).
 */
export async function putEventsAll(
  events: EventBridgeClient,
  what: string,
  entries: readonly PutEventsRequestEntry[],
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<void> {
  for (const chunk of sizedChunks(entries, MAX_PUT_EVENTS, MAX_PUT_EVENTS_BYTES, eventEntrySize)) {
    let left = chunk;
    for (let attempt = 0; left.length; attempt++) {
      if (attempt) await backoff(attempt, policy);
      const sent = left;
      const result = await aws(what, () => events.send(new PutEventsCommand({ Entries: sent })));
      if (!result.FailedEntryCount) break;
      const failed = (result.Entries ?? []).flatMap((r, i) => (r.ErrorCode ? [{ entry: sent[i], r }] : []));
      const fatal = failed.filter(({ r }) => !RETRYABLE_EVENT_ERRORS.has(String(r.ErrorCode)));
      if (fatal.length || attempt + 1 === policy.attempts)
        throw new InfrastructureError(
          `${what} failed: ${describeEvents(fatal.length ? fatal : failed)}${fatal.length ? "" : ` (after ${attempt + 1} tries)`}`,
        );
      left = failed.map(({ entry }) => entry as PutEventsRequestEntry);
    }
  }
}

const describeEvents = (failed: { entry?: PutEventsRequestEntry; r: PutEventsResultEntry }[]) =>
  failed
    .map(({ entry, r }) => `${entry?.DetailType}: ${r.ErrorCode} ${r.ErrorMessage ?? ""}`.trim())
    .join("; ");

/**
 * SendMessageBatch takes at most 10 entries, and 256 KiB of messages in all (SQS API Reference,
 * SendMessageBatch; AWS has since raised the quota to 1 MiB, the lower one holds everywhere).
 */
export const MAX_SEND_BATCH = 10;
export const MAX_SEND_BATCH_BYTES = 256 * 1024;

type MessageEntry = Omit<SendMessageBatchRequestEntry, "Id">;

/** A message's size as SQS counts it: the body and each attribute's name, type and value. */
export function messageSize(entry: MessageEntry): number {
  let size = utf8Length(entry.MessageBody ?? "");
  for (const [name, value] of Object.entries(entry.MessageAttributes ?? {}))
    size += utf8Length(name) + utf8Length(value.DataType ?? "") + utf8Length(value.StringValue ?? "");
  return size;
}

/** Splits in order, starting a new chunk at `count` entries, `bytes` in all, or `breaks` saying so. */
function sizedChunks<T>(
  items: readonly T[],
  count: number,
  bytes: number,
  size: (item: T) => number,
  breaks: (chunk: readonly T[], item: T) => boolean = () => false,
): T[][] {
  const out: T[][] = [];
  let chunk: T[] = [];
  let total = 0;
  for (const item of items) {
    const n = size(item);
    if (chunk.length && (chunk.length === count || total + n > bytes || breaks(chunk, item))) {
      out.push(chunk);
      chunk = [];
      total = 0;
    }
    chunk.push(item);
    total += n;
  }
  if (chunk.length) out.push(chunk);
  return out;
}

const describeMessage = (entry: MessageEntry, index: number) => {
  const task = entry.MessageAttributes?.task?.StringValue;
  return `entry ${index}${task ? ` (task ${task})` : ""}${entry.MessageGroupId ? ` (group ${entry.MessageGroupId})` : ""}`;
};

/**
 * Sends every message, in order. A call may fail some entries (`Failed`, each with a Code and
 * SenderFault): those that are not the sender's fault are sent again with backoff, under the same
 * deduplication id; a sender fault, or retries run out, throws naming the entry and its Code.
 * On a FIFO queue a chunk holds one message per group, and a chunk is wholly sent before the next,
 * so a retried message never lands after a later one of its group.
 */
export async function sendMessageBatchAll(
  sqs: SQSClient,
  queueUrl: string,
  entries: readonly MessageEntry[],
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<void> {
  const indexed = entries.map((entry, index) => ({ ...entry, Id: String(index) }));
  const oneByGroup = (chunk: readonly MessageEntry[], entry: MessageEntry) =>
    entry.MessageGroupId !== undefined && chunk.some((c) => c.MessageGroupId === entry.MessageGroupId);
  const batches = sizedChunks(indexed, MAX_SEND_BATCH, MAX_SEND_BATCH_BYTES, messageSize, oneByGroup);
  const sendChunk = async (chunk: typeof indexed) => {
    let left = chunk;
    for (let attempt = 0; left.length; attempt++) {
      if (attempt) await backoff(attempt, policy);
      const sent = left;
      const { Failed = [] } = await aws(`sending ${sent.length} message(s)`, () =>
        sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: sent })),
      );
      if (!Failed.length) break;
      const fatal = Failed.filter((f) => f.SenderFault);
      if (fatal.length || attempt + 1 === policy.attempts) {
        const named = (fatal.length ? fatal : Failed).map((f) => {
          const entry = indexed[Number(f.Id)] as MessageEntry;
          return `${describeMessage(entry, Number(f.Id))}: ${f.Code}${f.Message ? ` ${f.Message}` : ""}`;
        });
        throw new InfrastructureError(
          `sending to ${queueUrl} failed${fatal.length ? "" : ` after ${attempt + 1} tries`}: ${named.join("; ")}`,
        );
      }
      const failedIds = new Set(Failed.map((f) => f.Id));
      left = sent.filter((e) => failedIds.has(e.Id));
    }
  };
  // Batches that share no message group may go at once (an event waking thousands of instances);
  // otherwise one after another, so a group's messages keep their order.
  const groups = indexed.map((e) => e.MessageGroupId).filter((g) => g !== undefined);
  const inOrder = new Set(groups).size < groups.length;
  await forEachLimited(batches, inOrder ? 1 : SEND_CONCURRENCY, sendChunk);
}

/** How many SendMessageBatch calls one sendMessageBatchAll has in flight at once. */
export const SEND_CONCURRENCY = 8;

/**
 * Runs `work` on each item in order, at most `limit` at a time; after a failure no further item is
 * started (with `limit` 1, nothing after the failed item runs), and the first failure is thrown
 * once those in flight settle.
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const failures: unknown[] = [];
  const lane = async () => {
    while (next < items.length && !failures.length) {
      const item = items[next++] as T;
      await work(item).catch((error: unknown) => {
        failures.push(error);
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failures.length) throw failures[0];
}

/**
 * Deletes received messages, 10 a call; entries that fail through no fault of the sender are tried
 * again (one left undeleted would come back after its visibility timeout, and be handled twice).
 */
export async function deleteMessagesAll(
  sqs: SQSClient,
  queueUrl: string,
  receiptHandles: readonly string[],
  policy: RetryPolicy = DEFAULT_RETRY,
): Promise<void> {
  const indexed = receiptHandles.map((ReceiptHandle, i) => ({ Id: String(i), ReceiptHandle }));
  for (const chunk of chunks(indexed, MAX_SEND_BATCH)) {
    let left = chunk;
    for (let attempt = 0; left.length; attempt++) {
      if (attempt) await backoff(attempt, policy);
      const sent = left;
      const { Failed = [] } = await aws(`deleting ${sent.length} message(s)`, () =>
        sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: sent })),
      );
      if (!Failed.length) break;
      const fatal = Failed.filter((f) => f.SenderFault);
      if (fatal.length || attempt + 1 === policy.attempts)
        throw new InfrastructureError(
          `deleting from ${queueUrl} failed: ${(fatal.length ? fatal : Failed).map((f) => `entry ${f.Id}: ${f.Code}`).join("; ")}`,
        );
      const failedIds = new Set(Failed.map((f) => f.Id));
      left = sent.filter((e) => failedIds.has(e.Id));
    }
  }
}

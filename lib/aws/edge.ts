/**
 * What every queue-fed handler shares: the SQS batch shape, Powertools' partial-batch processors
 * (a record that throws fails alone and SQS redelivers it; on the FIFO inbox its message group
 * stops there, other groups go on), a Logger with the record's keys, and the dead-letter queue for
 * what can never be applied.
 */
import {
  BatchProcessor,
  EventType,
  processPartialResponse,
  SqsFifoPartialProcessorAsync,
} from "@aws-lambda-powertools/batch";
import type { BaseRecord } from "@aws-lambda-powertools/batch/types";
import { Logger } from "@aws-lambda-powertools/logger";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { DocketError, InfrastructureError } from "../errors.js";
import type { AwsDeps } from "./deps.js";
import type { EngineMetrics } from "./metrics.js";
import { aws } from "./table.js";

export interface SqsRecord {
  readonly messageId: string;
  readonly body: string;
  readonly attributes?: { readonly MessageGroupId?: string };
  /** As Lambda hands them over: `{ name: { stringValue, dataType } }`. */
  readonly messageAttributes?: Readonly<Record<string, { readonly stringValue?: string }>>;
}

export interface SqsBatch {
  readonly Records: readonly SqsRecord[];
}

export interface BatchResult {
  readonly batchItemFailures: { readonly itemIdentifier: string }[];
}

/** The Lambda context, when the handler runs in Lambda (its request id goes into every log line). */
export const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** A record's body as JSON, or undefined when it is not JSON. */
export function parsed(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

export type LambdaContext = Parameters<Logger["addContext"]>[0];

/** A record's handler: returns when the record is done with (applied or set aside), throws to have it retried. */
export type RecordHandler = (record: SqsRecord, log: Logger) => Promise<void>;

/** One logger per function: JSON lines with the service, the function and, per record, its keys. */
export function edgeLogger(handler: string): Logger {
  return new Logger({
    serviceName: "docket",
    persistentKeys: { handler },
    // An SDK error's cause carries the whole HTTP response (socket included): its metadata says enough.
    jsonReplacerFn: (key, value) => (key === "$response" ? undefined : value),
  });
}

/**
 * Runs each record through `handle`, through Powertools' processors: the FIFO inbox's in order, a
 * group stopping at its first failure; a standard queue's in parallel unless `inOrder`. A failure
 * is logged with its stack and cause and reported in `batchItemFailures`, never thrown for the
 * batch: a batch whose every record failed is reported the same way, as Lambda reads both alike.
 * The invocation's `metrics` are published at its end, whatever happened.
 */
export async function processBatch(
  event: SqsBatch,
  log: Logger,
  handle: RecordHandler,
  options: { fifo?: boolean; inOrder?: boolean; context?: LambdaContext; metrics?: EngineMetrics } = {},
): Promise<BatchResult> {
  if (options.context) log.addContext(options.context);
  try {
    return await processRecords(event, log, handle, options);
  } finally {
    publishMetrics(log, options.metrics);
  }
}

/** Publishes the invocation's metrics; a failure is logged, never the batch's (it would be redelivered whole). */
function publishMetrics(log: Logger, metrics: EngineMetrics | undefined): void {
  try {
    metrics?.flush();
  } catch (error) {
    log.warn("the invocation's metrics were not published", error as Error);
  }
}

async function processRecords(
  event: SqsBatch,
  log: Logger,
  handle: RecordHandler,
  options: { fifo?: boolean; inOrder?: boolean },
): Promise<BatchResult> {
  const perRecord = async (record: SqsRecord) => {
    const recordLog = log.createChild();
    recordLog.appendKeys({ messageId: record.messageId });
    try {
      await handle(record, recordLog);
    } catch (error) {
      recordLog.warn("the record failed: SQS delivers it again", error as Error);
      throw error;
    }
  };
  const records = event.Records as unknown as BaseRecord[];
  // A processor per call: it keeps the batch's state, and one container may run two batches at once.
  const result = options.fifo
    ? await processPartialResponse({ Records: records }, perRecord, new SqsFifoPartialProcessorAsync(), {
        skipGroupOnError: true,
        throwOnFullBatchFailure: false,
      })
    : await processPartialResponse({ Records: records }, perRecord, new BatchProcessor(EventType.SQS), {
        processInParallel: !options.inOrder,
        throwOnFullBatchFailure: false,
      });
  return { batchItemFailures: [...result.batchItemFailures] };
}

/**
 * Whether an error means the message can never be applied, so it is set aside rather than retried:
 * a DocketError about the message or the definition. Infrastructure failures and conflicts pass
 * with time (retried); so does anything that is not docket's own error.
 */
export function cannotApply(error: unknown): error is DocketError {
  return error instanceof DocketError && !(error instanceof InfrastructureError) && error.code !== "Conflict";
}

/** Sets a message aside in the dead-letter queue with its reason (logged); a send failure throws, so it is retried. */
export async function deadLetter(
  deps: AwsDeps,
  record: SqsRecord,
  reason: string,
  log: Logger,
): Promise<void> {
  log.error("set aside in the dead-letter queue", { reason });
  const queue = deps.resources.queues.deadLetters;
  if (queue)
    await aws("setting a message aside", () =>
      deps.clients.sqs.send(
        new SendMessageCommand({
          QueueUrl: queue,
          MessageBody: JSON.stringify({ reason, body: record.body }),
        }),
      ),
    );
  deps.metrics?.deadLettered();
}

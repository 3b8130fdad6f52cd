/**
 * What AWS bills for docket's calls, counted from SDK middleware on each client; the integration
 * cost test (test/integration/cost.test.ts) prints it per action step, at the prices below.
 *
 * - DynamoDB (on-demand): write and read units by item size, index writes, and the bytes left
 *   stored, apart (storage is billed by the month, not by the request): metering-dynamo.ts.
 * - SQS: a request per 64 KB of payload, standard and FIFO apart; EventBridge: an event per 64 KB
 *   entry; S3: PUT-class (PUT, COPY, POST, LIST) and GET-class requests (DELETE is free), and the
 *   bytes put.
 * - Lambda: invocations and their billed duration (lambda-time.ts).
 */
export { describeShape, itemSize, meterDynamo, type TableShape } from "./metering-dynamo.js";

export interface Ledger {
  /** DynamoDB write request units on the table itself. */
  tableWriteUnits: number;
  /** DynamoDB write request units on the table's global secondary indexes. */
  indexWriteUnits: number;
  /** DynamoDB read request units (table and indexes). */
  readUnits: number;
  /** SQS requests (64 KB chunks) on standard queues and on FIFO queues. */
  sqsStandard: number;
  sqsFifo: number;
  /** EventBridge events put (64 KB chunks). */
  events: number;
  /** S3 PUT-class requests (PUT, COPY, POST, LIST) and GET-class requests (GET and the rest; DELETE is free). */
  s3Writes: number;
  s3Reads: number;
  /** Lambda invocations, and their billed duration in milliseconds (each rounded up to 1 ms). */
  invocations: number;
  lambdaMs: number;
  /** Bytes the writes left stored (net of what they removed): DynamoDB (with indexes), S3. */
  dynamoBytes: number;
  s3Bytes: number;
}

export const emptyLedger = (): Ledger => ({
  tableWriteUnits: 0,
  indexWriteUnits: 0,
  readUnits: 0,
  sqsStandard: 0,
  sqsFifo: 0,
  events: 0,
  s3Writes: 0,
  s3Reads: 0,
  invocations: 0,
  lambdaMs: 0,
  dynamoBytes: 0,
  s3Bytes: 0,
});

/** Ledgers added up, field by field. */
export function sumLedgers(...ledgers: readonly Ledger[]): Ledger {
  const sum = emptyLedger();
  for (const ledger of ledgers)
    for (const key of Object.keys(sum) as (keyof Ledger)[]) sum[key] += ledger[key];
  return sum;
}

type Attr = Record<string, unknown>;
type Handler = (args: { input: Attr }) => Promise<{ output: Attr }>;
interface StackClient {
  middlewareStack: {
    add(
      middleware: (next: Handler, context: { commandName?: string }) => Handler,
      options: { step: "initialize"; name: string },
    ): void;
  };
}

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");
const units = (bytes: number, per: number) => Math.max(1, Math.ceil(bytes / per));

const CHUNK = 64 * 1024;
const chunks = (bytes: number) => units(bytes, CHUNK);
const attributesSize = (attributes: unknown) =>
  Object.entries((attributes ?? {}) as Record<string, { StringValue?: string; DataType?: string }>).reduce(
    (sum, [name, v]) => sum + utf8(name) + utf8(v.DataType ?? "") + utf8(v.StringValue ?? ""),
    0,
  );
const messageSize = (m: Attr) =>
  utf8(String(m.MessageBody ?? m.Body ?? "")) + attributesSize(m.MessageAttributes);

/** SQS requests as billed: each 64 KB of a request's messages is one (a batch of ten small ones is one). */
export function sqsRequests(command: string | undefined, input: Attr, output: Attr): number {
  if (command === "SendMessageCommand") return chunks(messageSize(input));
  if (command === "SendMessageBatchCommand")
    return chunks((input.Entries as Attr[]).reduce((sum, e) => sum + messageSize(e), 0));
  if (command === "ReceiveMessageCommand")
    return chunks(((output.Messages ?? []) as Attr[]).reduce((sum, m) => sum + messageSize(m), 0));
  return 1;
}

const S3_WRITES = new Set([
  "PutObjectCommand",
  "CopyObjectCommand",
  "ListObjectsV2Command",
  "ListObjectsCommand",
  "CreateMultipartUploadCommand",
  "UploadPartCommand",
  "CompleteMultipartUploadCommand",
]);
const S3_FREE = new Set(["DeleteObjectCommand", "DeleteObjectsCommand"]);

/** Counts the requests a client makes: SQS, EventBridge's events, S3's by class and the bytes it puts. */
export function meterRequests(client: unknown, ledger: Ledger, kind: "sqs" | "events" | "s3"): void {
  (client as StackClient).middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const { input } = args;
      const command = context.commandName;
      if (kind === "sqs") {
        const count = sqsRequests(command, input, result.output);
        if (String(input.QueueUrl ?? "").endsWith(".fifo")) ledger.sqsFifo += count;
        else ledger.sqsStandard += count;
      } else if (kind === "events" && command === "PutEventsCommand") {
        for (const entry of input.Entries as Attr[])
          ledger.events += chunks(
            utf8(String(entry.Detail ?? "")) +
              utf8(String(entry.DetailType ?? "")) +
              utf8(String(entry.Source ?? "")),
          );
      } else if (kind === "s3" && !S3_FREE.has(command ?? "")) {
        if (S3_WRITES.has(command ?? "")) ledger.s3Writes += 1;
        else ledger.s3Reads += 1;
        if (command === "PutObjectCommand") ledger.s3Bytes += utf8(String(input.Body ?? ""));
      }
      return result;
    },
    { step: "initialize", name: "docketMeter" },
  );
}

/** Public on-demand prices, us-east-1. */
export const PRICES = {
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
  dynamoGbMonth: 0.25,
  sqsStandard: 0.4 / 1e6,
  sqsFifo: 0.5 / 1e6,
  event: 1 / 1e6,
  s3Write: 0.005 / 1000,
  s3Read: 0.0004 / 1000,
  s3GbMonth: 0.023,
  lambdaRequest: 0.2 / 1e6,
  lambdaGbSecond: { arm64: 0.0000133334, x86_64: 0.0000166667 },
} as const;

/** A function's configuration as billed (cdk/functions.ts). */
export interface LambdaSize {
  readonly memoryMb: number;
  readonly architecture: keyof typeof PRICES.lambdaGbSecond;
}

/** Dollars per million steps, by service, from a ledger over `steps` steps. */
export function costPerMillion(ledger: Ledger, steps: number, lambda: LambdaSize) {
  const per = (count: number, price: number) => (count / steps) * price * 1e6;
  const parts = {
    dynamodb:
      per(ledger.tableWriteUnits + ledger.indexWriteUnits, PRICES.dynamoWriteUnit) +
      per(ledger.readUnits, PRICES.dynamoReadUnit),
    sqs: per(ledger.sqsStandard, PRICES.sqsStandard) + per(ledger.sqsFifo, PRICES.sqsFifo),
    s3: per(ledger.s3Writes, PRICES.s3Write) + per(ledger.s3Reads, PRICES.s3Read),
    eventbridge: per(ledger.events, PRICES.event),
    lambdaRequests: per(ledger.invocations, PRICES.lambdaRequest),
    lambdaDuration: per(
      ledger.lambdaMs / 1000,
      (lambda.memoryMb / 1024) * PRICES.lambdaGbSecond[lambda.architecture],
    ),
  };
  return { ...parts, total: Object.values(parts).reduce((a, b) => a + b, 0) };
}

/** Dollars a month for what a million steps leave stored (DynamoDB's history, S3's payloads). */
export function storagePerMillionPerMonth(ledger: Ledger, steps: number) {
  const gb = (bytes: number) => ((bytes / steps) * 1e6) / 2 ** 30;
  return {
    dynamodb: gb(ledger.dynamoBytes) * PRICES.dynamoGbMonth,
    s3: gb(ledger.s3Bytes) * PRICES.s3GbMonth,
  };
}

/**
 * Counts what AWS bills, from an SDK middleware on each client: DynamoDB write and read units by
 * item size (writes per 1 KB, reads per 4 KB, eventually consistent reads at half), SQS requests
 * (standard and FIFO), and EventBridge and S3 requests. The integration run prints the cost of a
 * step from these.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";

export interface Ledger {
  writeUnits: number;
  readUnits: number;
  sqsStandard: number;
  sqsFifo: number;
  events: number;
  s3: number;
  invocations: number;
}

export const emptyLedger = (): Ledger => ({
  writeUnits: 0,
  readUnits: 0,
  sqsStandard: 0,
  sqsFifo: 0,
  events: 0,
  s3: 0,
  invocations: 0,
});

type Attr = Record<string, unknown>;

/** An item's size as DynamoDB counts it: attribute names plus values (strings in UTF-8). */
export function itemSize(item: Attr): number {
  let size = 0;
  for (const [name, value] of Object.entries(item))
    size += new TextEncoder().encode(name).length + valueSize(value);
  return size;
}

const TYPES = ["S", "N", "BOOL", "NULL", "M", "L", "SS", "NS", "B"];
const isAttributeValue = (v: unknown): v is Attr =>
  v !== null &&
  typeof v === "object" &&
  !Array.isArray(v) &&
  Object.keys(v).length === 1 &&
  TYPES.includes(Object.keys(v)[0] as string);

/** A value's size: a marshalled AttributeValue, or the plain value the document client holds. */
function valueSize(value: unknown): number {
  if (isAttributeValue(value)) {
    if ("S" in value) return new TextEncoder().encode(String(value.S)).length;
    if ("N" in value) return Math.ceil(String(value.N).replace(/^-|\./g, "").length / 2) + 1;
    if ("M" in value) return 3 + itemSize(value.M as Attr);
    if ("L" in value) return 3 + (value.L as unknown[]).reduce((sum: number, v) => sum + 1 + valueSize(v), 0);
    return 1;
  }
  if (typeof value === "string") return new TextEncoder().encode(value).length;
  if (typeof value === "number") return Math.ceil(String(value).replace(/^-|\./g, "").length / 2) + 1;
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, v) => sum + 1 + valueSize(v), 0);
  if (value !== null && typeof value === "object") return 3 + itemSize(value as Attr);
  return 1;
}

const units = (bytes: number, unit: number) => Math.max(1, Math.ceil(bytes / unit));

type Middleware = (
  next: (args: { input: Attr }) => Promise<{ output: Attr }>,
  context: { commandName?: string },
) => (args: { input: Attr }) => Promise<{ output: Attr }>;
interface StackClient {
  middlewareStack: { add(middleware: Middleware, options: { step: "initialize"; name: string }): void };
}

export function meterDynamo(client: DynamoDBClient, ledger: Ledger): void {
  let inside = false;
  (client as unknown as StackClient).middlewareStack.add(
    (next, context) => async (args) => {
      if (inside) return next(args);
      const result = await next(args);
      const { input, output } = { input: args.input, output: result.output };
      const read = (bytes: number) => units(bytes, 4096) * (input.ConsistentRead ? 1 : 0.5);
      switch (context.commandName) {
        case "PutItemCommand":
          ledger.writeUnits += units(itemSize(input.Item as Attr), 1024);
          break;
        case "UpdateItemCommand": {
          // Billed on the item's size after the update: read it back, without counting the read.
          const key = input.Key as Attr;
          const marshalled = Object.values(key).every(isAttributeValue) ? key : marshall(key);
          inside = true;
          try {
            const after = await client.send(
              new GetItemCommand({
                TableName: input.TableName as string,
                Key: marshalled as never,
                ConsistentRead: true,
              }),
            );
            ledger.writeUnits += units(itemSize((after.Item ?? {}) as Attr), 1024);
          } finally {
            inside = false;
          }
          break;
        }
        case "DeleteItemCommand":
          ledger.writeUnits += 1;
          break;
        case "TransactWriteItemsCommand":
          for (const t of input.TransactItems as Attr[])
            ledger.writeUnits += 2 * units(itemSize(((t.Put as Attr)?.Item ?? {}) as Attr), 1024);
          break;
        case "BatchWriteItemCommand":
          for (const requests of Object.values(input.RequestItems as Record<string, Attr[]>))
            for (const r of requests)
              ledger.writeUnits += units(itemSize(((r.PutRequest as Attr)?.Item ?? {}) as Attr), 1024);
          break;
        case "GetItemCommand":
          ledger.readUnits += read(itemSize((output.Item ?? {}) as Attr));
          break;
        case "QueryCommand":
        case "ScanCommand":
          ledger.readUnits += read(
            ((output.Items ?? []) as Attr[]).reduce((sum, item) => sum + itemSize(item), 0),
          );
          break;
      }
      return result;
    },
    { step: "initialize", name: "docketMeter" },
  );
}

export function meterRequests(client: unknown, ledger: Ledger, kind: "sqs" | "events" | "s3"): void {
  (client as StackClient).middlewareStack.add(
    (next) => async (args) => {
      if (kind === "sqs") {
        const url = String(args.input.QueueUrl ?? "");
        if (url.endsWith(".fifo")) ledger.sqsFifo += 1;
        else ledger.sqsStandard += 1;
      } else if (kind === "events") ledger.events += 1;
      else ledger.s3 += 1;
      return next(args);
    },
    { step: "initialize", name: "docketMeter" },
  );
}

export const PRICES = {
  writeUnit: 0.625 / 1e6,
  readUnit: 0.125 / 1e6,
  sqsStandard: 0.4 / 1e6,
  sqsFifo: 0.5 / 1e6,
  events: 1 / 1e6,
  invocation: 0.2 / 1e6,
  /** Lambda arm64 per GB-second. */
  gbSecond: 0.0000133334,
};

/** Dollars per million steps, by item, from a ledger over `steps` steps. */
export function costPerMillion(
  ledger: Ledger,
  steps: number,
  lambdaMsPerInvocation: number,
  memoryGb = 0.5,
): Record<string, number> {
  const per = (count: number, price: number) => (count / steps) * price * 1e6;
  const parts = {
    dynamodbWrites: per(ledger.writeUnits, PRICES.writeUnit),
    dynamodbReads: per(ledger.readUnits, PRICES.readUnit),
    sqs: per(ledger.sqsStandard, PRICES.sqsStandard) + per(ledger.sqsFifo, PRICES.sqsFifo),
    eventbridge: per(ledger.events, PRICES.events),
    lambdaRequests: per(ledger.invocations, PRICES.invocation),
    lambdaDuration: per(ledger.invocations, (lambdaMsPerInvocation / 1000) * memoryGb * PRICES.gbSecond),
  };
  return { ...parts, total: Object.values(parts).reduce((a, b) => a + b, 0) };
}

/**
 * DynamoDB's on-demand bill, counted from SDK middleware (see metering.ts):
 *
 * - a write costs a unit per KB of the larger of the item before and after it (twice in a
 *   transaction; a write whose condition fails, by the item that is there);
 * - each global secondary index a write touches costs units per KB of its projected entry, by
 *   DynamoDB's rules: a new or removed entry one write, an entry whose index key changed two (the
 *   old one deleted, the new one put), an entry whose projected values changed one;
 * - a read costs a unit per 4 KB read (half when eventually consistent), a query by everything it
 *   read, what its filter dropped included;
 * - the bytes a write leaves stored (items and index entries, each with DynamoDB's 100 bytes of
 *   overhead), counted apart: storage is billed by the month.
 *
 * The item before a put or a delete comes back with the call (ReturnValues ALL_OLD, taken off the
 * answer again); otherwise the meter reads items with a client of its own, counted nowhere.
 */
import {
  type AttributeValue,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import type { Ledger } from "./metering.js";

type Item = Record<string, AttributeValue>;
type Attr = Record<string, unknown>;

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");
const numberSize = (n: string) => Math.ceil(n.replace(/^-|\.|e.*$/gi, "").replace(/^0+/, "").length / 2) + 1;

/** An item's size as DynamoDB counts it: attribute names plus values (strings in UTF-8). */
export function itemSize(item: Item | undefined): number {
  let size = 0;
  for (const [name, value] of Object.entries(item ?? {})) size += utf8(name) + valueSize(value);
  return size;
}

function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.length;
  if (value.M !== undefined) return 3 + itemSize(value.M);
  if (value.L !== undefined) return 3 + value.L.reduce((sum, v) => sum + 1 + valueSize(v), 0);
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + utf8(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  return 1;
}

const TYPES = new Set(["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"]);
const isAttributeValue = (v: unknown) =>
  v !== null && typeof v === "object" && Object.keys(v).length === 1 && TYPES.has(Object.keys(v)[0] ?? "");

/** Items reach the middleware marshalled, or plain from the document client (its marshalling runs later). */
function asItem(value: unknown): Item | undefined {
  if (value === undefined || value === null) return undefined;
  const attrs = value as Attr;
  return Object.values(attrs).every(isAttributeValue)
    ? (attrs as Item)
    : (marshall(attrs, { removeUndefinedValues: true, convertClassInstanceToMap: true }) as Item);
}

const units = (bytes: number, per: number) => Math.max(1, Math.ceil(bytes / per));
/** DynamoDB bills storage with 100 bytes of overhead per item and per index entry. */
const stored = (item: Item | undefined) => (item ? itemSize(item) + 100 : 0);

/** A table's keys and its global secondary indexes, as the meter needs them. */
export interface TableShape {
  readonly keys: readonly string[];
  readonly indexes: readonly {
    readonly keys: readonly string[];
    readonly projected: readonly string[] | "ALL";
  }[];
}

/** The shape the emulator's table has (created from the template: cdk/engine.ts). */
export async function describeShape(client: DynamoDBClient, table: string): Promise<TableShape> {
  const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
  const keys = (Table?.KeySchema ?? []).map((k) => k.AttributeName as string);
  const indexes = (Table?.GlobalSecondaryIndexes ?? []).map((index) => {
    const own = (index.KeySchema ?? []).map((k) => k.AttributeName as string);
    const projection = index.Projection;
    return {
      keys: own,
      projected:
        projection?.ProjectionType === "ALL"
          ? ("ALL" as const)
          : [...keys, ...own, ...(projection?.NonKeyAttributes ?? [])],
    };
  });
  return { keys, indexes };
}

/** The entry an item has in an index: none without the index's keys. */
function indexEntry(item: Item | undefined, index: TableShape["indexes"][number]): Item | undefined {
  if (!item || !index.keys.every((key) => key in item)) return undefined;
  if (index.projected === "ALL") return item;
  return Object.fromEntries(Object.entries(item).filter(([name]) => index.projected.includes(name)));
}

const same = (a: Item | undefined, b: Item | undefined) => JSON.stringify(a) === JSON.stringify(b);

/** What one item's write costs, from the item before and after it. */
export function chargeWrite(
  ledger: Ledger,
  shape: TableShape,
  before: Item | undefined,
  after: Item | undefined,
  transactional: boolean,
): void {
  ledger.tableWriteUnits +=
    (transactional ? 2 : 1) * units(Math.max(itemSize(before), itemSize(after)), 1024);
  ledger.dynamoBytes += stored(after) - stored(before);
  for (const index of shape.indexes) {
    const [old, now] = [indexEntry(before, index), indexEntry(after, index)];
    ledger.dynamoBytes += stored(now) - stored(old);
    const keyOf = (entry: Item | undefined) => JSON.stringify(index.keys.map((k) => entry?.[k]));
    if (old && now && keyOf(old) !== keyOf(now))
      ledger.indexWriteUnits += units(itemSize(old), 1024) + units(itemSize(now), 1024);
    else if (old && now) ledger.indexWriteUnits += same(old, now) ? 0 : units(itemSize(now), 1024);
    else if (old || now) ledger.indexWriteUnits += units(itemSize(old ?? now), 1024);
  }
}

type Handler = (args: { input: Attr }) => Promise<{ output: Attr }>;
type Middleware = (next: Handler, context: { commandName?: string }) => Handler;
interface StackClient {
  middlewareStack: {
    add(middleware: Middleware, options: { step: "initialize"; name: string; priority?: "high" }): void;
  };
}

/** One write of a batch or a transaction: its table, key, and the item after it when known. */
interface WriteOf {
  readonly table: string;
  readonly key: Item;
  readonly after: Item | "read" | undefined;
}

function transactWrites(input: Attr): WriteOf[] {
  return (input.TransactItems as Attr[]).map((t) => {
    const [kind, op] = Object.entries(t)[0] as [string, Attr];
    const table = op.TableName as string;
    if (kind === "Put") return { table, key: asItem(op.Item) as Item, after: asItem(op.Item) };
    return { table, key: asItem(op.Key) as Item, after: kind === "Update" ? "read" : undefined };
  });
}

function batchWrites(input: Attr): WriteOf[] {
  return Object.entries(input.RequestItems as Record<string, Attr[]>).flatMap(([table, requests]) =>
    requests.map((r) => {
      const put = r.PutRequest as Attr | undefined;
      if (put) return { table, key: asItem(put.Item) as Item, after: asItem(put.Item) };
      return { table, key: asItem((r.DeleteRequest as Attr).Key) as Item, after: undefined };
    }),
  );
}

/** The query again without its filter and projection, which read (and bill) as much: what it read. */
async function readByQuery(reader: DynamoDBClient, name: string | undefined, input: Attr): Promise<number> {
  const narrowing = new Set(["FilterExpression", "ProjectionExpression", "Select"]);
  const rest = Object.fromEntries(Object.entries(input).filter(([k]) => !narrowing.has(k)));
  // Only the placeholders the key condition uses: DynamoDB refuses unused ones.
  const kept = String(rest.KeyConditionExpression ?? "");
  const pick = (map: unknown) => {
    const used = Object.entries((map ?? {}) as Attr).filter(([token]) => kept.includes(token));
    return used.length ? Object.fromEntries(used) : undefined;
  };
  const values = pick(rest.ExpressionAttributeValues);
  const query = {
    ...rest,
    ExpressionAttributeNames: pick(rest.ExpressionAttributeNames),
    ExpressionAttributeValues: values && asItem(values),
    ExclusiveStartKey: asItem(rest.ExclusiveStartKey),
  };
  const command = name === "ScanCommand" ? new ScanCommand(query as never) : new QueryCommand(query as never);
  const { Items = [] } = await reader.send(command as QueryCommand);
  return Items.reduce((sum, item) => sum + itemSize(item), 0);
}

interface Meter {
  readonly ledger: Ledger;
  readonly shape: TableShape;
  /** The item now there, read strongly consistent by the meter's own client. */
  readonly read: (table: string, key: Item) => Promise<Item | undefined>;
  readonly keyOf: (item: Item) => Item;
}

/**
 * PutItem, UpdateItem or DeleteItem: the item before, the call, the item after. A put's or a
 * delete's item before comes back with the call itself (ReturnValues ALL_OLD, taken off the answer
 * again) unless the caller asks for values of its own; an update's is read.
 */
async function singleWrite(meter: Meter, command: string, args: { input: Attr }, next: Handler) {
  const { input } = args;
  const table = input.TableName as string;
  const put = command === "PutItemCommand" ? asItem(input.Item) : undefined;
  const key = put ? meter.keyOf(put) : (asItem(input.Key) as Item);
  const withOld = input.ReturnValues === undefined && command !== "UpdateItemCommand";
  const read = withOld ? undefined : await meter.read(table, key);
  try {
    const result = await next(withOld ? { ...args, input: { ...input, ReturnValues: "ALL_OLD" } } : args);
    const before = withOld ? asItem(result.output.Attributes) : read;
    const after = put ?? (command === "UpdateItemCommand" ? await meter.read(table, key) : undefined);
    chargeWrite(meter.ledger, meter.shape, before, after, false);
    if (!withOld) return result;
    const { Attributes: _old, ...output } = result.output;
    return { ...result, output };
  } catch (error) {
    // A write whose condition fails still costs the units of the item there.
    if ((error as Error).name === "ConditionalCheckFailedException")
      meter.ledger.tableWriteUnits += units(itemSize(withOld ? await meter.read(table, key) : read), 1024);
    throw error;
  }
}

/** BatchWriteItem or TransactWriteItems: each item's write, as one alone would cost (twice in a transaction). */
async function manyWrites(meter: Meter, command: string, args: { input: Attr }, next: Handler) {
  const transactional = command === "TransactWriteItemsCommand";
  const writes = transactional ? transactWrites(args.input) : batchWrites(args.input);
  const before = await Promise.all(writes.map((w) => meter.read(w.table, meter.keyOf(w.key))));
  const result = await next(args);
  for (const [i, w] of writes.entries()) {
    const after = w.after === "read" ? await meter.read(w.table, meter.keyOf(w.key)) : w.after;
    chargeWrite(meter.ledger, meter.shape, before[i], after, transactional);
  }
  return result;
}

async function reads(
  meter: Meter,
  command: string,
  args: { input: Attr },
  next: Handler,
  reader: DynamoDBClient,
) {
  const { input } = args;
  const result = await next(args);
  const consistency = input.ConsistentRead ? 1 : 0.5;
  let bytes: number;
  if (command === "GetItemCommand") bytes = itemSize(asItem(result.output.Item));
  // What a filter dropped was read too (a projection reads whole items): those are read again.
  else if (
    (input.FilterExpression !== undefined && result.output.ScannedCount !== result.output.Count) ||
    input.ProjectionExpression !== undefined
  )
    bytes = await readByQuery(reader, command, input);
  else bytes = ((result.output.Items ?? []) as Attr[]).reduce((sum, item) => sum + itemSize(asItem(item)), 0);
  meter.ledger.readUnits += units(bytes, 4096) * consistency;
  return result;
}

/** Counts what `client`'s calls cost on a table of `shape` (its items read with `reader`, uncounted). */
export function meterDynamo(
  client: DynamoDBClient,
  ledger: Ledger,
  options: { readonly reader: DynamoDBClient; readonly shape: TableShape },
): void {
  const { reader, shape } = options;
  const meter: Meter = {
    ledger,
    shape,
    read: async (table, key) =>
      (await reader.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item,
    keyOf: (item) => Object.fromEntries(shape.keys.map((k) => [k, item[k] as AttributeValue])),
  };
  (client as unknown as StackClient).middlewareStack.add(
    (next, context) => (args) => {
      const command = context.commandName ?? "";
      if (["PutItemCommand", "UpdateItemCommand", "DeleteItemCommand"].includes(command))
        return singleWrite(meter, command, args, next);
      if (["BatchWriteItemCommand", "TransactWriteItemsCommand"].includes(command))
        return manyWrites(meter, command, args, next);
      if (["GetItemCommand", "QueryCommand", "ScanCommand"].includes(command))
        return reads(meter, command, args, next, reader);
      return next(args);
    },
    { step: "initialize", name: "docketMeter" },
  );
}

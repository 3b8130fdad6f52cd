/**
 * A process's versions on DynamoDB beyond registering them: the instances pinned to each, moving
 * `latest` back (a rollback) and deleting a version no instance pins.
 *
 * Pins are counted from the `byDefinition` index (declared by DocketEngine): a sparse GSI keyed on
 * the head items' `definition` (the hash an instance is pinned to; no other item has one), with
 * their `status` projected. It follows the heads by itself: a launch adds an entry, a deleted
 * instance drops its own, and a head rewritten with another `definition` (a migration) moves it.
 * The index is eventually consistent: an instance launched a moment ago may not be counted yet.
 */
import { GetCommand, TransactWriteCommand, type TransactWriteCommandInput } from "@aws-sdk/lib-dynamodb";
import type { LatestMove, VersionPins } from "../ports.js";
import { NotApplicableError } from "../runtime/operations.js";
import {
  matchVersion,
  PIN_COUNT_CAP,
  refuseLatest,
  refusePinned,
  short,
  tallyPins,
} from "../runtime/versions.js";
import { queryAll, queryPages } from "./calls.js";
import { aws, DEFINITION_INDEX, type TableRef } from "./table.js";

export const CATALOGUE = "CATALOGUE";

type TransactItems = NonNullable<TransactWriteCommandInput["TransactItems"]>;

/** How many instances are pinned to a version: the index read a page at a time, up to PIN_COUNT_CAP entries. */
export async function countPins(table: TableRef, hash: string): Promise<VersionPins> {
  const statuses = new Map<string, number>();
  let read = 0;
  for await (const page of queryPages(table, "counting a version's instances", {
    IndexName: DEFINITION_INDEX,
    KeyConditionExpression: "#d = :h",
    ProjectionExpression: "#s",
    ExpressionAttributeNames: { "#d": "definition", "#s": "status" },
    ExpressionAttributeValues: { ":h": hash },
    ConsistentRead: false,
  })) {
    for (const item of page) statuses.set(String(item.status), (statuses.get(String(item.status)) ?? 0) + 1);
    read += page.length;
    if (read >= PIN_COUNT_CAP) break;
  }
  return tallyPins(statuses, read >= PIN_COUNT_CAP);
}

/** A process's latest hash, and the hash of the source last registered under its name. */
export async function latestOf(
  table: TableRef,
  name: string,
): Promise<{ latest?: string; registered?: string }> {
  const { Item } = await aws(`reading the latest version of ${name}`, () =>
    table.client.send(
      new GetCommand({ TableName: table.name, Key: { pk: `P#${name}`, sk: "LATEST" }, ConsistentRead: true }),
    ),
  );
  return { latest: Item?.hash as string | undefined, registered: Item?.registered as string | undefined };
}

/** A process's registered versions (hashes), and its latest hash. */
async function versionsOf(table: TableRef, name: string): Promise<{ hashes: string[]; latest?: string }> {
  const [items, { latest }] = await Promise.all([
    queryAll(table, `reading the versions of ${name}`, {
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :v)",
      ExpressionAttributeValues: { ":pk": `P#${name}`, ":v": "V#" },
      ProjectionExpression: "sk",
      ConsistentRead: true,
    }),
    latestOf(table, name),
  ]);
  return { hashes: items.map((item) => String(item.sk).slice(2)), latest };
}

/**
 * Moves `latest` of a process to one of its versions, in one transaction with the check that the
 * version is still there (a deletion cannot slip in between). The source last registered is kept,
 * so registering that same source again leaves the rollback in place.
 */
export async function setLatest(
  table: TableRef,
  name: string,
  version: string,
  now: number,
): Promise<LatestMove> {
  const { hashes, latest } = await versionsOf(table, name);
  const hash = matchVersion(name, version, hashes, latest);
  const previous = latest as string;
  if (hash === previous) return { name, hash, previous };
  const TableName = table.name;
  const moved = { ":h": hash, ":now": now };
  await transact(table, `moving latest of ${name}`, name, hash, [
    {
      ConditionCheck: {
        TableName,
        Key: { pk: `P#${name}`, sk: `V#${hash}` },
        ConditionExpression: "attribute_exists(pk)",
      },
    },
    {
      Update: {
        TableName,
        Key: { pk: `P#${name}`, sk: "LATEST" },
        UpdateExpression: "SET #h = :h, #at = :now",
        ExpressionAttributeNames: { "#h": "hash", "#at": "at" },
        ExpressionAttributeValues: moved,
      },
    },
    {
      Update: {
        TableName,
        Key: { pk: CATALOGUE, sk: `P#${name}` },
        UpdateExpression: "SET #n = :n, #h = :h, #at = :now",
        ExpressionAttributeNames: { "#n": "name", "#h": "hash", "#at": "at" },
        ExpressionAttributeValues: { ...moved, ":n": name },
      },
    },
  ]);
  return { name, hash, previous };
}

/**
 * Deletes a version that is not latest (checked in the transaction) and that no instance pins
 * (checked on the index just before). The source (`D#<hash>`) goes too unless another process
 * registered the same source; a source offloaded to the payload bucket (over 64 KB) stays there.
 */
export async function deleteVersion(
  table: TableRef,
  name: string,
  version: string,
): Promise<{ hash: string }> {
  const { hashes, latest } = await versionsOf(table, name);
  const hash = matchVersion(name, version, hashes, latest);
  if (hash === latest) refuseLatest(name, hash);
  const pins = await countPins(table, hash);
  if (pins.pinned > 0) refusePinned(name, hash, pins);
  const shared = await sharedWith(table, name, hash);
  const TableName = table.name;
  await transact(table, `deleting version ${short(hash)} of ${name}`, name, hash, [
    {
      ConditionCheck: {
        TableName,
        Key: { pk: `P#${name}`, sk: "LATEST" },
        ConditionExpression: "#h <> :h",
        ExpressionAttributeNames: { "#h": "hash" },
        ExpressionAttributeValues: { ":h": hash },
      },
    },
    {
      Delete: {
        TableName,
        Key: { pk: `P#${name}`, sk: `V#${hash}` },
        ConditionExpression: "attribute_exists(pk)",
      },
    },
    ...(shared ? [] : [{ Delete: { TableName, Key: { pk: `D#${hash}`, sk: "DEF" } } }]),
  ]);
  return { hash };
}

/** Whether another registered process has a version with this hash (byte-identical sources share `D#<hash>`). */
async function sharedWith(table: TableRef, name: string, hash: string): Promise<boolean> {
  const entries = await queryAll(table, "reading the definitions catalogue", {
    KeyConditionExpression: "pk = :pk AND begins_with(sk, :p)",
    ExpressionAttributeValues: { ":pk": CATALOGUE, ":p": "P#" },
    ProjectionExpression: "#n",
    ExpressionAttributeNames: { "#n": "name" },
    ConsistentRead: true,
  });
  const others = entries.map((e) => String(e.name)).filter((other) => other !== name);
  const found = await Promise.all(
    others.map(async (other) => {
      const { Item } = await aws(`reading version ${short(hash)} of ${other}`, () =>
        table.client.send(
          new GetCommand({
            TableName: table.name,
            Key: { pk: `P#${other}`, sk: `V#${hash}` },
            ConsistentRead: true,
          }),
        ),
      );
      return Item !== undefined;
    }),
  );
  return found.some(Boolean);
}

/**
 * One transaction; a cancellation by a condition means another operator got there first: the
 * version was deleted, or became latest, meanwhile (a 409, to be asked again).
 */
async function transact(table: TableRef, what: string, name: string, hash: string, items: TransactItems) {
  try {
    await aws(what, () => table.client.send(new TransactWriteCommand({ TransactItems: items })));
  } catch (error) {
    if (error instanceof Error && error.name === "TransactionCanceledException")
      throw new NotApplicableError(
        `version ${short(hash)} of ${name} changed meanwhile (deleted, or made latest): list the definitions and try again`,
      );
    throw error;
  }
}

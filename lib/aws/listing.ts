/**
 * Listing instances on DynamoDB: each head item is in the `byStatus` index, sorted newest first by
 * `listed`, so a listing is queries, never a scan. The index's partition is `S#<status>#<shard>`,
 * the shard a stable hash of the instance id over LISTING_SHARDS: instances launched in a burst
 * (all `running`) spread their head writes over that many index partitions rather than one.
 * `listed` is `<createdAt, 15 digits>#<id>`, the listing cursor itself (lib/ports.ts listCursor):
 * a page after a cursor is the items whose `listed` sorts below it, in every partition alike.
 */
import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { InstanceStatus } from "../engine/types.js";
import type { InstanceCount, InstanceFilter, InstanceSummary } from "../ports.js";
import { aws, shardOf, type TableRef } from "./table.js";

/** The GSI that lists instances by status without a scan (declared by DocketEngine). */
export const STATUS_INDEX = "byStatus";
export const LISTING_SHARDS = 4;
const STATUSES: readonly InstanceStatus[] = ["running", "suspended", "completed", "faulted", "canceled"];

const listingPartition = (status: string, shard: number) => `S#${status}#${shard}`;

/** The index partition an instance of that status is listed in (the head's `listing`). */
export const listingKey = (status: string, id: string) =>
  listingPartition(status, shardOf(id, LISTING_SHARDS));

/** What the index projects of a head. */
interface Listed {
  pk: string;
  listed: string;
  status: string;
  process: string;
  createdAt: number;
  updatedAt: number;
}

/** The largest page a partition reads is the listing's limit, or this when the limit is smaller. */
const MIN_PAGE = 10;

/**
 * One index partition read newest first, a page at a time, only as far as the merge asks. A
 * page may hold fewer items than its Limit (Limit counts items read before the process filter),
 * even none while more follow: `head` reads on until an item comes or the partition ends.
 */
class PartitionReader {
  private items: Listed[] = [];
  private at = 0;
  private start: Record<string, unknown> | undefined;
  private ended = false;

  constructor(
    private readonly table: TableRef,
    private readonly partition: string,
    private readonly filter: InstanceFilter,
    private pageSize: number,
    private readonly maxPageSize: number,
  ) {}

  /** The partition's next item, or undefined once it has no more. */
  async head(): Promise<Listed | undefined> {
    while (this.at === this.items.length && !this.ended) await this.readPage();
    return this.items[this.at];
  }

  /** The item `head` gave, as read (call after `head`). */
  peeked(): Listed | undefined {
    return this.items[this.at];
  }

  take(): void {
    this.at++;
  }

  private async readPage(): Promise<void> {
    const { process, after } = this.filter;
    // A GSI cannot be read consistently; a listing decides nothing.
    const page = await aws("listing instances", () =>
      this.table.client.send(
        new QueryCommand({
          TableName: this.table.name,
          IndexName: STATUS_INDEX,
          KeyConditionExpression: after ? "listing = :s AND listed < :after" : "listing = :s",
          ...(process ? { FilterExpression: "#p = :p", ExpressionAttributeNames: { "#p": "process" } } : {}),
          ExpressionAttributeValues: {
            ":s": this.partition,
            ...(process ? { ":p": process } : {}),
            ...(after ? { ":after": after } : {}),
          },
          ScanIndexForward: false,
          Limit: this.pageSize,
          ExclusiveStartKey: this.start,
        }),
      ),
    );
    this.items = (page.Items ?? []) as Listed[];
    this.at = 0;
    this.start = page.LastEvaluatedKey;
    this.ended = !this.start;
    // A partition read again holds more of the listing than its share: its next page is twice as large.
    this.pageSize = Math.min(this.pageSize * 2, this.maxPageSize);
  }
}

/**
 * Newest first (ties by id, descending), with `after` only instances listed below that cursor.
 * Every partition of the statuses asked for is read lazily and merged in the cursor's own order
 * (`listed`, compared as strings), so a next page starts exactly where this one stopped. Each
 * partition's first page is about its share of `limit` (read all at once); only a partition the
 * merge takes from reads further, so a listing reads about `limit` items, not `limit` from each.
 */
export async function listInstances(
  table: TableRef,
  filter: InstanceFilter = {},
): Promise<InstanceSummary[]> {
  const limit = filter.limit ?? 100;
  if (limit <= 0) return [];
  const statuses = filter.status ? [filter.status] : STATUSES;
  const partitions = statuses.flatMap((status) =>
    Array.from({ length: LISTING_SHARDS }, (_, shard) => listingPartition(status, shard)),
  );
  const firstPage = Math.ceil((limit * 1.25) / partitions.length) + 1;
  const readers = partitions.map(
    (partition) => new PartitionReader(table, partition, filter, firstPage, Math.max(limit, MIN_PAGE)),
  );
  await Promise.all(readers.map((reader) => reader.head()));
  const found: InstanceSummary[] = [];
  while (found.length < limit) {
    const newest = newestHead(readers);
    if (!newest) break;
    const { pk, process, status, createdAt, updatedAt } = newest.peeked() as Listed;
    found.push({ id: pk.slice(2), process, status: status as InstanceStatus, createdAt, updatedAt });
    newest.take();
    // Only the reader just taken from may need its next page before the next comparison.
    await newest.head();
  }
  return found;
}

/** The reader whose next item is listed last (newest); undefined when all are done. */
function newestHead(readers: readonly PartitionReader[]): PartitionReader | undefined {
  let newest: PartitionReader | undefined;
  for (const reader of readers) {
    const head = reader.peeked();
    if (head && (!newest || head.listed > (newest.peeked() as Listed).listed)) newest = reader;
  }
  return newest;
}

/**
 * Counts one index partition's items (of the process, when given), a page of up to 1 MB at a
 * time, until `cap` items were read (matching or not: a process filter must not make a status of
 * other processes' instances read to its end); `more` when items were left unread.
 */
async function countPartition(table: TableRef, partition: string, process: string | undefined, cap: number) {
  let count = 0;
  let read = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await aws("counting instances", () =>
      table.client.send(
        new QueryCommand({
          TableName: table.name,
          IndexName: STATUS_INDEX,
          KeyConditionExpression: "listing = :s",
          ...(process ? { FilterExpression: "#p = :p", ExpressionAttributeNames: { "#p": "process" } } : {}),
          ExpressionAttributeValues: { ":s": partition, ...(process ? { ":p": process } : {}) },
          Select: "COUNT",
          ExclusiveStartKey: start,
        }),
      ),
    );
    count += page.Count ?? 0;
    read += page.ScannedCount ?? 0;
    start = page.LastEvaluatedKey;
  } while (start && read < cap);
  return { count, more: start !== undefined };
}

/**
 * How many instances have the status: every shard of it counted in parallel, each reading no
 * further than `cap` items (shards are even, by hash, but one may hold them all), so a console
 * that polls the counts reads a bounded number of pages however many instances a status holds.
 */
export async function countInstances(
  table: TableRef,
  filter: { status: InstanceStatus; process?: string },
  cap: number,
): Promise<InstanceCount> {
  const shards = Array.from({ length: LISTING_SHARDS }, (_, shard) => listingPartition(filter.status, shard));
  const counts = await Promise.all(
    shards.map((partition) => countPartition(table, partition, filter.process, cap)),
  );
  const count = counts.reduce((sum, shard) => sum + shard.count, 0);
  return { count: Math.min(count, cap), more: count >= cap || counts.some((shard) => shard.more) };
}

/**
 * Listing instances on DynamoDB: each head item is in the `byStatus` index (partition `S#<status>`,
 * sorted newest first by `listed`), so a listing is one query per status asked for, never a scan.
 * `listed` is `<createdAt, 15 digits>#<id>`, the listing cursor itself (lib/ports.ts listCursor):
 * a page after a cursor is the items whose `listed` sorts below it, in every status alike.
 */
import type { InstanceStatus } from "../engine/types.js";
import type { InstanceFilter, InstanceSummary } from "../ports.js";
import { queryPages } from "./calls.js";
import type { TableRef } from "./table.js";

/** The GSI that lists instances by status without a scan (declared by DocketEngine). */
export const STATUS_INDEX = "byStatus";
const STATUSES: readonly InstanceStatus[] = ["running", "suspended", "completed", "faulted", "canceled"];

interface Listed {
  pk: string;
  listed: string;
  status: string;
  process: string;
  createdAt: number;
  updatedAt: number;
}

/**
 * Newest first (ties by id, descending), from the status index: one query per status asked for,
 * never a scan; with `after`, only instances listed below that cursor. The statuses' results are
 * merged in the cursor's own order (`listed`, compared as strings), so a next page starts exactly
 * where this one stopped.
 */
export async function listInstances(
  table: TableRef,
  filter: InstanceFilter = {},
): Promise<InstanceSummary[]> {
  const limit = filter.limit ?? 100;
  const statuses = filter.status ? [filter.status] : STATUSES;
  const found = (await Promise.all(statuses.map((status) => listStatus(table, status, filter, limit))))
    .flat()
    .sort((a, b) => (a.listed < b.listed ? 1 : a.listed > b.listed ? -1 : 0));
  return found.slice(0, limit).map(({ listed: _, ...summary }) => summary);
}

async function listStatus(
  table: TableRef,
  status: string,
  filter: InstanceFilter,
  limit: number,
): Promise<(InstanceSummary & { listed: string })[]> {
  const { process, after } = filter;
  const found: (InstanceSummary & { listed: string })[] = [];
  // Limit counts items read before the filter, so a page may hold fewer than asked: read on until
  // enough are found or LastEvaluatedKey is absent. A GSI cannot be read consistently; a listing decides nothing.
  const pages = queryPages(table, "listing instances", {
    IndexName: STATUS_INDEX,
    KeyConditionExpression: after ? "listing = :s AND listed < :after" : "listing = :s",
    ...(process ? { FilterExpression: "#p = :p", ExpressionAttributeNames: { "#p": "process" } } : {}),
    ExpressionAttributeValues: {
      ":s": `S#${status}`,
      ...(process ? { ":p": process } : {}),
      ...(after ? { ":after": after } : {}),
    },
    ScanIndexForward: false,
    Limit: limit,
    ConsistentRead: false,
  });
  for await (const page of pages) {
    for (const h of page as unknown as Listed[])
      found.push({
        id: h.pk.slice(2),
        process: h.process,
        status: h.status as InstanceStatus,
        createdAt: h.createdAt,
        updatedAt: h.updatedAt,
        listed: h.listed,
      });
    if (found.length >= limit) break;
  }
  return found;
}

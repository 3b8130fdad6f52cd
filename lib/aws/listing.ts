/**
 * Listing instances on DynamoDB: each head item is in the `byStatus` index (partition `S#<status>`,
 * sorted newest first by `listed`), so a listing is one query per status asked for, never a scan.
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
  status: string;
  process: string;
  createdAt: number;
  updatedAt: number;
}

/** Newest first, from the status index: one query per status asked for, never a scan. */
export async function listInstances(
  table: TableRef,
  filter: InstanceFilter = {},
): Promise<InstanceSummary[]> {
  const limit = filter.limit ?? 100;
  const statuses = filter.status ? [filter.status] : STATUSES;
  const found = (
    await Promise.all(statuses.map((status) => listStatus(table, status, filter.process, limit)))
  )
    .flat()
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
  return found.slice(0, limit);
}

async function listStatus(
  table: TableRef,
  status: string,
  process: string | undefined,
  limit: number,
): Promise<InstanceSummary[]> {
  const found: InstanceSummary[] = [];
  // Limit counts items read before the filter, so a page may hold fewer than asked: read on until
  // enough are found or LastEvaluatedKey is absent. A GSI cannot be read consistently; a listing decides nothing.
  const pages = queryPages(table, "listing instances", {
    IndexName: STATUS_INDEX,
    KeyConditionExpression: "listing = :s",
    ...(process ? { FilterExpression: "#p = :p", ExpressionAttributeNames: { "#p": "process" } } : {}),
    ExpressionAttributeValues: { ":s": `S#${status}`, ...(process ? { ":p": process } : {}) },
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
      });
    if (found.length >= limit) break;
  }
  return found;
}

/**
 * An instance's history on DynamoDB: its step items `V#<version>` in order, each followed by the
 * notes of the messages that met that version and changed nothing (`V#<version>#n…`).
 */
import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { Command, Message, Note } from "../engine/types.js";
import type { HistoryPage, HistoryRecord, StoredInstance } from "../ports.js";
import type { PayloadStore } from "./payloads.js";
import { aws, instanceKey, pad, type TableRef } from "./table.js";

export interface Step {
  pk: string;
  sk: string;
  at: number;
  message: string;
  notes?: string;
  /** A short account of the commands, for the history; the commands themselves are replayed. */
  commands: string;
  sent?: boolean;
  /** A note of a message that changed nothing, or the marker that a step's commands were sent. */
  kind?: "note" | "sent";
  /** The inbox delivery that was applied (see Runtime.apply). */
  delivery?: string;
}

const STEP_DIGITS = 12;
export const stepKey = (version: number) => `V#${pad(version, STEP_DIGITS)}`;
/** The marker item that the commands of the step at `version` were sent (sorts after its notes). */
export const sentKey = (version: number) => `${stepKey(version)}#sent`;
export const versionOf = (item: { sk: string }) => Number(item.sk.slice(2, 2 + STEP_DIGITS));

/** The commands as history shows them: what was sent where, not the fields (the steps replay those). */
const summary = (commands: readonly Command[]) =>
  JSON.stringify(
    commands.map((c) =>
      c.type === "task"
        ? { type: c.type, task: c.task.id, participant: c.task.participant }
        : "timer" in c
          ? { type: c.type, timer: c.timer }
          : { type: c.type },
    ),
  );

/** A step's item; every part that grows with the work (a foreach's thousand tasks) may go to S3, far under 400 KB. */
export async function stepItem(
  payloads: PayloadStore,
  next: Omit<StoredInstance, "version">,
  record: HistoryRecord,
  version: number,
): Promise<Step> {
  const scope = { instance: next.snapshot.id };
  return {
    pk: instanceKey(next.snapshot.id),
    sk: stepKey(version),
    at: record.at,
    message: await payloads.put(JSON.stringify(record.message), scope),
    commands: await payloads.put(summary(record.commands), scope),
    ...(record.notes.length ? { notes: await payloads.put(JSON.stringify(record.notes), scope) } : {}),
    ...(next.outbox.length ? {} : { sent: true }),
    ...(next.delivery === undefined ? {} : { delivery: next.delivery }),
  };
}

/** A page of history; a page never splits a step from its notes. */
export async function readHistory(
  table: TableRef,
  payloads: PayloadStore,
  id: string,
  page: { after?: number; limit?: number },
): Promise<HistoryPage> {
  const limit = Math.min(Math.max(page.limit ?? 100, 1), 1000);
  const seqOf = versionOf;
  const { Items = [], LastEvaluatedKey } = await aws("reading history", () =>
    table.client.send(
      new QueryCommand({
        TableName: table.name,
        // Past the notes of the version `after` ("~" sorts after "#n…"), up to the last step's.
        KeyConditionExpression: "pk = :pk AND sk BETWEEN :from AND :to",
        ExpressionAttributeValues: {
          ":pk": instanceKey(id),
          ":from": `${stepKey(page.after ?? 0)}~`,
          ":to": "V#~",
          ":sent": "sent",
        },
        // The markers that a step's commands were sent are not history.
        FilterExpression: "attribute_not_exists(kind) OR kind <> :sent",
        Limit: limit + 50,
      }),
    ),
  );
  const items = Items as Step[];
  let end = Math.min(limit, items.length);
  while (end < items.length && seqOf(items[end] as Step) === seqOf(items[end - 1] as Step)) end++;
  // A page DynamoDB cut short may end inside a version's notes: leave that version to the next page.
  if (LastEvaluatedKey && end === items.length) {
    const lastSeq = seqOf(items[end - 1] as Step);
    while (end > 1 && seqOf(items[end - 1] as Step) === lastSeq) end--;
  }
  const records = await Promise.all(
    items.slice(0, end).map(async (s) => ({
      seq: seqOf(s),
      at: s.at,
      message: JSON.parse(await payloads.get(s.message)) as Message,
      commands: JSON.parse(await payloads.get(s.commands)) as Command[],
      notes: s.notes ? (JSON.parse(await payloads.get(s.notes)) as Note[]) : [],
    })),
  );
  const last = records[records.length - 1];
  const more = items.length > end || LastEvaluatedKey !== undefined;
  return more && last ? { records, next: last.seq } : { records };
}

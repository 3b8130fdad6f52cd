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
  /** The semantics version the step was applied under; absent on steps written before it was kept: 1. */
  semantics?: number;
}

const STEP_DIGITS = 12;
export const stepKey = (version: number) => `V#${pad(version, STEP_DIGITS)}`;
/** The marker item that the commands of the step at `version` were sent (sorts after its notes). */
export const sentKey = (version: number) => `${stepKey(version)}#sent`;
export const versionOf = (item: { sk: string }) => Number(item.sk.slice(2, 2 + STEP_DIGITS));

/**
 * The commands as history keeps them: each as the interpreter issued it (what the embedded host
 * stores) less what grows with the work and the steps replay anyway: a task's or a child's fields,
 * an inline child definition, a child's output to its parent, a lifecycle event's detail. What
 * stays names every node a command came from (a task's `task.node`, a timer's or an await's
 * `node`), which the diagram colours done (lib/runtime/diagram.ts) and an operator reads.
 */
function summarized(command: Command): Record<string, unknown> {
  switch (command.type) {
    case "task":
      return { type: command.type, task: command.task };
    case "start-child": {
      const { type, child, parent, process } = command;
      return { type, child, parent, ...("name" in process ? { process } : {}) };
    }
    case "notify-parent": {
      const { fields: _fields, ...message } = command.message;
      return { type: command.type, message };
    }
    case "publish":
      return { type: command.type, event: command.event };
    default:
      return command;
  }
}

const summary = (commands: readonly Command[]) => JSON.stringify(commands.map(summarized));

/**
 * A node from an id the interpreter made `<instance>/<node>/<n>` (a task's, a timer's), for the
 * summaries stored before they kept the node.
 */
function nodeOfId(instance: string, id: unknown): string | undefined {
  if (typeof id !== "string" || !id.startsWith(`${instance}/`)) return undefined;
  const end = id.lastIndexOf("/");
  return end > instance.length + 1 ? id.slice(instance.length + 1, end) : undefined;
}

/** A summary stored before it kept the node, in today's shape; any other as it is. */
function upgraded(c: Record<string, unknown>, instance: string): Record<string, unknown> {
  if (c.type === "task" && typeof c.task === "string") {
    const node = nodeOfId(instance, c.task);
    const attempt = Number(c.task.slice(c.task.lastIndexOf("/") + 1));
    const task = {
      id: c.task,
      instance,
      ...(node === undefined ? {} : { node }),
      participant: c.participant,
      ...(Number.isInteger(attempt) ? { attempt } : {}),
    };
    return { type: c.type, task };
  }
  if (c.type === "timer" && c.node === undefined) {
    const node = nodeOfId(instance, c.timer);
    return node === undefined ? c : { ...c, instance, node };
  }
  return c;
}

/**
 * A step's commands back from its summary: the commands less what `summarized` leaves out.
 * Summaries written before the node was kept (`{type: "task", task: <id>, participant}`,
 * `{type: "timer", timer}`) are read in today's shape, the node taken from the id, so older
 * instances' histories and diagrams read as newer ones.
 */
export function readCommands(json: string, instance: string): Command[] {
  const summaries = JSON.parse(json) as Record<string, unknown>[];
  return summaries.map((c) => upgraded(c, instance)) as unknown as Command[];
}

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
    semantics: next.snapshot.semantics,
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
      commands: readCommands(await payloads.get(s.commands), id),
      notes: s.notes ? (JSON.parse(await payloads.get(s.notes)) as Note[]) : [],
    })),
  );
  const last = records[records.length - 1];
  const more = items.length > end || LastEvaluatedKey !== undefined;
  return more && last ? { records, next: last.seq } : { records };
}

/**
 * The end of an instance's history, newest first: one query read backwards over its step and note
 * items (what an operator command came to is among the last few).
 */
import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { Message, Note } from "../engine/types.js";
import type { HistoryRecord } from "../ports.js";
import { readCommands, type Step } from "./history.js";
import type { PayloadStore } from "./payloads.js";
import { aws, instanceKey, type TableRef } from "./table.js";

export async function readRecentHistory(
  table: TableRef,
  payloads: PayloadStore,
  id: string,
  limit: number,
): Promise<HistoryRecord[]> {
  const { Items = [] } = await aws("reading recent history", () =>
    table.client.send(
      new QueryCommand({
        TableName: table.name,
        KeyConditionExpression: "pk = :pk AND sk BETWEEN :from AND :to",
        ExpressionAttributeValues: { ":pk": instanceKey(id), ":from": "V#", ":to": "V#~", ":sent": "sent" },
        // The markers that a step's commands were sent are not history.
        FilterExpression: "attribute_not_exists(kind) OR kind <> :sent",
        ScanIndexForward: false,
        Limit: limit * 2,
        ConsistentRead: true,
      }),
    ),
  );
  return Promise.all(
    (Items as Step[]).slice(0, limit).map(async (step) => ({
      at: step.at,
      message: JSON.parse(await payloads.get(step.message)) as Message,
      commands: readCommands(await payloads.get(step.commands), id),
      notes: step.notes ? (JSON.parse(await payloads.get(step.notes)) as Note[]) : [],
    })),
  );
}

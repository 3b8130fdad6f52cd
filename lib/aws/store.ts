/** InstanceStore on DynamoDB: the head item written with a version condition, in one transaction with its history record. */
import {
  DeleteCommand,
  GetCommand,
  QueryCommand,
  ScanCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { Command, Snapshot } from "../engine/types.js";
import { ConflictError } from "../errors.js";
import type {
  HistoryPage,
  HistoryRecord,
  InstanceFilter,
  InstanceStore,
  InstanceSummary,
  StoredInstance,
} from "../ports.js";
import { aws, historyKey, instanceKey, type TableRef } from "./table.js";

interface Head {
  pk: string;
  sk: "HEAD";
  version: number;
  hseq: number;
  status: string;
  process: string;
  definition: string;
  snapshot: string;
  outbox: string;
  createdAt: number;
  updatedAt: number;
}

export class DynamoInstanceStore implements InstanceStore {
  constructor(private readonly table: TableRef) {}

  private async head(id: string): Promise<Head | undefined> {
    const { Item } = await aws("loading an instance", () =>
      this.table.client.send(
        new GetCommand({
          TableName: this.table.name,
          Key: { pk: instanceKey(id), sk: "HEAD" },
          ConsistentRead: true,
        }),
      ),
    );
    return Item as Head | undefined;
  }

  async load(id: string): Promise<StoredInstance | undefined> {
    const head = await this.head(id);
    if (!head) return undefined;
    return {
      snapshot: JSON.parse(head.snapshot) as Snapshot,
      version: head.version,
      outbox: JSON.parse(head.outbox) as Command[],
      definition: head.definition,
    };
  }

  async save(
    next: Omit<StoredInstance, "version">,
    record: HistoryRecord,
    expected: number | undefined,
  ): Promise<number> {
    const { snapshot } = next;
    const current = expected === undefined ? undefined : await this.head(snapshot.id);
    const seq = (current?.hseq ?? 0) + 1;
    const head: Head = {
      pk: instanceKey(snapshot.id),
      sk: "HEAD",
      version: (expected ?? 0) + 1,
      hseq: seq,
      status: snapshot.status,
      process: snapshot.process,
      definition: next.definition,
      snapshot: JSON.stringify(snapshot),
      outbox: JSON.stringify(next.outbox),
      createdAt: snapshot.createdAt,
      updatedAt: snapshot.updatedAt,
    };
    const condition =
      expected === undefined
        ? { ConditionExpression: "attribute_not_exists(pk)" }
        : {
            ConditionExpression: "version = :expected",
            ExpressionAttributeValues: { ":expected": expected },
          };
    try {
      await aws("saving an instance", () =>
        this.table.client.send(
          new TransactWriteCommand({
            TransactItems: [
              { Put: { TableName: this.table.name, Item: head, ...condition } },
              {
                Put: {
                  TableName: this.table.name,
                  Item: { pk: head.pk, sk: historyKey(seq), at: record.at, record: JSON.stringify(record) },
                },
              },
            ],
          }),
        ),
      );
    } catch (error) {
      if (error instanceof Error && /TransactionCanceled|ConditionalCheckFailed/.test(error.name)) {
        throw new ConflictError(`instance ${snapshot.id} changed since version ${expected ?? "none"}`, {
          cause: error,
        });
      }
      throw error;
    }
    return head.version;
  }

  async note(id: string, record: HistoryRecord): Promise<void> {
    const { Attributes } = await aws("numbering a history record", () =>
      this.table.client.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: { pk: instanceKey(id), sk: "HEAD" },
          UpdateExpression: "ADD hseq :one",
          ConditionExpression: "attribute_exists(pk)",
          ExpressionAttributeValues: { ":one": 1 },
          ReturnValues: "UPDATED_NEW",
        }),
      ),
    );
    const seq = Number((Attributes as { hseq?: number } | undefined)?.hseq ?? 0);
    await aws("writing a history record", () =>
      this.table.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.table.name,
                Item: {
                  pk: instanceKey(id),
                  sk: historyKey(seq),
                  at: record.at,
                  record: JSON.stringify(record),
                },
              },
            },
          ],
        }),
      ),
    );
  }

  async markSent(id: string, version: number): Promise<void> {
    try {
      await this.table.client.send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: { pk: instanceKey(id), sk: "HEAD" },
          UpdateExpression: "SET outbox = :empty",
          ConditionExpression: "version = :v",
          ExpressionAttributeValues: { ":empty": "[]", ":v": version },
        }),
      );
    } catch (error) {
      // A newer version was saved meanwhile: its own outbox is not ours to clear.
      if (!(error instanceof Error && error.name === "ConditionalCheckFailedException")) throw error;
    }
  }

  async history(id: string, page: { after?: number; limit?: number } = {}): Promise<HistoryPage> {
    const limit = Math.min(Math.max(page.limit ?? 100, 1), 1000);
    const { Items = [] } = await aws("reading history", () =>
      this.table.client.send(
        new QueryCommand({
          TableName: this.table.name,
          KeyConditionExpression: "pk = :pk AND sk BETWEEN :from AND :to",
          ExpressionAttributeValues: {
            ":pk": instanceKey(id),
            ":from": historyKey((page.after ?? 0) + 1),
            ":to": "H#~",
          },
          Limit: limit + 1,
        }),
      ),
    );
    const records = Items.slice(0, limit).map((item) => ({
      seq: Number(String(item.sk).slice(2)),
      ...(JSON.parse(String(item.record)) as HistoryRecord),
    }));
    const last = records[records.length - 1];
    return Items.length > limit && last ? { records, next: last.seq } : { records };
  }

  async list(filter: InstanceFilter = {}): Promise<InstanceSummary[]> {
    // A scan: fine for operators' listings; a status index comes with the stack's GSI.
    const { Items = [] } = await aws("listing instances", () =>
      this.table.client.send(
        new ScanCommand({
          TableName: this.table.name,
          FilterExpression: "sk = :head",
          ExpressionAttributeValues: { ":head": "HEAD" },
        }),
      ),
    );
    return (Items as Head[])
      .filter(
        (h) =>
          (!filter.status || h.status === filter.status) && (!filter.process || h.process === filter.process),
      )
      .sort((a, b) => b.createdAt - a.createdAt)
      .slice(0, filter.limit ?? 100)
      .map((h) => ({
        id: h.pk.slice(2),
        process: h.process,
        status: h.status as InstanceSummary["status"],
        createdAt: h.createdAt,
        updatedAt: h.updatedAt,
      }));
  }

  async remove(id: string): Promise<boolean> {
    const existed = Boolean(await this.head(id));
    for (let after = 0; ; ) {
      const page = await this.history(id, { after, limit: 100 });
      for (const r of page.records)
        await this.table.client.send(
          new DeleteCommand({
            TableName: this.table.name,
            Key: { pk: instanceKey(id), sk: historyKey(r.seq) },
          }),
        );
      if (!page.next) break;
      after = page.next;
    }
    await this.table.client.send(
      new DeleteCommand({ TableName: this.table.name, Key: { pk: instanceKey(id), sk: "HEAD" } }),
    );
    return existed;
  }
}

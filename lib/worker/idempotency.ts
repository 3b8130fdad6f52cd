/**
 * Where a worker keeps the reply it gave each task, by task id (an attempt has an id of its own),
 * so that a redelivered task is answered with it and the handler does not run twice: SQLite for a
 * worker beside `docket serve`, DynamoDB on AWS. The first reply kept for a task stays (two
 * workers that both ran it answer the same); an item expires after `days`.
 */
import { ConditionalCheckFailedException, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import Database from "better-sqlite3";
import type { WireReply } from "../runtime/wire.js";
import type { IdempotencyStore } from "./worker.js";

const DAY_MS = 24 * 60 * 60 * 1000;

/** A SQLite file (created when missing) holding the replies, each kept `days` (default 14). */
export function sqliteIdempotency(path: string, options: { days?: number } = {}): IdempotencyStore {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec(
    "CREATE TABLE IF NOT EXISTS worker_replies (task TEXT PRIMARY KEY, reply TEXT NOT NULL, expires INTEGER NOT NULL)",
  );
  const keep = (options.days ?? 14) * DAY_MS;
  const read = db.prepare<[string, number], { reply: string }>(
    "SELECT reply FROM worker_replies WHERE task = ? AND expires > ?",
  );
  const write = db.prepare("INSERT OR IGNORE INTO worker_replies (task, reply, expires) VALUES (?, ?, ?)");
  const prune = db.prepare("DELETE FROM worker_replies WHERE expires <= ?");
  return {
    async get(task) {
      const row = read.get(task, Date.now());
      return row ? (JSON.parse(row.reply) as WireReply) : undefined;
    },
    async put(task, reply) {
      const now = Date.now();
      prune.run(now);
      write.run(task, JSON.stringify(reply), now + keep);
      return (await this.get(task)) ?? reply;
    },
  };
}

export interface DynamoIdempotencyOptions {
  /** A table whose partition key is the string attribute `pk` (TTL on `expires`, in seconds, advised). */
  readonly table: string;
  readonly client?: DynamoDBClient;
  /** How long a reply is kept; default 14 days (the inbox keeps a message 14 days at most). */
  readonly days?: number;
}

/** A DynamoDB table holding the replies, one item per task (`pk` = `docket-task#<task id>`). */
export function dynamoIdempotency(options: DynamoIdempotencyOptions): IdempotencyStore {
  const client = DynamoDBDocumentClient.from(options.client ?? new DynamoDBClient({}));
  const key = (task: string) => ({ pk: `docket-task#${task}` });
  const keepSeconds = Math.round(((options.days ?? 14) * DAY_MS) / 1000);
  return {
    async get(task) {
      const { Item } = await client.send(
        new GetCommand({ TableName: options.table, Key: key(task), ConsistentRead: true }),
      );
      if (!Item || Number(Item.expires) * 1000 <= Date.now()) return undefined;
      return JSON.parse(String(Item.reply)) as WireReply;
    },
    async put(task, reply) {
      const expires = Math.floor(Date.now() / 1000) + keepSeconds;
      try {
        await client.send(
          new PutCommand({
            TableName: options.table,
            Item: { ...key(task), reply: JSON.stringify(reply), expires },
            // The first reply kept stays: a second worker that ran the task answers with it.
            ConditionExpression: "attribute_not_exists(pk)",
          }),
        );
        return reply;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        return (await this.get(task)) ?? reply;
      }
    },
  };
}

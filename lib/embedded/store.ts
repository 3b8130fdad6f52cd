/** InstanceStore on SQLite: the snapshot, its outbox and a history record written in one transaction. */

import { upgradeSnapshot } from "../engine/semantics.js";
import type { Command, InstanceStatus } from "../engine/types.js";
import { ConflictError } from "../errors.js";
import {
  checkStateSize,
  type HistoryPage,
  type HistoryRecord,
  type InstanceCount,
  type InstanceFilter,
  type InstanceStore,
  type InstanceSummary,
  type StoredInstance,
} from "../ports.js";
import { keepNewest } from "../runtime/lru.js";
import type { Db } from "./database.js";

interface InstanceRow {
  id: string;
  process: string;
  status: string;
  version: number;
  snapshot: string;
  outbox: string;
  definition: string;
  history_seq: number;
  created_at: number;
  updated_at: number;
}

const CACHE_SIZE = 1000;

/**
 * Room to grow, left in a new instance's row and given back by its first step. SQLite fills the
 * pages of rows appended in order to the brim, so instances launched together sit in full pages,
 * and a step almost always makes its row longer (the event taken, what it wrote): without this, the
 * first step of each would split its page, writing three or four pages instead of one (measured:
 * events to 100,000 instances launched together wrote 18 pages each, against 15 with the room).
 */
const ROOM_BYTES = 256;

/** The instances row of a save, named as the insert and update statements name their parameters. */
interface Row {
  readonly id: string;
  readonly process: string;
  readonly status: string;
  readonly snapshot: string;
  readonly outbox: string;
  readonly definition: string;
  readonly at: number;
  readonly expected: number;
}

/** An instance as last written or read, with the seq of its newest history record. */
interface Cached {
  readonly stored: StoredInstance;
  readonly seq: number;
}

export class SqliteInstanceStore implements InstanceStore {
  private readonly statements;
  private readonly cache = new Map<string, Cached>();
  private readonly saveTransaction: (
    row: Row,
    id: string,
    record: HistoryRecord,
    expected: number | undefined,
  ) => number;

  constructor(private readonly db: Db) {
    this.statements = {
      // Named columns: not the room a new row keeps.
      load: db.prepare<[string], InstanceRow>(
        "SELECT id, process, status, version, snapshot, outbox, definition, history_seq, created_at, updated_at FROM instances WHERE id = ?",
      ),
      insert: db.prepare<[Row]>(
        `INSERT INTO instances (id, process, status, version, history_seq, snapshot, outbox, definition, created_at, updated_at, room) VALUES (@id, @process, @status, 1, 1, @snapshot, @outbox, @definition, @at, @at, zeroblob(${ROOM_BYTES}))`,
      ),
      update: db.prepare<[Row], { seq: number }>(
        "UPDATE instances SET room = NULL, status = @status, version = version + 1, history_seq = history_seq + 1, snapshot = @snapshot, outbox = @outbox, definition = @definition, updated_at = @at WHERE id = @id AND version = @expected RETURNING history_seq AS seq",
      ),
      // The step of a cached instance: its history seq is known, so no RETURNING (which makes SQLite
      // buffer the result in a table of its own) and positional parameters, cheaper to bind.
      stepKeepingStatus: db.prepare<[string, string, number, string, number]>(
        "UPDATE instances SET room = NULL, version = version + 1, history_seq = history_seq + 1, snapshot = ?, outbox = ?, updated_at = ? WHERE id = ? AND version = ?",
      ),
      step: db.prepare<[string, string, string, number, string, number]>(
        "UPDATE instances SET room = NULL, status = ?, version = version + 1, history_seq = history_seq + 1, snapshot = ?, outbox = ?, updated_at = ? WHERE id = ? AND version = ?",
      ),
      markSent: db.prepare("UPDATE instances SET outbox = '[]' WHERE id = ? AND version = ?"),
      nextSeq: db.prepare<[string], { seq: number }>(
        "UPDATE instances SET history_seq = history_seq + 1 WHERE id = ? RETURNING history_seq AS seq",
      ),
      appendHistory: db.prepare("INSERT INTO history (instance, seq, at, record) VALUES (?, ?, ?, ?)"),
      history: db.prepare<[string, number, number], { seq: number; record: string }>(
        "SELECT seq, record FROM history WHERE instance = ? AND seq > ? ORDER BY seq LIMIT ?",
      ),
      recent: db.prepare<[string, number], { record: string }>(
        "SELECT record FROM history WHERE instance = ? ORDER BY seq DESC LIMIT ?",
      ),
      remove: db.prepare("DELETE FROM instances WHERE id = ?"),
      removeHistory: db.prepare("DELETE FROM history WHERE instance = ?"),
    };
    this.saveTransaction = db.transaction(this.writeStep.bind(this));
  }

  async load(id: string): Promise<StoredInstance | undefined> {
    const cached = this.cache.get(id);
    if (cached) return cached.stored;
    const row = this.statements.load.get(id);
    if (!row) return undefined;
    const stored = {
      snapshot: upgradeSnapshot(JSON.parse(row.snapshot)),
      version: row.version,
      outbox: JSON.parse(row.outbox) as Command[],
      definition: row.definition,
    };
    this.remember(id, stored, row.history_seq);
    return stored;
  }

  /**
   * Instances just written stay parsed in memory: this process is the database's only writer
   * (the version check on every write would catch another), so a load needs no read or parse.
   */
  private remember(id: string, stored: StoredInstance, seq: number): void {
    keepNewest(this.cache, id, { stored, seq }, CACHE_SIZE);
  }

  /** Drops what this store remembers: after a rolled-back transaction it may not be what is stored. */
  forget(): void {
    this.cache.clear();
  }

  /**
   * The state row and its history record, returning the record's seq; the caller holds a
   * transaction around both.
   */
  private writeStep(row: Row, id: string, record: HistoryRecord, expected: number | undefined): number {
    const seq = expected === undefined ? this.insertRow(row, id) : this.updateRow(row, id, expected);
    this.statements.appendHistory.run(id, seq, record.at, JSON.stringify(record));
    return seq;
  }

  private insertRow(row: Row, id: string): number {
    if (this.statements.load.get(id)) throw new ConflictError(`instance ${id} exists already`);
    this.statements.insert.run(row);
    return 1;
  }

  private updateRow(row: Row, id: string, expected: number): number {
    const cached = this.cache.get(id);
    let seq: number | undefined;
    // A migration changes the definition: only the full update writes that column.
    if (cached?.stored.version === expected && cached.stored.definition === row.definition) {
      // The version check passing makes the cached instance the stored one: its status and seq.
      // Setting the status only when it changes spares a page: SQLite rewrites the index entry of
      // any column set, even to the value it had.
      const changed =
        cached.stored.snapshot.status === row.status
          ? this.statements.stepKeepingStatus.run(row.snapshot, row.outbox, row.at, id, expected)
          : this.statements.step.run(row.status, row.snapshot, row.outbox, row.at, id, expected);
      if (changed.changes) seq = cached.seq + 1;
    } else {
      seq = this.statements.update.get(row)?.seq;
    }
    if (seq === undefined) throw new ConflictError(`instance ${id} changed since version ${expected}`);
    return seq;
  }

  private append(id: string, record: HistoryRecord): void {
    const seq = this.statements.nextSeq.get(id)?.seq;
    if (seq === undefined) return;
    this.statements.appendHistory.run(id, seq, record.at, JSON.stringify(record));
    const cached = this.cache.get(id);
    if (cached) this.cache.set(id, { stored: cached.stored, seq });
  }

  async save(
    next: Omit<StoredInstance, "version">,
    record: HistoryRecord,
    expected: number | undefined,
  ): Promise<number> {
    const { snapshot } = next;
    const row: Row = {
      id: snapshot.id,
      process: snapshot.process,
      status: snapshot.status,
      snapshot: JSON.stringify(snapshot),
      outbox: JSON.stringify(next.outbox),
      definition: next.definition,
      at: snapshot.updatedAt,
      expected: expected ?? 0,
    };
    checkStateSize(snapshot.id, row.snapshot);
    try {
      // Inside the engine's transaction (every message, every outside write) a savepoint of its own
      // would add two statements and protect nothing: a failure there rolls the whole message back.
      const seq = this.db.inTransaction
        ? this.writeStep(row, snapshot.id, record, expected)
        : this.saveTransaction(row, snapshot.id, record, expected);
      const version = (expected ?? 0) + 1;
      this.remember(snapshot.id, { ...next, version }, seq);
      return version;
    } catch (error) {
      this.cache.delete(snapshot.id);
      throw error;
    }
  }

  async note(id: string, record: HistoryRecord): Promise<void> {
    this.append(id, record);
  }

  async markSent(id: string, version: number): Promise<void> {
    this.statements.markSent.run(id, version);
    const cached = this.cache.get(id);
    if (cached?.stored.version === version)
      this.cache.set(id, { stored: { ...cached.stored, outbox: [] }, seq: cached.seq });
  }

  async history(id: string, page: { after?: number; limit?: number } = {}): Promise<HistoryPage> {
    const limit = Math.min(Math.max(page.limit ?? 100, 1), 1000);
    const rows = this.statements.history.all(id, page.after ?? 0, limit + 1);
    const records = rows
      .slice(0, limit)
      .map((row) => ({ seq: row.seq, ...(JSON.parse(row.record) as HistoryRecord) }));
    const last = records[records.length - 1];
    return rows.length > limit && last ? { records, next: last.seq } : { records };
  }

  async recentHistory(id: string, limit: number): Promise<HistoryRecord[]> {
    return this.statements.recent.all(id, limit).map((row) => JSON.parse(row.record) as HistoryRecord);
  }

  async list(filter: InstanceFilter = {}): Promise<InstanceSummary[]> {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: Math.min(filter.limit ?? 100, 1001) };
    if (filter.status) {
      where.push("status = @status");
      params.status = filter.status;
    }
    if (filter.process) {
      where.push("process = @process");
      params.process = filter.process;
    }
    if (filter.after) {
      // The cursor is the last row's (created_at, id): newest first, ties by id, as DynamoDB's index.
      const [created, ...id] = filter.after.split("#");
      where.push("(created_at < @created OR (created_at = @created AND id < @id))");
      params.created = Number(created);
      params.id = id.join("#");
    }
    const sql = `SELECT id, process, status, created_at, updated_at FROM instances ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, id DESC LIMIT @limit`;
    return this.db
      .prepare<
        Record<string, unknown>,
        Pick<InstanceRow, "id" | "process" | "status" | "created_at" | "updated_at">
      >(sql)
      .all(params)
      .map((row) => ({
        id: row.id,
        process: row.process,
        status: row.status as InstanceSummary["status"],
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      }));
  }

  async count(filter: { status: InstanceStatus; process?: string }, cap: number): Promise<InstanceCount> {
    // The limit inside stops the count at `cap`; both filters are instances_by_status's columns.
    const process = filter.process === undefined ? "" : "AND process = @process";
    const sql = `SELECT COUNT(*) AS n FROM (SELECT 1 FROM instances WHERE status = @status ${process} LIMIT @cap)`;
    const count =
      this.db.prepare<Record<string, unknown>, { n: number }>(sql).get({ ...filter, cap })?.n ?? 0;
    return { count, more: count >= cap };
  }

  async remove(id: string): Promise<boolean> {
    this.cache.delete(id);
    return this.db.transaction(() => {
      this.statements.removeHistory.run(id);
      return this.statements.remove.run(id).changes > 0;
    })();
  }
}

/** The embedded mode's one SQLite file (better-sqlite3, WAL): schema and opening. */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { InfrastructureError } from "../errors.js";

export type Db = Database.Database;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS instances (
  id TEXT PRIMARY KEY, process TEXT NOT NULL, status TEXT NOT NULL, version INTEGER NOT NULL,
  history_seq INTEGER NOT NULL DEFAULT 0,
  snapshot TEXT NOT NULL, outbox TEXT NOT NULL, definition TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, room BLOB);
CREATE INDEX IF NOT EXISTS instances_by_status ON instances (status, process);
-- Listing newest first, all or of one process: a page is an index range, not a sort of every
-- instance. Neither column changes after the insert, so a step never writes these.
CREATE INDEX IF NOT EXISTS instances_by_created ON instances (created_at, id);
CREATE INDEX IF NOT EXISTS instances_by_process ON instances (process, created_at, id);
-- Listing by status: written by the statements that set the status, not by a step that keeps it.
CREATE INDEX IF NOT EXISTS instances_by_status_created ON instances (status, created_at, id);
-- The instances pinned to each definition version, counted by status (docket definitions).
CREATE INDEX IF NOT EXISTS instances_by_definition ON instances (definition, status);
CREATE TABLE IF NOT EXISTS history (
  instance TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, record TEXT NOT NULL,
  PRIMARY KEY (instance, seq));
-- No AUTOINCREMENT: a new id is still above every queued one (the order kept), without a write
-- to sqlite_sequence on every message.
CREATE TABLE IF NOT EXISTS inbox (
  id INTEGER PRIMARY KEY, instance TEXT NOT NULL, message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS timers (
  id TEXT PRIMARY KEY, instance TEXT NOT NULL, node TEXT NOT NULL, due INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS timers_by_due ON timers (due);
CREATE TABLE IF NOT EXISTS subscriptions (
  id TEXT PRIMARY KEY, instance TEXT NOT NULL, node TEXT NOT NULL, event TEXT NOT NULL, key TEXT);
CREATE INDEX IF NOT EXISTS subscriptions_by_event ON subscriptions (event, key);
CREATE INDEX IF NOT EXISTS subscriptions_by_instance ON subscriptions (instance);
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, key TEXT, data TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_name ON events (name, key, at);
-- An unkeyed await's buffered events (every key of the name), and pruning the oldest first: each
-- one index range, so neither reads the whole buffer (test/embedded/query-plans.test.ts).
CREATE INDEX IF NOT EXISTS events_by_name_at ON events (name, at);
-- Pruning takes the oldest by rowid (the order they were recorded in), which needs no index: one
-- fewer to write with every event.
DROP INDEX IF EXISTS events_by_at;
CREATE TABLE IF NOT EXISTS definitions (
  hash TEXT PRIMARY KEY, name TEXT NOT NULL, source TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS latest (name TEXT PRIMARY KEY, hash TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rejections (name TEXT PRIMARY KEY, problems TEXT NOT NULL, at INTEGER NOT NULL);
-- The source last registered under each name: registering it again changes nothing, so a restart
-- does not undo a rollback (which moves latest, not this).
CREATE TABLE IF NOT EXISTS registered (name TEXT PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY, instance TEXT NOT NULL, participant TEXT NOT NULL, task TEXT NOT NULL,
  state TEXT NOT NULL, leased_until INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
-- Open tasks only: answering a task drops its entry beside the next task's instead of moving it.
DROP INDEX IF EXISTS tasks_open;
CREATE INDEX IF NOT EXISTS tasks_open_by_participant ON tasks (participant, created_at) WHERE state = 'open';
`;

/** Columns added since a table was first made: a file made before gets them when opened. */
const ADDED_COLUMNS: readonly { table: string; column: string; definition: string }[] = [
  { table: "instances", column: "room", definition: "room BLOB" },
];

/** Looked at and added under the write lock: two processes opening an older file at once add each once. */
function addMissingColumns(db: Db): void {
  const missing = () =>
    ADDED_COLUMNS.filter(({ table, column }) =>
      (db.pragma(`table_info(${table})`) as { name: string }[]).every((c) => c.name !== column),
    );
  if (!missing().length) return;
  db.transaction(() => {
    for (const { table, definition } of missing()) db.exec(`ALTER TABLE ${table} ADD COLUMN ${definition}`);
  }).immediate();
}

/** The write-ahead log's length (pages, ~64 MB) at which the engine's own commit checkpoints it. */
export const ENGINE_CHECKPOINT_PAGES = 16_000;

/** Opens (creating if needed) the database at `path`; `:memory:` for a throwaway one. */
export function openDatabase(path: string): Db {
  try {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("busy_timeout = 5000");
    // The checkpoint worker (checkpoints.ts) keeps the log below this; the engine checkpoints only
    // should it fall behind.
    db.pragma(`wal_autocheckpoint = ${ENGINE_CHECKPOINT_PAGES}`);
    db.exec(SCHEMA);
    addMissingColumns(db);
    return db;
  } catch (error) {
    throw new InfrastructureError(
      `cannot open the database ${path}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

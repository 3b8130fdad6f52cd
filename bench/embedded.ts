/**
 * Durable steps per second of the embedded engine (a reply queued, applied, the state and history
 * saved, the next task stored for its participant, committed) against the raw better-sqlite3
 * floor: one transaction per step writing rows of the same sizes (state, history entry, task) to
 * the same kind of file with the same schema and settings, with no engine in between. A call is
 * one instance of STEPS_PER_CALL steps on the engine (its launch and finish are extra messages,
 * counted as nothing) and STEPS_PER_CALL transactions on the floor.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../lib/embedded/config.js";
import { type Db, openDatabase } from "../lib/embedded/database.js";
import { EmbeddedEngine } from "../lib/embedded/engine.js";
import type { TaskCommand } from "../lib/engine/types.js";
import { compare, printRow, type Row, type Side } from "./harness.js";

const STEPS_PER_CALL = 100;
const definition = `process: steps\ncontext: { i: 0, payload: "${"x".repeat(1000)}" }\ndo:\n  - while:\n      condition: context.i < ${STEPS_PER_CALL}\n      do: [ { action: work } ]\n`;

interface Sizes {
  readonly stateBytes: number;
  readonly historyBytes: number;
  readonly taskBytes: number;
}

async function engineSide(dir: string): Promise<{ side: Side; engine: EmbeddedEngine; sizes: () => Sizes }> {
  const config = {
    ...loadConfig(undefined, dir),
    database: join(dir, "engine.sqlite"),
    definitions: join(dir, "none"),
  };
  const engine = await EmbeddedEngine.open({ config, participants: false });
  await engine.definitions.register("steps.yaml", definition);
  // The participant answers each task as it is stored, as the engine-side participants do.
  engine.queues.on("task", (task: TaskCommand) => {
    void engine.reply({ task: task.task, status: "done", fields: { i: Number(task.fields.i) + 1 } });
  });
  let runs = 0;
  const call = async (): Promise<void> => {
    const id = await engine.launch({ process: "steps", id: `bench-${++runs}` });
    await engine.idle();
    const status = (await engine.snapshot(id))?.status;
    if (status !== "completed") throw new Error(`bench instance ${id} ended ${status}`);
  };
  const sizes = (): Sizes => {
    const id = `bench-${runs}`;
    const one = (sql: string) => (engine.db.prepare(sql).get(id) as { n: number }).n;
    return {
      stateBytes: one("SELECT length(snapshot) AS n FROM instances WHERE id = ?"),
      historyBytes: Math.round(one("SELECT avg(length(record)) AS n FROM history WHERE instance = ?")),
      taskBytes: Math.round(one("SELECT avg(length(task)) AS n FROM tasks WHERE instance = ?")),
    };
  };
  return { side: { name: "docket", call, opsPerCall: STEPS_PER_CALL }, engine, sizes };
}

function floorSide(db: Db, sizes: () => Sizes): Side {
  db.prepare(
    "INSERT INTO instances (id, process, status, version, snapshot, outbox, definition, created_at, updated_at) VALUES ('f', 'p', 'running', 1, '', '[]', 'd', 0, 0)",
  ).run();
  const update = db.prepare("UPDATE instances SET snapshot = ?, version = version + 1 WHERE id = 'f'");
  const history = db.prepare("INSERT INTO history (instance, seq, at, record) VALUES ('f', ?, 0, ?)");
  const task = db.prepare(
    "INSERT INTO tasks (id, instance, participant, task, state, created_at) VALUES (?, 'f', 'work', ?, 'open', 0)",
  );
  type Rows = { state: string; record: string; task: string };
  let rows: Rows | undefined;
  const step = db.transaction((seq: number, { state, record, task: text }: Rows) => {
    update.run(state);
    history.run(seq, record);
    task.run(String(seq), text);
  });
  let seq = 0;
  const call = (): void => {
    // The sizes are the engine's, read after its first call (compare runs it first).
    if (!rows) {
      const { stateBytes, historyBytes, taskBytes } = sizes();
      rows = { state: "s".repeat(stateBytes), record: "h".repeat(historyBytes), task: "t".repeat(taskBytes) };
    }
    for (let i = 0; i < STEPS_PER_CALL; i++) step(++seq, rows);
  };
  return { name: "raw better-sqlite3", call, opsPerCall: STEPS_PER_CALL };
}

/** Returns the row comparing the engine with the floor. */
export async function benchEmbedded(budgetMs: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), "docket-bench-"));
  const floorDb = openDatabase(join(dir, "floor.sqlite"));
  const { side, engine, sizes } = await engineSide(dir);
  try {
    const { a, b, plan } = await compare(side, floorSide(floorDb, sizes), budgetMs);
    const { stateBytes, historyBytes, taskBytes } = sizes();
    const row: Row = {
      workload: "durable steps (SQLite, WAL)",
      subject: a,
      peer: b,
      plan,
      note: `per step: state ${stateBytes} B, history ${historyBytes} B, task ${taskBytes} B; ${((a.opsPerSecond / b.opsPerSecond) * 100).toFixed(0)}% of the floor`,
    };
    printRow(row);
    return row;
  } finally {
    await engine.close();
    floorDb.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`)
  await benchEmbedded(Number(process.env.BENCH_MS ?? 2000));

/**
 * Durable steps per second of the embedded engine (a reply taken, applied, the state and history
 * saved, the next task stored for its participant, committed) against the raw better-sqlite3
 * floor: one transaction per step writing rows of the same sizes (state, history entry, task) to
 * the same kind of file with the same schema and settings (its log copied into the file by the
 * same checkpoint worker), with no engine in between.
 *
 * The participant answers each task after the step that sent it has committed (on the event loop's
 * next turn, as a worker's reply arrives), so nothing is answered inside a transaction. Two rows:
 * one instance stepping alone, where every step is a commit of its own as on the floor; and
 * CONCURRENT instances stepping at once, as a server under load, where the engine's writer puts the
 * replies that arrived together in one commit (group commit). A call is STEPS_PER_CALL steps of
 * each instance (its launch and finish are extra messages, counted as nothing) on the engine and as
 * many one-step transactions on the floor.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Checkpointer, startCheckpointer } from "../lib/embedded/checkpoints.js";
import { loadConfig } from "../lib/embedded/config.js";
import { type Db, openDatabase } from "../lib/embedded/database.js";
import { EmbeddedEngine } from "../lib/embedded/engine.js";
import type { TaskCommand } from "../lib/engine/types.js";
import { compare, printRow, type Row, type Side } from "./harness.js";

const STEPS_PER_CALL = 100;
const CONCURRENT = 32;
const definition = `process: steps\ncontext: { i: 0, payload: "${"x".repeat(1000)}" }\ndo:\n  - while:\n      condition: context.i < ${STEPS_PER_CALL}\n      do: [ { action: work } ]\n`;

interface Sizes {
  readonly stateBytes: number;
  readonly historyBytes: number;
  readonly taskBytes: number;
}

interface EngineSide {
  readonly engine: EmbeddedEngine;
  /** Runs `count` instances of STEPS_PER_CALL steps at once, to their end. */
  readonly run: (count: number) => Promise<void>;
  readonly sizes: () => Sizes;
}

async function openEngine(dir: string): Promise<EngineSide> {
  const config = {
    ...loadConfig(undefined, dir),
    database: join(dir, "engine.sqlite"),
    definitions: join(dir, "none"),
  };
  const engine = await EmbeddedEngine.open({ config, participants: false });
  await engine.definitions.register("steps.yaml", definition);
  // The participant answers each task once its step has committed, as a worker's reply arrives.
  const answering = new Set<Promise<void>>();
  engine.queues.on("task", (task: TaskCommand) => {
    const reply = new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
      engine.reply({ task: task.task, status: "done", fields: { i: Number(task.fields.i) + 1 } }),
    );
    answering.add(reply);
    void reply.finally(() => answering.delete(reply));
  });
  let runs = 0;
  const run = async (count: number): Promise<void> => {
    const ids = await Promise.all(
      Array.from({ length: count }, () => engine.launch({ process: "steps", id: `bench-${++runs}` })),
    );
    for (;;) {
      await engine.idle();
      if (!answering.size) break;
      await Promise.all(answering);
    }
    for (const id of ids) {
      const status = (await engine.snapshot(id))?.status;
      if (status !== "completed") throw new Error(`bench instance ${id} ended ${status}`);
    }
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
  return { engine, run, sizes };
}

const engineSide = (side: EngineSide, count: number): Side => ({
  name: "docket",
  call: () => side.run(count),
  opsPerCall: count * STEPS_PER_CALL,
});

function floorSide(db: Db, checkpoints: Checkpointer, sizes: () => Sizes, count: number): Side {
  db.prepare(
    "INSERT OR IGNORE INTO instances (id, process, status, version, snapshot, outbox, definition, created_at, updated_at) VALUES ('f', 'p', 'running', 1, '', '[]', 'd', 0, 0)",
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
  let seq = (db.prepare("SELECT count(*) AS n FROM history").get() as { n: number }).n;
  const call = async (): Promise<void> => {
    // The sizes are the engine's, read after its first call (compare runs it first).
    if (!rows) {
      const { stateBytes, historyBytes, taskBytes } = sizes();
      rows = { state: "s".repeat(stateBytes), record: "h".repeat(historyBytes), task: "t".repeat(taskBytes) };
    }
    for (let i = 0; i < count * STEPS_PER_CALL; i++) {
      // Paused when the checkpoint worker starts the log over, as the engine's writer pauses.
      const gap = checkpoints.gap();
      if (gap) await gap;
      step(++seq, rows);
    }
  };
  return { name: "raw better-sqlite3", call, opsPerCall: count * STEPS_PER_CALL };
}

async function measure(
  workload: string,
  side: EngineSide,
  floor: { db: Db; checkpoints: Checkpointer },
  count: number,
  budgetMs: number,
): Promise<Row> {
  const { a, b, plan } = await compare(
    engineSide(side, count),
    floorSide(floor.db, floor.checkpoints, side.sizes, count),
    budgetMs,
  );
  const { stateBytes, historyBytes, taskBytes } = side.sizes();
  const row: Row = {
    workload,
    subject: a,
    peer: b,
    plan,
    note: `per step: state ${stateBytes} B, history ${historyBytes} B, task ${taskBytes} B; ${((a.opsPerSecond / b.opsPerSecond) * 100).toFixed(0)}% of the floor`,
  };
  printRow(row);
  return row;
}

/** Returns the rows comparing the engine with the floor: one instance alone, and CONCURRENT at once. */
export async function benchEmbedded(budgetMs: number): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "docket-bench-"));
  const floorDb = openDatabase(join(dir, "floor.sqlite"));
  // The floor's log is copied into its file off its thread too, as the engine's is.
  const floorCheckpoints = startCheckpointer(floorDb, (line) => console.error(line));
  const floor = { db: floorDb, checkpoints: floorCheckpoints };
  const side = await openEngine(dir);
  try {
    return [
      await measure("durable steps, 1 instance (a commit a step)", side, floor, 1, budgetMs),
      await measure(
        `durable steps, ${CONCURRENT} instances at once (group commit)`,
        side,
        floor,
        CONCURRENT,
        budgetMs,
      ),
    ];
  } finally {
    await side.engine.close();
    await floorCheckpoints.stop();
    floorDb.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`)
  await benchEmbedded(Number(process.env.BENCH_MS ?? 2000));

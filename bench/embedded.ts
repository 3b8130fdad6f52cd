/**
 * Durable steps per second of the embedded engine (a reply queued, applied, the state and history
 * saved, the next task stored for its participant) against the raw better-sqlite3 floor: one
 * transaction per step writing rows of the same sizes (state, history entry, task) to the same
 * kind of file, with no engine in between.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { loadConfig } from "../lib/embedded/config.js";
import { openDatabase } from "../lib/embedded/database.js";
import { EmbeddedEngine } from "../lib/embedded/engine.js";
import type { TaskCommand } from "../lib/engine/types.js";
import { formatRate } from "./harness.js";

const STEPS = Number(process.env.BENCH_STEPS ?? 2000);
const definition = `process: steps\ncontext: { i: 0, payload: "${"x".repeat(1000)}" }\ndo:\n  - while:\n      condition: context.i < ${STEPS}\n      do: [ { action: work } ]\n`;

interface Sizes {
  readonly stateBytes: number;
  readonly historyBytes: number;
  readonly taskBytes: number;
}

async function engineRate(dir: string): Promise<{ rate: number } & Sizes> {
  const config = {
    ...loadConfig(undefined, dir),
    database: join(dir, "engine.sqlite"),
    definitions: join(dir, "none"),
  };
  const engine = await EmbeddedEngine.open({ config, participants: false });
  await engine.definitions.register("steps.yaml", definition);
  let reply: (task: TaskCommand) => void = () => undefined;
  engine.queues.on("task", (task: TaskCommand) => reply(task));
  const done = new Promise<void>((resolve) => {
    reply = (task) => {
      const i = Number(task.fields.i);
      void engine.reply({ task: task.task, status: "done", fields: { i: i + 1 } });
      if (i + 1 >= STEPS) resolve();
    };
  });
  const start = performance.now();
  const id = await engine.launch({ process: "steps", id: "bench" });
  await done;
  await engine.idle();
  const elapsed = performance.now() - start;
  const row = engine.db.prepare("SELECT length(snapshot) AS s FROM instances WHERE id = ?").get(id) as {
    s: number;
  };
  const history = engine.db
    .prepare("SELECT avg(length(record)) AS h FROM history WHERE instance = ?")
    .get(id) as { h: number };
  const tasks = engine.db.prepare("SELECT avg(length(task)) AS t FROM tasks WHERE instance = ?").get(id) as {
    t: number;
  };
  await engine.close();
  return {
    rate: (STEPS * 1000) / elapsed,
    stateBytes: row.s,
    historyBytes: Math.round(history.h),
    taskBytes: Math.round(tasks.t),
  };
}

function floorRate(dir: string, { stateBytes, historyBytes, taskBytes }: Sizes): number {
  const db: Database.Database = openDatabase(join(dir, "floor.sqlite"));
  db.prepare(
    "INSERT INTO instances (id, process, status, version, snapshot, outbox, definition, created_at, updated_at) VALUES ('f', 'p', 'running', 1, '', '[]', 'd', 0, 0)",
  ).run();
  const update = db.prepare("UPDATE instances SET snapshot = ?, version = version + 1 WHERE id = 'f'");
  const history = db.prepare("INSERT INTO history (instance, seq, at, record) VALUES ('f', ?, 0, ?)");
  const task = db.prepare(
    "INSERT INTO tasks (id, instance, participant, task, state, created_at) VALUES (?, 'f', 'work', ?, 'open', 0)",
  );
  const state = "s".repeat(stateBytes);
  const record = "h".repeat(historyBytes);
  const taskText = "t".repeat(taskBytes);
  const step = db.transaction((seq: number) => {
    update.run(state);
    history.run(seq, record);
    task.run(String(seq), taskText);
  });
  const start = performance.now();
  for (let seq = 1; seq <= STEPS; seq++) step(seq);
  const elapsed = performance.now() - start;
  db.close();
  return (STEPS * 1000) / elapsed;
}

export async function benchEmbedded(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "docket-bench-"));
  try {
    const engine = await engineRate(dir);
    const floor = floorRate(dir, engine);
    const ratio = engine.rate / floor;
    console.log(
      `durable steps (${STEPS}; per step: state ${engine.stateBytes} B, history ${engine.historyBytes} B, task ${engine.taskBytes} B)\n${"".padEnd(34)} ` +
        `docket ${formatRate(engine.rate)}  raw better-sqlite3 ${formatRate(floor)}  ${(ratio * 100).toFixed(0)}% of the floor`,
    );
    return ratio;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchEmbedded();

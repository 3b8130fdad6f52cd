/**
 * WAL checkpoints off the engine's thread. SQLite, left to itself, checkpoints in the commit that
 * takes the write-ahead log past its threshold (wal_autocheckpoint): that one commit copies
 * thousands of pages into the database file and syncs it while the engine waits. Measured on the
 * embedded engine such commits were a quarter to two fifths of all its time, more the larger the
 * database (the pages a step touches spread over more of the file, so more of them to write).
 *
 * Here a worker thread, on a connection of its own, copies the log into the file as it grows
 * (PASSIVE: it waits for no writer and no reader), and once the log holds RESTART_FRAMES it
 * finishes the job (RESTART: what the last copy left, a sync, and the log started over at the
 * engine's next write). RESTART needs a moment with no write transaction open, which a busy engine
 * seldom leaves by chance; so the worker asks for one (a flag in shared memory) and the engine's
 * writer, between two transactions, pauses for it (gap()) without blocking its thread.
 *
 * The engine's connection keeps its own threshold, above this one, as a backstop: should the
 * worker fall behind or stop, the engine's commit checkpoints as before, so the log stays bounded.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { Db } from "./database.js";
import { ENGINE_CHECKPOINT_PAGES } from "./database.js";

/**
 * How often the worker copies the log into the file (ms). Each copy syncs the file; every 10 ms
 * cost the engine under load a tenth of its steps (bench/embedded.ts: 70% of the floor, against
 * 81% to 86% at 50 ms), for no gain in routing's flatness.
 */
const EVERY_MS = 50;
/**
 * The log's length (pages, ~32 MB) at which the worker starts it over: half the engine's own
 * threshold. Each restart pauses the writer for what it wrote since the last copy (a few ms at
 * 100,000 instances, where those pages are all over the file), so the longer the log, the fewer.
 */
const RESTART_FRAMES = ENGINE_CHECKPOINT_PAGES / 2;
/** The longest the writer holds off for a restart (ms): a worker stuck on a stalled disk does not stop it. */
const GAP_MS = 1000;
/** How long the worker waits for the writer to pause (ms): an idle writer never answers, and need not. */
const PAUSE_WAIT_MS = 20;
/** How long the worker leaves the log before trying again, when a reader kept it from a restart (ms). */
const BACKOFF_MS = 1000;
/**
 * The shared flag: nothing asked; the worker wants a gap; the writer has paused for it (and waits
 * for the flag to leave this value).
 */
const IDLE = 0;
const WANTS_GAP = 1;
const PAUSED = 2;

// Plain CommonJS evaluated in the worker: it needs no TypeScript loader, in development or built.
// The restart's work is to copy what the writer wrote since the copy just before and to sync the
// file; the writer pauses only for that. Its connection never waits on a lock (timeout 0): a reader
// on the log (another process, a backup) makes the restart give up at once and let go of the write
// lock it took, rather than hold the engine's writes off while it waits, and it is tried again after
// BACKOFF_MS; the engine's own threshold bounds the log meanwhile. A restart leaves the log's
// length as it was until the next write starts it over, so the same length is not restarted twice.
// The worker syncs the file after each copy itself, so the restart finds little left to sync
// (measured at 100,000 instances: pauses of about 10 ms, against 25 ms).
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path, { timeout: 0 });
const flag = new Int32Array(workerData.flag);
const fs = require("node:fs");
const file = fs.openSync(workerData.path, "r+");
let restartedAt = -1;
let notBefore = 0;
let copiedBefore = 0;
const restart = (log) => {
  Atomics.store(flag, 0, ${WANTS_GAP});
  Atomics.wait(flag, 0, ${WANTS_GAP}, ${PAUSE_WAIT_MS});
  try {
    const [done] = db.pragma("wal_checkpoint(RESTART)");
    if (done.busy) notBefore = Date.now() + ${BACKOFF_MS};
    else restartedAt = log;
  } catch (error) {
    if (error.code !== "SQLITE_BUSY") throw error;
    notBefore = Date.now() + ${BACKOFF_MS};
  } finally {
    Atomics.store(flag, 0, ${IDLE});
    Atomics.notify(flag, 0);
  }
};
const checkpoint = () => {
  try {
    const [copied] = db.pragma("wal_checkpoint(PASSIVE)");
    const { log, checkpointed } = copied;
    // SQLite syncs the file only after a copy that reached the log's end, which under steady writes
    // none does: the pages would wait for the restart's sync, with the writer paused.
    if (checkpointed !== copiedBefore) fs.fdatasyncSync(file);
    copiedBefore = checkpointed;
    if (log >= workerData.restartFrames && log !== restartedAt && Date.now() >= notBefore) restart(log);
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message ? error.message : error) });
  }
};
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on("message", () => {
  clearInterval(timer);
  fs.closeSync(file);
  db.close();
  parentPort.close();
});
`;

/** Atomics.waitAsync (Node 16+), which TypeScript's ES2022 library does not declare. */
const atomics = Atomics as unknown as {
  waitAsync(
    array: Int32Array,
    index: number,
    value: number,
    timeout: number,
  ): { async: true; value: Promise<string> } | { async: false; value: string };
};

export interface Checkpointer {
  /**
   * Between two of the engine's transactions: a promise to wait on when the worker is about to
   * start the log over (settled when it has, or after GAP_MS), else undefined.
   */
  gap(): Promise<unknown> | undefined;
  /** Stops the worker. */
  stop(): Promise<void>;
}

/**
 * Copies `db`'s log into its file on a worker thread from now on (every `everyMs`), and starts it
 * over once it holds `restartFrames` pages; `log` hears of failures (each tried again, and the
 * engine's own checkpoints go on regardless). An in-memory database has no log: nothing is started.
 */
export function startCheckpointer(
  db: Db,
  log: (line: string) => void,
  { restartFrames = RESTART_FRAMES, everyMs = EVERY_MS } = {},
): Checkpointer {
  if (db.memory) return { gap: () => undefined, stop: async () => {} };
  const path = db.name;
  const driver = createRequire(import.meta.url).resolve("better-sqlite3");
  const shared = new SharedArrayBuffer(4);
  const flag = new Int32Array(shared);
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { path, driver, everyMs, restartFrames, flag: shared },
  });
  worker.on("message", (message: { error?: string }) => {
    if (message.error) log(`checkpoint of ${path} failed (tried again): ${message.error}`);
  });
  worker.on("error", (error) => log(`the checkpoint worker of ${path} stopped: ${error.message}`));
  let gone = false;
  const exited = new Promise<void>((resolve) =>
    worker.once("exit", () => {
      // A worker that ended while it asked for a gap: the writer waits for it no longer.
      gone = true;
      Atomics.store(flag, 0, IDLE);
      Atomics.notify(flag, 0);
      resolve();
    }),
  );
  // It must not keep a process alive that has nothing else to do (after the listeners, which
  // would reference it again).
  worker.unref();
  return {
    gap() {
      if (gone || Atomics.compareExchange(flag, 0, WANTS_GAP, PAUSED) !== WANTS_GAP) return undefined;
      Atomics.notify(flag, 0);
      const waited = atomics.waitAsync(flag, 0, PAUSED, GAP_MS);
      if (!waited.async) return undefined;
      // A wait on shared memory does not keep the process alive; the write waiting on it must.
      const hold = setTimeout(() => {}, GAP_MS);
      return waited.value.finally(() => clearTimeout(hold));
    },
    async stop() {
      // Held by it until it has exited: an unreferenced worker would let the process end first.
      worker.ref();
      worker.postMessage("stop");
      await exited;
    },
  };
}

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

/** How often the worker copies the log into the file (ms). */
const EVERY_MS = 10;
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
/**
 * The shared flag: nothing asked; the worker wants a gap; the writer has paused for it (and waits
 * for the flag to leave this value).
 */
const IDLE = 0;
const WANTS_GAP = 1;
const PAUSED = 2;

// Plain CommonJS evaluated in the worker: it needs no TypeScript loader, in development or built.
// The restart's work is to copy what the writer wrote since the copy just before and to sync the
// file; the writer pauses only for that.
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path);
const flag = new Int32Array(workerData.flag);
const restart = () => {
  Atomics.store(flag, 0, ${WANTS_GAP});
  Atomics.wait(flag, 0, ${WANTS_GAP}, ${PAUSE_WAIT_MS});
  try {
    db.pragma("wal_checkpoint(RESTART)");
  } finally {
    Atomics.store(flag, 0, ${IDLE});
    Atomics.notify(flag, 0);
  }
};
const checkpoint = () => {
  try {
    const [copied] = db.pragma("wal_checkpoint(PASSIVE)");
    if (copied.log >= workerData.restartFrames) restart();
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message ? error.message : error) });
  }
};
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on("message", () => {
  clearInterval(timer);
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
 * Copies `db`'s log into its file on a worker thread from now on, and starts it over once it holds
 * `restartFrames` pages; `log` hears of failures (each tried again, and the engine's own
 * checkpoints go on regardless). An in-memory database has no log: nothing is started.
 */
export function startCheckpointer(
  db: Db,
  log: (line: string) => void,
  restartFrames = RESTART_FRAMES,
): Checkpointer {
  if (db.memory) return { gap: () => undefined, stop: async () => {} };
  const path = db.name;
  const driver = createRequire(import.meta.url).resolve("better-sqlite3");
  const shared = new SharedArrayBuffer(4);
  const flag = new Int32Array(shared);
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { path, driver, everyMs: EVERY_MS, restartFrames, flag: shared },
  });
  // It must not keep a process alive that has nothing else to do.
  worker.unref();
  worker.on("message", (message: { error?: string }) => {
    if (message.error) log(`checkpoint of ${path} failed (tried again): ${message.error}`);
  });
  worker.on("error", (error) => log(`the checkpoint worker of ${path} stopped: ${error.message}`));
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  return {
    gap() {
      if (Atomics.compareExchange(flag, 0, WANTS_GAP, PAUSED) !== WANTS_GAP) return undefined;
      Atomics.notify(flag, 0);
      const waited = atomics.waitAsync(flag, 0, PAUSED, GAP_MS);
      return waited.async ? waited.value : undefined;
    },
    async stop() {
      // Held by it until it has exited: an unreferenced worker would let the process end first.
      worker.ref();
      worker.postMessage("stop");
      await exited;
    },
  };
}

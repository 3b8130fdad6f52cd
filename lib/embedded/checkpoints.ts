/**
 * WAL checkpoints mostly off the engine's thread. SQLite, left to itself, checkpoints in the commit
 * that takes the write-ahead log past its threshold (wal_autocheckpoint): that one commit copies
 * thousands of pages into the database file while the engine waits, and measured on the embedded
 * engine such commits were a quarter to two fifths of all its time, more the larger the database
 * (the pages a step touches spread over more of the file).
 *
 * Here a worker thread, on a connection of its own, copies the log into the file as it grows
 * (PASSIVE: it waits for no writer and no reader). The engine's connection keeps its threshold: the
 * checkpoint its commit still runs there finds the log copied already, and only starts the log over
 * (which SQLite does only from a writer), so the log stays bounded as before.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { Db } from "./database.js";

/** How often the worker copies the log into the file (ms). */
const EVERY_MS = 50;

// Plain CommonJS evaluated in the worker: it needs no TypeScript loader, in development or built.
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path);
const checkpoint = () => {
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
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

export interface Checkpointer {
  /** Stops the worker. */
  stop(): Promise<void>;
}

/**
 * Copies `db`'s log into its file on a worker thread from now on; `log` hears of failures (each
 * tried again, and the engine's own checkpoints go on regardless). An in-memory database has no
 * log: nothing is started.
 */
export function startCheckpointer(db: Db, log: (line: string) => void): Checkpointer {
  if (db.memory) return { stop: async () => {} };
  const path = db.name;
  const driver = createRequire(import.meta.url).resolve("better-sqlite3");
  const worker = new Worker(WORKER, { eval: true, workerData: { path, driver, everyMs: EVERY_MS } });
  // It must not keep a process alive that has nothing else to do.
  worker.unref();
  worker.on("message", (message: { error?: string }) => {
    if (message.error) log(`checkpoint of ${path} failed (tried again): ${message.error}`);
  });
  worker.on("error", (error) => log(`the checkpoint worker of ${path} stopped: ${error.message}`));
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  return {
    async stop() {
      // Held by it until it has exited: an unreferenced worker would let the process end first.
      worker.ref();
      worker.postMessage("stop");
      await exited;
    },
  };
}

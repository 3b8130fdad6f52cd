/**
 * The checkpoint worker (lib/embedded/checkpoints.ts): it copies the write-ahead log into the
 * database file while the engine's connection, which would otherwise do it in a commit, does not,
 * and starts the log over once it is long, so that the engine's commits need not.
 */
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { startCheckpointer } from "../../lib/embedded/checkpoints.js";
import { openDatabase } from "../../lib/embedded/database.js";
import { until } from "./helpers.js";

/**
 * A file database whose own connection never checkpoints, with 2 MB of rows written through the
 * log; `commit` writes ten rows of about a page each in a transaction of their own, and `copied`
 * waits until the worker has copied the first 2 MB into the file (it is up).
 */
function written() {
  const file = join(mkdtempSync(join(tmpdir(), "docket-checkpoints-")), "db.sqlite");
  const db = openDatabase(file);
  db.pragma("wal_autocheckpoint = 0");
  db.exec("CREATE TABLE rows (n INTEGER PRIMARY KEY, text TEXT NOT NULL)");
  const fileBytes = () => statSync(file).size;
  const before = fileBytes();
  const insert = db.prepare("INSERT INTO rows (text) VALUES (?)");
  db.transaction(() => {
    for (let i = 0; i < 2000; i++) insert.run("x".repeat(1000));
  })();
  const commit = db.transaction(() => {
    for (let i = 0; i < 10; i++) insert.run("y".repeat(3000));
  });
  const copied = () => until(() => fileBytes() > before + 2_000_000 || undefined, 5000);
  return { db, fileBytes, before, commit, copied };
}

describe("the checkpoint worker", () => {
  it("copies the log into the database file beside the engine's connection", async () => {
    const { db, fileBytes, before } = written();
    const logged: string[] = [];
    const checkpointer = startCheckpointer(db, (line) => logged.push(line));
    try {
      // The rows reach the file (about 2 MB of pages) without a checkpoint on this connection.
      await until(() => fileBytes() > before + 2_000_000, 5000);
      expect((db.prepare("SELECT count(*) AS n FROM rows").get() as { n: number }).n).toBe(2000);
      expect(logged).toEqual([]);
    } finally {
      await checkpointer.stop();
      db.close();
    }
  });

  it("control: without the worker the file does not grow (the test above fails without it)", async () => {
    const { db, fileBytes, before } = written();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(fileBytes()).toBe(before);
    db.close();
  });

  it("starts the log over under steady writes, in gaps the writer leaves when asked", async () => {
    const { db, commit, copied } = written();
    // Ten pages a commit, one commit after another as the engine's writer runs them (a turn of the
    // event loop between; a pause when the worker asks): a copy that does not hold the writes off
    // never catches up with the log, and a busy writer seldom leaves a restart a moment by chance.
    const checkpointer = startCheckpointer(db, () => {}, { restartFrames: 2000, everyMs: 10 });
    try {
      await copied();
      const answers: unknown[] = [];
      let largest = 0;
      for (let i = 0; i < 4000; i++) {
        const gap = checkpointer.gap();
        if (gap) answers.push(await gap);
        commit();
        if (i % 100 === 0) largest = Math.max(largest, statSync(`${db.name}-wal`).size);
        await new Promise((resolve) => setImmediate(resolve));
      }
      // 40,000 pages written; the worker restarts the log from 2,000 (without it: all of them).
      expect(largest).toBeLessThan(12_000 * 4096);
      // Each pause ended by the worker's restart, none by the writer giving up on it.
      expect(answers.length).toBeGreaterThan(0);
      expect(answers.filter((answer) => answer !== "ok")).toEqual([]);
    } finally {
      await checkpointer.stop();
      db.close();
    }
  });

  it("gives the restart up at once while another connection reads the log, and the writer goes on", async () => {
    const { db, commit, copied } = written();
    const reader = new Database(db.name);
    const checkpointer = startCheckpointer(db, () => {}, { restartFrames: 200, everyMs: 10 });
    try {
      await copied();
      // A read held open on the log (a backup, a shell): the log cannot start over while it lasts.
      reader.exec("BEGIN");
      reader.prepare("SELECT count(*) FROM rows").get();
      let longest = 0;
      for (let i = 0; i < 300; i++) {
        const started = performance.now();
        const gap = checkpointer.gap();
        if (gap) await gap;
        commit();
        longest = Math.max(longest, performance.now() - started);
        await new Promise((resolve) => setImmediate(resolve));
      }
      // No commit waited on the worker's restart (it would wait out its busy timeout).
      expect(longest).toBeLessThan(500);
    } finally {
      reader.close();
      await checkpointer.stop();
      db.close();
    }
  });

  it("restarts a log once, not again and again while nothing is written", async () => {
    const { db, copied } = written();
    const checkpointer = startCheckpointer(db, () => {}, { restartFrames: 200, everyMs: 10 });
    try {
      await copied();
      // The log (500 pages, past the threshold) is restarted; until a write starts it over its
      // length stays what it was. A writer looking between its transactions for 300 ms:
      let gaps = 0;
      for (const started = performance.now(); performance.now() - started < 300; ) {
        const gap = checkpointer.gap();
        if (gap) {
          gaps++;
          await gap;
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      expect(gaps).toBeLessThanOrEqual(1);
    } finally {
      await checkpointer.stop();
      db.close();
    }
  });

  it("starts nothing for an in-memory database, and stops at once", async () => {
    const db = openDatabase(":memory:");
    await startCheckpointer(db, () => {}).stop();
    db.close();
  });
});

/**
 * The checkpoint worker (lib/embedded/checkpoints.ts): it copies the write-ahead log into the
 * database file while the engine's connection, which would otherwise do it in a commit, does not,
 * and starts the log over once it is long, so that the engine's commits need not.
 */
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startCheckpointer } from "../../lib/embedded/checkpoints.js";
import { openDatabase } from "../../lib/embedded/database.js";
import { until } from "./helpers.js";

/** A file database whose own connection never checkpoints, with 2 MB of rows written through the log. */
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
  return { db, fileBytes, before };
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

  it("starts the log over under steady writes: the log stays bounded with the engine's checkpoints off", async () => {
    const { db } = written();
    const insert = db.prepare("INSERT INTO rows (text) VALUES (?)");
    // About a page a row, ten rows a commit, one commit after another as the engine's writer runs
    // them (waiting for a gap when the worker asks): a copy that does not hold the writes off never
    // catches up with the log, and a busy writer seldom leaves a restart a moment by chance.
    const commit = db.transaction(() => {
      for (let i = 0; i < 10; i++) insert.run("y".repeat(3000));
    });
    const checkpointer = startCheckpointer(db, () => {}, 2000);
    try {
      let largest = 0;
      for (let i = 0; i < 4000; i++) {
        await checkpointer.gap();
        commit();
        if (i % 100 === 0) largest = Math.max(largest, statSync(`${db.name}-wal`).size);
      }
      // 40,000 pages written; the worker restarts the log from 2,000 (without it: all of them).
      expect(largest).toBeLessThan(12_000 * 4096);
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

/**
 * The embedded engine's writer (lib/embedded/writer.ts) on a real SQLite file: writes that arrive
 * together share a commit and each caller hears back only once its write is committed (read from a
 * second connection); a failing write is refused alone; a failing message among others is applied
 * alone and set aside, the rest applied once; a message being retried holds up no write; no
 * transaction opens while the checkpoint worker has asked for a gap.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Db, openDatabase } from "../../lib/embedded/database.js";
import { EmbeddedQueues, type InboxItem } from "../../lib/embedded/queues.js";
import { Writer } from "../../lib/embedded/writer.js";
import { DocketError, EngineError } from "../../lib/errors.js";
import { until } from "./helpers.js";

interface Rig {
  readonly db: Db;
  readonly reader: Db;
  readonly queues: EmbeddedQueues;
  readonly writer: Writer;
  /** COMMITs run on the writer's connection. */
  readonly commits: () => number;
  /** Messages each application was tried on (by the note in their `reason`), in order. */
  readonly tried: string[];
  /** Messages set aside, with their error. */
  readonly setAside: string[];
  /** Rows of the table `rows`, as seen from another connection: what is committed. */
  readonly committed: () => string[];
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0)) {
    await rig.writer.close();
    rig.db.close();
    rig.reader.close();
  }
});

/** What applying a message throws on its nth try (from 1), if anything: by default, `poison` ones fail for good. */
type Fails = (note: string, attempt: number) => Error | undefined;
const poison: Fails = (note) =>
  note === "poison" ? new EngineError("Poison", "a poisoned message") : undefined;

/** A writer over a file database; applying a message inserts a row named by it, or fails as `fails` says. */
function rig(
  fails: Fails = poison,
  log: (line: string) => void = (line) => {
    throw new Error(`the writer logged: ${line}`);
  },
  gap?: () => Promise<unknown> | undefined,
): Rig {
  const file = join(mkdtempSync(join(tmpdir(), "docket-writer-")), "db.sqlite");
  const db = openDatabase(file);
  db.exec("CREATE TABLE rows (name TEXT NOT NULL)");
  const reader = openDatabase(file);
  const queues = new EmbeddedQueues(db, () => 0);
  const insert = db.prepare("INSERT INTO rows (name) VALUES (?)");
  const tried: string[] = [];
  const setAside: string[] = [];
  let commits = 0;
  const exec = db.exec.bind(db);
  db.exec = (sql: string) => {
    if (sql === "COMMIT") commits++;
    return exec(sql);
  };
  const writer = new Writer({
    db,
    signals: queues,
    log,
    peek: () => queues.peek(),
    apply: async (item: InboxItem) => {
      const note = (item.message as { reason?: string }).reason ?? "";
      tried.push(note);
      insert.run(`message ${note}`);
      const failure = fails(note, tried.filter((t) => t === note).length);
      if (failure) throw failure;
      queues.ack(item.id);
    },
    failed: (item, error) => {
      const note = (item.message as { reason?: string }).reason ?? "";
      setAside.push(`${note}: ${error instanceof Error ? error.message : String(error)}`);
      if (error instanceof DocketError) {
        queues.deadLetter(item, String(error));
        return 0;
      }
      return 300;
    },
    committed: () => {},
    forget: () => {},
    idle: () => {},
    ...(gap ? { gap } : {}),
  });
  writer.start();
  const committed = () =>
    (reader.prepare("SELECT name FROM rows ORDER BY rowid").all() as { name: string }[]).map((r) => r.name);
  const made = { db, reader, queues, writer, commits: () => commits, tried, setAside, committed };
  rigs.push(made);
  return made;
}

const message = (note: string) => ({ type: "operator" as const, action: "pause" as const, reason: note });
const queue = (r: Rig, ...notes: string[]) =>
  r.writer.write(async () => {
    for (const note of notes) await r.queues.enqueue("i", message(note));
  });
const insertRow = (r: Rig, name: string) =>
  r.writer.write(async () => {
    r.db.prepare("INSERT INTO rows (name) VALUES (?)").run(name);
    return name;
  });
const settled = async (r: Rig) => {
  await r.writer.write(async () => undefined);
  await new Promise((resolve) => setTimeout(resolve, 5));
};

/** A gap asked for once (as the checkpoint worker asks), held until `end` is called. */
function oneGap() {
  let end: (() => void) | undefined;
  let asked = false;
  const gap = () => {
    if (asked) return undefined;
    asked = true;
    return new Promise<void>((resolve) => {
      end = resolve;
    });
  };
  return { gap, waiting: () => end };
}

describe("the embedded writer", () => {
  it("opens no transaction while a gap is asked for, and commits the write once it is over", async () => {
    const { gap, waiting } = oneGap();
    const r = rig(poison, undefined, gap);
    const written = insertRow(r, "after the gap");
    const end = await until(waiting);
    expect([r.db.inTransaction, r.commits()]).toEqual([false, 0]);
    end();
    await written;
    expect(r.committed()).toEqual(["after the gap"]);
  });

  it("refuses a write that waited on a gap when the engine closed meanwhile", async () => {
    const { gap, waiting } = oneGap();
    const r = rig(poison, undefined, gap);
    const written = insertRow(r, "never");
    const end = await until(waiting);
    const closed = r.writer.close();
    end();
    await closed;
    await expect(written).rejects.toThrow(/closed before the write was committed/);
    expect(r.committed()).toEqual([]);
  });

  it("commits the writes that arrive together once, and tells each caller only after its commit", async () => {
    const r = rig();
    const names = Array.from({ length: 20 }, (_, i) => `write ${i}`);
    const seenAtResolve: number[] = [];
    await Promise.all(
      names.map((name) => insertRow(r, name).then(() => seenAtResolve.push(r.committed().length))),
    );
    expect(r.committed()).toEqual(names);
    expect(r.commits()).toBe(1);
    // Each caller, when told, could already read its row from another connection.
    expect(seenAtResolve.every((n) => n === names.length)).toBe(true);
  });

  it("refuses a failing write to its caller alone: nothing of it stays, the writes around it commit", async () => {
    const r = rig();
    const failing = r.writer.write(async () => {
      r.db.prepare("INSERT INTO rows (name) VALUES ('half of a write')").run();
      throw new EngineError("bad", "a refused write");
    });
    const around = [insertRow(r, "before"), failing, insertRow(r, "after")];
    const outcomes = await Promise.allSettled(around);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(EngineError);
    expect(r.committed().sort()).toEqual(["after", "before"]);
  });

  it("runs a write's other way when its first fails, with what the first wrote and signalled undone", async () => {
    const r = rig();
    const told: string[] = [];
    r.queues.on("timers", () => told.push("timers"));
    const before = insertRow(r, "before");
    const tried = r.writer.write(
      async () => {
        r.db.prepare("INSERT INTO rows (name) VALUES ('first way')").run();
        await r.queues.startTimer({ timer: "t", instance: "i", node: "n", due: 1 });
        throw new EngineError("bad", "the first way failed");
      },
      async () => {
        r.db.prepare("INSERT INTO rows (name) VALUES ('other way')").run();
        return "other";
      },
    );
    const outcomes = await Promise.allSettled([before, tried, insertRow(r, "after")]);
    expect(outcomes.map((o) => (o.status === "fulfilled" ? o.value : o.reason))).toEqual([
      "before",
      "other",
      "after",
    ]);
    expect(r.committed()).toEqual(["before", "other way", "after"]);
    expect(r.reader.prepare("SELECT count(*) AS n FROM timers").get()).toEqual({ n: 0 });
    expect(told).toEqual([]);
    // Both ways failing refuse the write, nothing of either kept.
    const neither = r.writer.write(
      async () => {
        r.db.prepare("INSERT INTO rows (name) VALUES ('first again')").run();
        throw new EngineError("bad", "the first way failed");
      },
      async () => {
        r.db.prepare("INSERT INTO rows (name) VALUES ('other again')").run();
        throw new EngineError("bad", "the other way failed too");
      },
    );
    await expect(neither).rejects.toThrow("the other way failed too");
    expect(r.committed()).toEqual(["before", "other way", "after"]);
  });

  it("undoes a message that fails among others alone and sets it aside; the others apply once", async () => {
    const r = rig();
    await queue(r, "a", "b", "poison", "c");
    await settled(r);
    expect(r.setAside).toEqual(["poison: a poisoned message"]);
    expect(r.committed()).toEqual(["message a", "message b", "message c"]);
    expect(r.tried).toEqual(["a", "b", "poison", "c"]);
    expect(r.queues.queued).toBe(false);
  });

  it("tells listeners what a step signalled only once committed, and nothing of a step undone", async () => {
    const r = rig();
    const told: string[] = [];
    // What the write did is committed when the signal is told: message "a" is queued, or already
    // applied if the same transaction took it (which it does unless its 10 ms ran out first).
    const seen = () =>
      r.committed().includes("message a") ||
      (r.reader.prepare("SELECT message FROM inbox").all() as { message: string }[]).some((row) =>
        row.message.includes('"a"'),
      );
    r.queues.on("inbox", () => told.push(`inbox, committed: ${seen()}`));
    await r.writer.write(async () => {
      await r.queues.enqueue("i", message("a"));
      expect(told).toEqual([]);
    });
    const failing = r.writer.write(async () => {
      await r.queues.enqueue("i", message("never"));
      throw new EngineError("Refused", "a refused write");
    });
    await expect(failing).rejects.toThrow("a refused write");
    await settled(r);
    // One signal, for the message committed; none for the refused write's.
    expect(told).toEqual(["inbox, committed: true"]);
  });

  it("tells every listener though one throws, and still tells the caller its write is committed", async () => {
    const logged: string[] = [];
    const r = rig(poison, (line) => logged.push(line));
    const heard: string[] = [];
    r.queues.on("inbox", () => {
      throw new Error("a listener's bug");
    });
    r.queues.on("timers", () => heard.push("timers"));
    await r.writer.write(async () => {
      await r.queues.enqueue("i", message("a"));
      await r.queues.startTimer({ timer: "t", instance: "i", node: "n", due: 1 });
    });
    expect(heard).toEqual(["timers"]);
    expect(logged).toEqual(["a listener failed: a listener's bug"]);
  });

  it("retries a message failing on the machinery later, while writes go on committing", async () => {
    const r = rig((note, attempt) =>
      note === "flaky" && attempt === 1 ? new Error("the disk is busy") : undefined,
    );
    await queue(r, "flaky");
    expect(r.setAside).toEqual(["flaky: the disk is busy"]);
    // It waits 300 ms before it is tried again: a write meanwhile commits without it.
    await insertRow(r, "meanwhile");
    expect(r.committed()).toEqual(["meanwhile"]);
    await until(() => r.committed().includes("message flaky"));
    expect(r.tried).toEqual(["flaky", "flaky"]);
    expect(r.queues.queued).toBe(false);
  });

  it("refuses a write whose failure made SQLite roll the whole transaction back, and goes on", async () => {
    const r = rig(poison, () => undefined);
    const lost = insertRow(r, "undone with the transaction");
    // As SQLite does by itself after some failures (a full disk): the transaction is gone.
    const failing = r.writer.write(async () => {
      r.db.exec("ROLLBACK");
      throw new Error("the disk is full");
    });
    await expect(failing).rejects.toThrow("the disk is full");
    await expect(lost).rejects.toThrow();
    await insertRow(r, "later");
    expect(r.committed()).toEqual(["later"]);
  });

  it("refuses a write once closed", async () => {
    const r = rig();
    await r.writer.close();
    await expect(insertRow(r, "late")).rejects.toThrow(/closed/);
  });
});

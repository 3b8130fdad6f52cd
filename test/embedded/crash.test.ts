/**
 * Kill the engine mid-flight (SIGKILL at random points, many times) and restart it: every instance
 * ends as in an uninterrupted run, and no task is dispatched twice for one attempt.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const WORKER = "test/fixtures/crash/worker.ts";
const INSTANCES = 4;

function startWorker(database: string): {
  child: ChildProcess;
  ready: Promise<void>;
  exit: Promise<number | null>;
} {
  const child = spawn(process.execPath, ["--import", "tsx", WORKER, database, String(INSTANCES)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ready = new Promise<void>((resolve) =>
    child.stdout?.on("data", (d: Buffer) => d.toString().includes("ready") && resolve()),
  );
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, ready, exit };
}

/** Runs the worker to completion, killing it after each delay in `kills` (ms after it is ready). */
async function runWithKills(database: string, kills: readonly number[]): Promise<number> {
  let killed = 0;
  for (const delay of kills) {
    const worker = startWorker(database);
    await Promise.race([worker.ready, worker.exit]);
    const finished = await Promise.race([
      worker.exit.then(() => true),
      new Promise((r) => setTimeout(() => r(false), delay)),
    ]);
    if (finished) return killed;
    worker.child.kill("SIGKILL");
    await worker.exit;
    killed++;
  }
  const last = startWorker(database);
  await Promise.race([last.ready, last.exit]);
  const started = performance.now();
  expect(await last.exit).toBe(0);
  lastRunMs = performance.now() - started;
  return killed;
}

/** How long the last worker ran from ready to exit: the uninterrupted run's is the time kills have to land in. */
let lastRunMs = 0;

function outcome(database: string) {
  const db = new Database(database, { readonly: true });
  const instances = db
    .prepare(
      "SELECT id, status, snapshot FROM instances WHERE id LIKE 'crash-%' AND id NOT LIKE '%~%' ORDER BY id",
    )
    .all() as { id: string; status: string; snapshot: string }[];
  const history = db.prepare("SELECT record FROM history").all() as { record: string }[];
  db.close();
  const dispatched = history.flatMap((h) =>
    (JSON.parse(h.record).commands as { type: string; task?: { id: string } }[])
      .filter((c) => c.type === "task")
      .map((c) => c.task?.id),
  );
  const contexts = instances.map((i) => ({
    id: i.id,
    status: i.status,
    context: (JSON.parse(i.snapshot).scopes as [string, unknown][]).find(([k]) => k === "0")?.[1],
  }));
  return { contexts, dispatched };
}

describe("killing the engine anywhere", () => {
  const reference = join(mkdtempSync(join(tmpdir(), "docket-crash-")), "reference.sqlite");
  let referenceMs = 150;

  it("an uninterrupted run completes every instance", async () => {
    expect(await runWithKills(reference, [])).toBe(0);
    referenceMs = lastRunMs;
    const { contexts } = outcome(reference);
    expect(contexts).toHaveLength(INSTANCES);
    for (const c of contexts)
      expect(c).toMatchObject({
        status: "completed",
        context: { count: 2, child_result: true, left_0_1_0: true, right_0_1_1_1: true },
      });
  });

  it("after SIGKILLs at random points every instance ends as uninterrupted, with no task sent twice", async () => {
    let kills = 0;
    await fc.assert(
      fc.asyncProperty(
        // Within the first half of an uninterrupted run, so a kill lands mid-flight however fast
        // this machine is (a fixed 0–150 ms missed the whole run on a quick one).
        fc.array(fc.integer({ min: 0, max: Math.max(1, Math.floor(referenceMs / 2)) }), {
          minLength: 2,
          maxLength: 4,
        }),
        async (delays) => {
          const database = join(mkdtempSync(join(tmpdir(), "docket-crash-")), "crashed.sqlite");
          kills += await runWithKills(database, delays);
          const crashed = outcome(database);
          expect(crashed.contexts).toEqual(outcome(reference).contexts);
          expect(new Set(crashed.dispatched).size).toBe(crashed.dispatched.length);
        },
      ),
      { numRuns: 4 },
    );
    // The kills must land mid-flight, or the property proves nothing.
    expect(kills).toBeGreaterThanOrEqual(4);
  }, 120_000);
});

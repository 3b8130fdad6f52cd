/**
 * The worker SDK over `docket serve`'s task API (lib/worker/http.ts), against a real embedded
 * engine: concurrency, errors and critical errors, heartbeats keeping a lease, a stop in the middle
 * of a task giving it back, a redelivered task answered from the idempotency store, schemas.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { serveApi } from "../../lib/embedded/api.js";
import type { EmbeddedEngine } from "../../lib/embedded/engine.js";
import type { WireReply } from "../../lib/runtime/wire.js";
import {
  CriticalError,
  createWorker,
  type Handler,
  httpConnection,
  type Worker,
} from "../../lib/worker/index.js";
import { open, project, until } from "./helpers.js";

/** `npm run soak:workers` (DOCKET_WORKER_SOAK=1): the heartbeat test at full length. */
const FULL_SCALE = process.env.DOCKET_WORKER_SOAK === "1";
let engine: EmbeddedEngine;
let server: Server;
let url: string;
const workers: Worker[] = [];

beforeAll(async () => {
  const { config } = project({ "definitions/job.yaml": "context: { n: 0 }\ndo:\n  - action: work\n" });
  engine = await open(config, { participants: false });
  server = serveApi(engine);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
// A test that failed must not leave its workers taking the next test's tasks.
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop(0)));
});
afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await engine.close();
});

function worker(handler: Handler, extra: Partial<Parameters<typeof createWorker>[0]> = {}): Worker {
  const started = createWorker({
    participant: "work",
    handler,
    connection: httpConnection({
      url,
      participant: "work",
      leaseSeconds: extra.connection?.leaseSeconds ?? 60,
      // A stop waits for the claim in progress: short ones keep each test's stop short.
      waitSeconds: 1,
    }),
    log: () => undefined,
    ...extra,
  });
  workers.push(started);
  return started;
}

async function launch(id: string, n = 0): Promise<void> {
  await engine.launch({ process: "job", id, fields: { n } });
}

const statusOf = async (id: string) => (await engine.store.load(id))?.snapshot;
const ended = (id: string) =>
  until(async () => {
    const snapshot = await statusOf(id);
    return snapshot && snapshot.status !== "running" ? snapshot : undefined;
  }, 15_000);

describe("a worker over docket serve", () => {
  it("runs up to `concurrency` tasks at once and answers each with the handler's fields", async () => {
    let running = 0;
    let peak = 0;
    // Each task holds until three run at once (or 5 s pass): the peak is the limit, however the
    // tasks arrive, and a worker over its limit would show more.
    let three: () => void = () => undefined;
    const threeRunning = new Promise<void>((resolve) => {
      three = resolve;
    });
    const w = worker(
      async (task) => {
        running++;
        peak = Math.max(peak, running);
        if (running === 3) three();
        await Promise.race([threeRunning, new Promise((resolve) => setTimeout(resolve, 5000))]);
        running--;
        return { n: (task.fields.n as number) + 1 };
      },
      { concurrency: 3 },
    );
    const ids = Array.from({ length: 7 }, (_, i) => `c-${i}`);
    for (const [i, id] of ids.entries()) await launch(id, i);
    for (const [i, id] of ids.entries()) {
      const snapshot = await ended(id);
      expect([snapshot.status, snapshot.scopes[0]?.[1].n]).toEqual(["completed", i + 1]);
    }
    expect(peak).toBe(3);
    await w.stop();
  });

  it("answers a thrown Error as an error reply and a CriticalError as a fault", async () => {
    const w = worker(async (task) => {
      if (task.instance === "e-critical") throw new CriticalError("OutOfStock", "none left");
      throw new Error("the printer is on fire");
    });
    await launch("e-error");
    await launch("e-critical");
    const errored = await ended("e-error");
    expect(errored.status).toBe("suspended");
    expect(errored.incidents[0]?.error).toEqual({ code: "Error", message: "the printer is on fire" });
    expect((await ended("e-critical")).fault).toMatchObject({ code: "OutOfStock", message: "none left" });
    await w.stop();
  });

  it("keeps a task past its lease with heartbeats, so no other worker runs it", async () => {
    // 2.4 s against a 1 s lease; `npm run soak`: 3 minutes against 1 minute, a heartbeat every 15 s.
    const { lease, beats, every } = FULL_SCALE
      ? { lease: 60, beats: 12, every: 15_000 }
      : { lease: 1, beats: 6, every: 400 };
    const runs: string[] = [];
    const slow = async (task: Parameters<Handler>[0]) => {
      runs.push(task.id);
      for (let i = 0; i < beats; i++) {
        await new Promise((resolve) => setTimeout(resolve, every));
        await task.heartbeat();
      }
      return { n: 1 };
    };
    const first = worker(slow, {
      connection: httpConnection({ url, participant: "work", leaseSeconds: lease, waitSeconds: 1 }),
    });
    await launch("h-1");
    await until(() => runs.length === 1 || undefined);
    const second = worker(slow, {
      connection: httpConnection({ url, participant: "work", leaseSeconds: lease, waitSeconds: 1 }),
    });
    const snapshot = await until(
      async () => {
        const loaded = await statusOf("h-1");
        return loaded && loaded.status !== "running" ? loaded : undefined;
      },
      beats * every + 15_000,
    );
    expect(snapshot.status).toBe("completed");
    expect(runs).toEqual(["h-1/0.0/1"]);
    await Promise.all([first.stop(), second.stop()]);
  }, 300_000);

  it("gives back the task it holds when stopped, and another worker answers it", async () => {
    let release: () => void = () => undefined;
    const stuck = worker(async (task) => {
      await new Promise<void>((resolve) => {
        release = resolve;
        task.signal.addEventListener("abort", () => resolve());
      });
      return { n: -1 };
    });
    await launch("s-1");
    await until(async () => (await engine.queues.taskState("s-1/0.0/1")) === "open" || undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await stuck.stop(50);
    release();
    const after = worker(async () => ({ n: 2 }));
    const snapshot = await ended("s-1");
    expect([snapshot.status, snapshot.scopes[0]?.[1].n]).toEqual(["completed", 2]);
    await after.stop();
  });

  it("answers a redelivered task from the idempotency store without running the handler", async () => {
    const replies = new Map<string, WireReply>();
    const calls: string[] = [];
    const store = {
      get: async (task: string) => replies.get(task),
      put: async (task: string, reply: WireReply) => {
        if (!replies.has(task)) replies.set(task, reply);
        return replies.get(task) as WireReply;
      },
    };
    replies.set("i-1/0.0/1", {
      task: { id: "i-1/0.0/1", instance: "i-1", node: "0.0", participant: "work", attempt: 1 },
      status: "done",
      fields: { n: 42 },
    });
    const w = worker(
      async (task) => {
        calls.push(task.id);
        return { n: 7 };
      },
      { idempotency: store },
    );
    await launch("i-1");
    await launch("i-2");
    expect((await ended("i-1")).scopes[0]?.[1].n).toBe(42);
    expect((await ended("i-2")).scopes[0]?.[1].n).toBe(7);
    expect(calls).toEqual(["i-2/0.0/1"]);
    expect(replies.get("i-2/0.0/1")).toMatchObject({ status: "done", fields: { n: 7 } });
    await w.stop();
  });

  it("answers fields that break the input schema critical, never calling the handler; a bad result is an error", async () => {
    const calls: string[] = [];
    const w = worker(
      async (task) => {
        calls.push(task.instance);
        return { n: task.fields.n === 1 ? "one" : 2 };
      },
      {
        schemas: {
          // A JSON Schema for what it takes, a Standard Schema validator (as Zod or Valibot give) for what it gives.
          input: { type: "object", required: ["n"], properties: { n: { type: "number", minimum: 0 } } },
          output: {
            "~standard": {
              version: 1,
              validate: (value: unknown) =>
                typeof (value as { n?: unknown }).n === "number"
                  ? { value }
                  : {
                      issues: [
                        {
                          message: `must be a number, got ${JSON.stringify((value as { n?: unknown }).n)}`,
                          path: ["n"],
                        },
                      ],
                    },
            },
          },
        },
      },
    );
    await launch("v-bad", -5);
    await launch("v-result", 1);
    expect((await ended("v-bad")).fault).toMatchObject({
      code: "BadFields",
      message: "the task's fields: /n must be >= 0",
    });
    expect((await ended("v-result")).incidents[0]?.error).toMatchObject({
      code: "BadResult",
      message: 'the handler\'s fields: n: must be a number, got "one"',
    });
    expect(calls).toEqual(["v-result"]);
    await w.stop();
  });

  it("docket worker runs a module's handler until SIGTERM, then exits 0", async () => {
    const dir = mkdtempSync(join(tmpdir(), "docket-worker-"));
    writeFileSync(
      join(dir, "work.ts"),
      "export default async (task: { fields: { n: number } }) => ({ n: task.fields.n * 10 });\n",
    );
    const child = spawn(
      process.execPath,
      ["bin/docket.js", "worker", join(dir, "work.ts"), "--participant", "work", "--url", url, "--poll", "1"],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let log = "";
    child.stderr.on("data", (chunk) => {
      log += chunk;
    });
    await launch("cli-1", 4);
    const snapshot = await ended("cli-1").catch((error: Error) => {
      throw new Error(`${error.message}; the worker said: ${log}`);
    });
    expect([snapshot.status, snapshot.scopes[0]?.[1].n]).toEqual(["completed", 40]);
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    // It stops once its poll in progress (--poll 1) is over, not after a default 20 s one.
    const late = new Promise((resolve) => setTimeout(() => resolve("still running"), 5000));
    expect(await Promise.race([exited, late])).toBe(0);
    expect(log).toMatch(/docket worker work: .*up to 1 at once/);
  }, 60_000);

  it("refuses a lease its connection cannot hold, naming the limit (it would fail every claim)", () => {
    expect(() => httpConnection({ url, participant: "work", leaseSeconds: 7200 })).toThrow(
      "a lease must be a whole number of seconds from 1 to 3600 (docket serve leases a task for at most 3600 s), got 7200",
    );
    const dir = mkdtempSync(join(tmpdir(), "docket-worker-"));
    writeFileSync(join(dir, "work.mjs"), "export default async () => ({});\n");
    const args = [
      "bin/docket.js",
      "worker",
      join(dir, "work.mjs"),
      "--participant",
      "work",
      "--url",
      url,
      "--lease",
      "7200",
    ];
    const run = spawnSync(process.execPath, args, { encoding: "utf8" });
    expect([run.status, run.stderr]).toEqual([2, expect.stringContaining("from 1 to 3600")]);
  });
});

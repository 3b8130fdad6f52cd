/**
 * Heartbeats as the engine hears them, over `docket serve` (lib/worker/http.ts): an action with
 * `heartbeat` kept alive by a worker that beats, and timed out when it goes silent; a reply too
 * large for its connection; `docket worker` stopped by SIGTERM in the middle of a task.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { serveApi } from "../../lib/embedded/api.js";
import type { EmbeddedEngine } from "../../lib/embedded/engine.js";
import { createWorker, type Handler, httpConnection, type Worker } from "../../lib/worker/index.js";
import { open, project, until } from "./helpers.js";

let engine: EmbeddedEngine;
let server: Server;
let url: string;
const workers: Worker[] = [];

beforeAll(async () => {
  const { config } = project({
    "definitions/beat.yaml": "do:\n  - action: { participant: work, heartbeat: PT1S }\n",
    "definitions/big.yaml": "do:\n  - action: work\n",
  });
  engine = await open(config, { participants: false });
  server = serveApi(engine);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop(0)));
});
afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await engine.close();
});

function worker(handler: Handler): Worker {
  const connection = httpConnection({ url, participant: "work", leaseSeconds: 60, waitSeconds: 1 });
  const started = createWorker({ participant: "work", handler, connection, log: () => undefined });
  workers.push(started);
  return started;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ended = (id: string) =>
  until(async () => {
    const snapshot = (await engine.store.load(id))?.snapshot;
    return snapshot && snapshot.status !== "running" ? snapshot : undefined;
  }, 15_000);

async function activeTask(id: string): Promise<Record<string, unknown> | undefined> {
  const response = await fetch(`${url}/instances/${id}`);
  const view = (await response.json()) as { active: Record<string, unknown>[] };
  return view.active.find((node) => node.state === "action");
}

describe("heartbeats the engine hears", () => {
  it("keeps a task alive three times its heartbeat while the worker beats, showing its details", async () => {
    let seen: Record<string, unknown> | undefined;
    worker(async (task) => {
      expect(task.heartbeatSeconds).toBe(1);
      for (let i = 1; i <= 15; i++) {
        await sleep(200);
        await task.heartbeat({ done: i });
        if (i === 10)
          seen = await until(async () => {
            const active = await activeTask(task.instance);
            return active?.details === undefined ? undefined : active;
          });
      }
      return { crunched: true };
    });
    await engine.launch({ process: "beat", id: "alive-1" });
    const snapshot = await ended("alive-1");
    expect([snapshot.status, snapshot.fault]).toEqual(["completed", undefined]);
    expect(seen).toMatchObject({ task: "alive-1/0.0/1", wait: "reply", heardAt: expect.any(Number) });
    expect((seen?.details as { done: number } | undefined)?.done).toBeGreaterThanOrEqual(1);
  });

  it("times a task out when its worker goes silent for its heartbeat, and ignores the late reply", async () => {
    let answered = false;
    worker(async (task) => {
      await task.heartbeat({ started: true });
      await sleep(2500);
      answered = true;
      return { crunched: true };
    });
    await engine.launch({ process: "beat", id: "silent-1" });
    const snapshot = await ended("silent-1");
    expect(snapshot.status).toBe("faulted");
    expect(snapshot.fault).toMatchObject({ code: "Timeout", node: "0.0" });
    expect(snapshot.fault?.message).toMatch(/sent no heartbeat for 1 s \(none since the last one\)/);
    await until(() => answered || undefined);
    await sleep(300);
    expect((await engine.store.load("silent-1"))?.snapshot.status).toBe("faulted");
  });

  it("answers a reply too large for docket serve as an error, so the instance hears of it", async () => {
    worker(async () => ({ blob: "x".repeat(1100 * 1024) }));
    await engine.launch({ process: "big", id: "big-1" });
    const incident = await until(async () => (await engine.store.load("big-1"))?.snapshot.incidents[0]);
    expect(incident.error.code).toBe("ReplyTooLarge");
    expect(incident.error.message).toMatch(/the reply is \d+ bytes, over the 1048576/);
  });

  it("docket worker, sent SIGTERM in the middle of a task, finishes it and exits 0", async () => {
    const dir = mkdtempSync(join(tmpdir(), "docket-worker-"));
    const started = join(dir, "started");
    writeFileSync(
      join(dir, "work.ts"),
      [
        'import { writeFileSync } from "node:fs";',
        "export default async () => {",
        `  writeFileSync(${JSON.stringify(started)}, "");`,
        "  await new Promise((resolve) => setTimeout(resolve, 1500));",
        "  return { finished: true };",
        "};",
        "",
      ].join("\n"),
    );
    const args = ["bin/docket.js", "worker", join(dir, "work.ts"), "--participant", "work", "--url", url];
    const child = spawn(process.execPath, [...args, "--poll", "1"], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr.on("data", (chunk) => {
      log += chunk;
    });
    await engine.launch({ process: "big", id: "term-1" });
    await until(() => existsSync(started) || undefined, 15_000).catch((error: Error) => {
      throw new Error(`${error.message}; the worker said: ${log}`);
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    // Answered before it exited: the task was finished within the grace period, not abandoned.
    const snapshot = (await engine.store.load("term-1"))?.snapshot;
    expect([snapshot?.status, snapshot?.scopes[0]?.[1].finished]).toEqual(["completed", true]);
  }, 60_000);
});

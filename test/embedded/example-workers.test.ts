/**
 * The example's participants run as workers with the worker SDK (example/workers.ts) against
 * `docket serve` with example/serve.config.yaml: the README's order completes, then the workers
 * stop on SIGTERM.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveApi } from "../../lib/embedded/api.js";
import { loadConfig } from "../../lib/embedded/config.js";
import type { EmbeddedEngine } from "../../lib/embedded/engine.js";
import { open, until } from "./helpers.js";

let engine: EmbeddedEngine;
let server: Server;
let url: string;

beforeAll(async () => {
  engine = await open(loadConfig("example/serve.config.yaml"));
  server = serveApi(engine);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await engine.close();
});

describe("example/workers.ts", () => {
  it("answers every task of the example's order as workers, and stops on SIGTERM", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "example/workers.ts"], {
      env: { ...process.env, DOCKET_URL: url, QUEUE_URL: "" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    child.stderr.on("data", (chunk) => {
      log += chunk;
    });
    const fields = JSON.parse(readFileSync("example/order.json", "utf8"));
    const id = await engine.launch({ process: "order", fields });
    const payment = JSON.parse(readFileSync("example/payment.json", "utf8"));
    await until(
      async () => (await engine.store.load(id))?.snapshot.nodes.some(([, s]) => s.k === "await") || undefined,
      20_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; the workers said: ${log}`);
    });
    await engine.publish(payment);
    const snapshot = await until(async () => {
      const loaded = (await engine.store.load(id))?.snapshot;
      return loaded?.status === "running" ? undefined : loaded;
    }, 20_000);
    expect(snapshot.status).toBe("completed");
    expect(snapshot.scopes[0]?.[1]).toMatchObject({
      reserved: true,
      approved_by: "finance-bot",
      tracking: "TRK-A-42",
      invoice_no: "INV-A-42-120",
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(log).toContain("example workers: 5 participants");
  }, 60_000);
});

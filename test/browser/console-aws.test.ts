/**
 * The console on the AWS host: the operations API over awsOperations (what API Gateway fronts,
 * and what `docket local` serves with the console), the Lambda handlers run by the LocalRunner on
 * the emulator. There is no change stream on AWS: the console polls, and shows an instance's
 * progress without a reload all the same.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import { serveOperations } from "../../lib/api/http.js";
import { type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import { awsOperations } from "../../lib/aws/operations.js";
import { emulatorClients } from "../integration/emulator.js";
import { provisioning } from "../integration/roles.js";
import { accessibilityViolations, launchChromium } from "./harness.js";

let deps: AwsDeps;
let runner: LocalRunner;
let server: Server;
let base: string;
let browser: Browser;
let running = true;
let ticking: Promise<void>;

beforeAll(async () => {
  const clients = emulatorClients(inject("endpoint"));
  const resources = await provisionEngine(provisioning(clients), `con${Date.now().toString(36)}`);
  deps = makeAwsDeps(clients, resources);
  runner = new LocalRunner(deps, resources.feeds, { visibilityTimeout: 1 });
  await deps.definitions.register(
    "parcel.yaml",
    "do:\n  - await: { event: parcel.arrived, key: context.ref }\n",
  );
  server = serveOperations(awsOperations(deps), { console: true });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The functions run beside the API, as on AWS.
  ticking = (async () => {
    while (running) if ((await runner.tick()) === 0) await new Promise((r) => setTimeout(r, 50));
  })();
  browser = await launchChromium();
});
afterAll(async () => {
  running = false;
  await ticking;
  await browser?.close();
  server?.closeAllConnections();
  server?.close();
});

const post = (path: string, body: unknown) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

describe("the console on the AWS host", () => {
  it("shows an instance waiting, then completed once its event comes, by polling (no change stream)", async () => {
    expect(
      (await post("/instances", { process: "parcel", id: "parcel-1", fields: { ref: "P1" } })).status,
    ).toBe(202);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, baseURL: base });
    const streams: string[] = [];
    page.on("request", (request) => {
      if (request.url().endsWith("/changes")) streams.push(request.url());
    });
    await page.goto("/console/instances/parcel-1");
    await page.waitForSelector('[data-testid="node-0.0"][data-state=waiting]', { timeout: 20_000 });
    await page.waitForSelector("[data-testid=instance-status]:text-is('running')");
    expect((await post("/events", { name: "parcel.arrived", key: "P1" })).status).toBe(202);
    await page.waitForSelector("[data-testid=instance-status]:text-is('completed')", { timeout: 20_000 });
    // The graph follows the view: it reloads once the view shows a new step.
    await page.waitForSelector('[data-testid="node-0.0"][data-state=done]');
    expect(streams).toEqual([]);
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.goto("/console/");
    await page.waitForSelector("[data-testid=instance-row]");
    await page.waitForSelector("[data-testid=count-completed]:has-text('1')");
    expect(await page.textContent("[data-testid=count-completed]")).toMatch(/^\s*1\s*completed/);
    await page.close();
  });
});

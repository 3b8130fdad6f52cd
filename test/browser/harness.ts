/**
 * The console's browser tests and screenshots: `docket serve`'s engine and API over a copy of
 * test/browser/fixture (the shipment process, its participants, a rejected file), and Debian's
 * Chromium driven by playwright-core. Chromium must be installed (`apt-get install -y chromium`;
 * .ci/run does it): the tests fail, not skip, without it.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { CONSOLE_DIR } from "../../lib/api/console.js";
import { serveApi } from "../../lib/embedded/api.js";
import { loadConfig } from "../../lib/embedded/config.js";
import { EmbeddedEngine } from "../../lib/embedded/engine.js";

export const CHROMIUM = process.env.DOCKET_CHROMIUM ?? "/usr/bin/chromium";
const FIXTURE = new URL("./fixture/", import.meta.url).pathname;

export interface ConsoleHost {
  readonly base: string;
  readonly engine: EmbeddedEngine;
  /** Calls the API as a client would (JSON in and out). */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
}

/** The embedded engine over a fresh copy of the fixture, its API and console on a free port. */
export async function startConsoleHost(): Promise<ConsoleHost> {
  if (!existsSync(join(CONSOLE_DIR, "index.html")))
    throw new Error(`the console is not built in ${CONSOLE_DIR}: run npm run build`);
  const dir = mkdtempSync(join(tmpdir(), "docket-browser-"));
  cpSync(FIXTURE, dir, { recursive: true });
  const engine = await EmbeddedEngine.open({ config: loadConfig(join(dir, "docket.config.yaml")) });
  const server: Server = serveApi(engine, { console: true });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    engine,
    async api(method, path, body) {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await engine.close();
    },
  };
}

/**
 * Chromium headless, as this machine's closed network needs it: no background connections (they
 * are refused, many at a time), no QUIC, no component or sync updates; playwright gives each
 * launch a fresh profile folder of its own.
 */
export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set DOCKET_CHROMIUM)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

const AXE = readFileSync(new URL("../../node_modules/axe-core/axe.min.js", import.meta.url), "utf8");

export interface Violation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly nodes: readonly string[];
}

/**
 * axe-core's WCAG 2.1 A and AA rules (and its best practices) over the page as it is now; the
 * violations, each with the elements it names. Evaluated over the DevTools protocol, which the
 * console's Content-Security-Policy (no inline script) does not stop.
 */
export async function accessibilityViolations(page: Page): Promise<Violation[]> {
  await page.evaluate(AXE);
  return page.evaluate(async () => {
    // biome-ignore lint/suspicious/noExplicitAny: the page's globals: axe (the evaluated script's) and document.
    const page = globalThis as any;
    const result = await page.axe.run(page.document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    });
    return result.violations.map(
      (v: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => n.target.join(" ")),
      }),
    );
  });
}

/** Waits until `fn` holds, polling; throws with `what` when it does not within `timeoutMs`. */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Launches an instance of the fixture's shipment process and waits until it has taken its first steps. */
export async function launchShipment(host: ConsoleHost, id: string, total: number): Promise<void> {
  const launched = await host.api("POST", "/instances", {
    process: "shipment",
    id,
    fields: { order_id: id, total },
  });
  if (launched.status !== 202) throw new Error(`launching ${id}: ${JSON.stringify(launched.body)}`);
}

/** An instance's status and incidents as the API shows them. */
export async function shown(host: ConsoleHost, id: string) {
  return (await host.api("GET", `/instances/${id}`)).body as {
    status: string;
    incidents: { node: string }[];
    active: { node: string }[];
  };
}

/**
 * What the screenshots show: a shipment waiting for its delivery, one completed, one with an
 * incident (its card declined twice), and more, so the list has a second page.
 */
export async function seed(host: ConsoleHost, more = 22): Promise<void> {
  await launchShipment(host, "order-1001", 80);
  await launchShipment(host, "order-1002", 240);
  await launchShipment(host, "order-1003", 4800);
  for (let i = 0; i < more; i++) await launchShipment(host, `order-${2000 + i}`, 10 + i);
  await eventually("order-1002 to wait for its delivery", async () =>
    (await shown(host, "order-1002")).active.some((a) => a.node === "0.3"),
  );
  await host.api("POST", "/events", {
    name: "delivered",
    key: "order-1002",
    data: { courier: "DHL", signed: "R. Lee" },
  });
  await eventually(
    "order-1002 to complete",
    async () => (await shown(host, "order-1002")).status === "completed",
  );
  await eventually(
    "order-1003's incident",
    async () => (await shown(host, "order-1003")).incidents.length > 0,
    15_000,
  );
  await eventually("order-1001 to wait for its delivery", async () =>
    (await shown(host, "order-1001")).active.some((a) => a.node === "0.3"),
  );
}

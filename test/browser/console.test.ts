/**
 * The web console in a real browser (Debian's Chromium, driven by playwright-core) against a real
 * embedded engine (harness.ts): an instance launched from the console, watched as it progresses,
 * its incident retried, seen completing without a reload; the list filtered and paged; a rejected
 * definition opened; the keyboard; a phone's width; and axe-core's accessibility rules on each page.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  accessibilityViolations,
  type ConsoleHost,
  eventually,
  launchChromium,
  seed,
  shown,
  startConsoleHost,
} from "./harness.js";

let host: ConsoleHost;
let browser: Browser;

beforeAll(async () => {
  host = await startConsoleHost();
  browser = await launchChromium();
  await seed(host);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await host?.close();
});

async function open(path: string, viewport = { width: 1280, height: 800 }): Promise<Page> {
  const page = await browser.newPage({ viewport, baseURL: host.base });
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    // The browser logs each 4xx answer; the console shows those itself (a search for no instance).
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource"))
      errors.push(message.text());
  });
  await page.goto(path);
  // A script error fails the test that met it, at its end.
  (page as Page & { errors?: string[] }).errors = errors;
  return page;
}

const errorsOf = (page: Page) => (page as Page & { errors?: string[] }).errors ?? [];
const nodeState = (page: Page, id: string) => page.getAttribute(`[data-testid="node-${id}"]`, "data-state");

describe("the console in Chromium", () => {
  it("launches an instance, shows it progress to an incident, retries it and sees it complete, live", async () => {
    const page = await open("/console/definitions?process=shipment");
    const form = page.locator('[data-testid=launch-form][data-process="shipment"]');
    await form.locator("[data-testid=launch-fields]").fill('{ "order_id": "live-1", "total": 5000 }');
    await form.locator("[data-testid=launch-submit]").click();
    await page.waitForURL(/\/console\/instances\/[^/]+$/);
    const id = decodeURIComponent(page.url().split("/").pop() ?? "");
    // Packed, then the card declined twice: an incident at the charge, the instance suspended.
    await page.waitForSelector("[data-testid=incident]", { timeout: 15_000 });
    await page.waitForSelector("[data-testid=instance-status]:text-is('suspended')");
    // The graph follows the instance's view (it reloads once the view shows a new step).
    await page.waitForSelector('[data-testid="node-0.1"][data-state=faulted]');
    expect(await nodeState(page, "0.0")).toBe("done");
    expect(await nodeState(page, "0.3")).toBe("not-reached");
    expect(await page.textContent("[data-testid=incident]")).toContain(`card declined for live-1`);

    await page.click("[data-testid=incident-retry]");
    await page.click("[data-testid=retry-dialog] [data-testid=dialog-confirm]");
    // The retry went through: approval, then waiting for the delivery (no reload in between).
    await page.waitForSelector('[data-testid="node-0.3"][data-state=waiting]');
    await page.waitForSelector("[data-testid=instance-status]:text-is('running')");
    expect(await page.locator("[data-testid=incident]").count()).toBe(0);

    await host.api("POST", "/events", { name: "delivered", key: "live-1", data: { courier: "UPS" } });
    await page.waitForSelector("[data-testid=instance-status]:text-is('completed')");
    await page.waitForSelector('[data-testid="node-0.4/join"][data-state=done]');
    expect((await shown(host, id)).status).toBe("completed");
    // launch, pack, charge twice, the timer between, the retry, the third charge, approve, the event, …
    await eventually(
      "the history's steps",
      async () => (await page.locator("[data-testid=history-entry]").count()) >= 8,
    );
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it("opens a node's tasks and attempts with the fields sent and received, by keyboard", async () => {
    const page = await open("/console/instances/order-1002");
    const charge = page.locator('[data-testid="node-0.1"]');
    await charge.focus();
    await page.keyboard.press("Enter");
    const panel = page.locator("[data-testid=node-panel]");
    // The panel opens at once; its tasks come with the history it loads.
    await panel.locator("[data-testid=node-task]").first().waitFor();
    const text = await panel.textContent();
    expect(text).toContain("order-1002/0.1/1");
    expect(text).toContain("charged");
    await page.click("[data-testid=node-panel-close]");
    await eventually("the panel to close", async () => (await panel.count()) === 0);
    // Focus goes back to the node it was opened from.
    expect(await page.evaluate("document.activeElement?.getAttribute('data-testid')")).toBe("node-0.1");
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it("shows a task's heartbeats as one line with the last details, not as error replies", async () => {
    const watched = "do: [ { action: { participant: watcher, heartbeat: 60 } } ]\n";
    const registered = await host.engine.definitions.register("watched.yaml", watched);
    if (!registered.ok) throw new Error(registered.problems.join("; "));
    await host.api("POST", "/instances", { process: "watched", id: "beats-1" });
    await eventually("beats-1's task", async () => (await shown(host, "beats-1")).active.length > 0);
    const task = {
      id: "beats-1/0.0/1",
      instance: "beats-1",
      node: "0.0",
      participant: "watcher",
      attempt: 1,
    };
    for (let pct = 1; pct <= 3; pct++)
      await host.api("POST", "/replies", { task, status: "heartbeat", details: { pct } });
    await eventually("three heartbeats in history", async () => {
      const page = await host.api("GET", "/instances/beats-1/history");
      return (page.body as { records: unknown[] }).records.length >= 4;
    });
    const page = await open("/console/instances/beats-1");
    await page.locator('[data-testid="node-0.0"]').click();
    const beats = page.locator("[data-testid=node-panel] [data-testid=node-heartbeats]");
    await beats.waitFor();
    expect(await beats.textContent()).toMatch(/^3 heartbeats, the last at .+ details \{"pct":3\}$/);
    expect(await page.locator("[data-testid=node-panel] .error-text").count()).toBe(0);
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it("filters the list by status and process, pages it, and finds an instance by id", async () => {
    const page = await open("/console/");
    await page.waitForSelector("[data-testid=instance-row]");
    expect(await page.textContent("[data-testid=count-completed]")).toMatch(/^\s*[1-9]/);
    await page.click("[data-testid=count-running]");
    await page.waitForURL(/status=running/);
    const firstPage = await eventually("a first page of running instances", async () => {
      const statuses = await page.locator("[data-testid=row-status]").allTextContents();
      if (statuses.length !== 20 || statuses.some((s) => s !== "running")) return undefined;
      return page.locator("[data-testid=instance-row] td:first-child").allTextContents();
    });
    await page.click("[data-testid=page-next]");
    await eventually("the second page", async () => {
      const rows = await page.locator("[data-testid=instance-row] td:first-child").allTextContents();
      return rows.length > 0 && rows[0] !== firstPage[0] ? rows : undefined;
    });
    const secondPage = await page.locator("[data-testid=instance-row] td:first-child").allTextContents();
    expect(secondPage.some((id) => firstPage.includes(id))).toBe(false);
    for (const status of await page.locator("[data-testid=row-status]").allTextContents())
      expect(status).toBe("running");
    await page.click("[data-testid=page-prev]");
    await eventually("the first page again", async () => {
      const rows = await page.locator("[data-testid=instance-row] td:first-child").allTextContents();
      return rows[0] === firstPage[0];
    });
    await page.selectOption("[data-testid=filter-status]", "completed");
    await eventually("only completed instances", async () => {
      const statuses = await page.locator("[data-testid=row-status]").allTextContents();
      return statuses.length > 0 && statuses.every((s) => s === "completed");
    });
    await page.fill("[data-testid=search-id]", "nope-404");
    await page.press("[data-testid=search-id]", "Enter");
    await page.waitForSelector("[data-testid=search-message]:has-text('no instance nope-404')");
    await page.fill("[data-testid=search-id]", "order-1003");
    await page.press("[data-testid=search-id]", "Enter");
    await page.waitForURL(/\/console\/instances\/order-1003$/);
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it("shows a definition's versions, source and diagram, and a rejected file with its problem at line:col", async () => {
    const page = await open("/console/definitions");
    const rejected = page.locator("[data-testid=rejected]");
    await rejected.waitFor();
    expect(await rejected.textContent()).toContain("broken");
    expect(await page.locator("[data-testid=rejected-problem]").first().textContent()).toMatch(
      /broken\.yaml:3:\d+.*retry "lots" is not a whole number/,
    );
    await page.goto("/console/definitions?process=shipment&version=latest");
    await page.waitForSelector("[data-testid=source]");
    expect(await page.textContent("[data-testid=source]")).toContain("process: shipment");
    expect(await page.locator("[data-testid^=node-]").count()).toBeGreaterThan(10);
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it("launches the version shown when it is not the latest", async () => {
    const first = (await host.engine.definitions.resolve("shipment"))?.hash as string;
    const { readFileSync } = await import("node:fs");
    const source = readFileSync("test/browser/fixture/definitions/shipment.yaml", "utf8");
    const second = await host.engine.definitions.register("shipment.yaml", `${source}\n# a second version\n`);
    if (!second.ok) throw new Error(second.problems.join("; "));
    const page = await open(`/console/definitions?process=shipment&version=${first.slice(0, 12)}`);
    const form = page.locator(`[data-testid=launch-form][data-version="${first}"]`);
    expect(await form.locator("[data-testid=launch-submit]").textContent()).toBe(
      `Launch shipment@${first.slice(0, 8)}`,
    );
    await form.locator("[data-testid=launch-fields]").fill('{ "order_id": "old-1", "total": 5 }');
    await form.locator("[data-testid=launch-submit]").click();
    await page.waitForURL(/\/console\/instances\/[^/]+$/);
    const id = decodeURIComponent(page.url().split("/").pop() ?? "");
    expect((await host.engine.snapshot(id))?.version).toBe(first);
    // Shown as latest again (or not chosen), the form launches the latest.
    await page.goto("/console/definitions?process=shipment&version=latest");
    await page.waitForSelector("[data-testid=source]");
    expect(
      await page.locator('[data-testid=launch-form][data-process="shipment"]').getAttribute("data-version"),
    ).toBeNull();
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it("fits a phone's width: nothing wider than the screen but the boxes that scroll", async () => {
    for (const path of ["/console/", "/console/instances/order-1001", "/console/definitions"]) {
      const page = await open(path, { width: 390, height: 844 });
      await page.waitForSelector("h1");
      await page.waitForTimeout(300);
      const width = await page.evaluate("document.documentElement.scrollWidth");
      expect(width, path).toBeLessThanOrEqual(390);
      await page.close();
    }
  });

  it("passes axe-core's WCAG 2.1 AA rules on every page, at the desk and on a phone", async () => {
    const pages = [
      ["/console/", "[data-testid=instance-row]"],
      ["/console/instances/order-1003", "[data-testid^=node-]"],
      ["/console/instances/order-1002", "[data-testid=history-entry]"],
      ["/console/definitions?process=shipment&version=latest", "[data-testid=source]"],
      ["/console/nowhere", "h1"],
    ] as const;
    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      for (const [path, ready] of pages) {
        const page = await open(path, viewport);
        await page.waitForSelector(ready);
        expect(await accessibilityViolations(page), `${path} at ${viewport.width}px`).toEqual([]);
        await page.close();
      }
    }
  });
});

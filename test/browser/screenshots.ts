/**
 * `npm run screenshots`: the console's pages as the README shows them, taken from a real engine
 * (test/browser/fixture, seeded by harness.ts) in Debian's Chromium, written to docs/.
 */
import { mkdirSync } from "node:fs";
import type { Page } from "playwright-core";
import { launchChromium, seed, startConsoleHost } from "./harness.js";

const DOCS = new URL("../../docs/", import.meta.url).pathname;

async function shoot(page: Page, path: string, file: string, ready: string): Promise<void> {
  await page.goto(path);
  await page.waitForSelector(ready);
  // Let the layout and the live data settle before the picture.
  await page.waitForTimeout(400);
  await page.screenshot({ path: `${DOCS}${file}`, fullPage: file !== "console-instances.png" });
  console.log(`docs/${file}`);
}

async function main(): Promise<void> {
  mkdirSync(DOCS, { recursive: true });
  const host = await startConsoleHost();
  const browser = await launchChromium();
  try {
    await seed(host);
    const desk = await browser.newPage({ viewport: { width: 1280, height: 800 }, baseURL: host.base });
    await shoot(desk, "/console/", "console-instances.png", "[data-testid=instance-row]");
    await shoot(
      desk,
      "/console/instances/order-1003",
      "console-incident.png",
      "[data-testid=incident-retry]",
    );
    await desk.click("[data-testid=incident-retry]");
    await desk.click("[data-testid=retry-dialog] [data-testid=dialog-confirm]");
    await desk.waitForSelector("[data-testid=instance-status]:has-text('running')");
    await shoot(desk, "/console/instances/order-1002", "console-instance.png", "[data-testid^=node-]");
    await shoot(
      desk,
      "/console/definitions?process=shipment&version=latest",
      "console-definitions.png",
      "[data-testid=source]",
    );
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, baseURL: host.base });
    await shoot(phone, "/console/instances/order-1001", "console-phone.png", "[data-testid^=node-]");
  } finally {
    await browser.close();
    await host.close();
  }
}

await main();

import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DocketConfig, loadConfig } from "../../lib/embedded/config.js";
import { EmbeddedEngine, type EngineOptions } from "../../lib/embedded/engine.js";

/** A temporary project folder: definitions/, participants/, docket.config.yaml, a database file. */
export function project(files: Record<string, string>, config = ""): { dir: string; config: DocketConfig } {
  const dir = mkdtempSync(join(tmpdir(), "docket-"));
  // As in a user's project: participants are ES modules.
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  writeFileSync(join(dir, "docket.config.yaml"), config || "database: state/docket.sqlite\n");
  return { dir, config: loadConfig(join(dir, "docket.config.yaml")) };
}

export function open(config: DocketConfig, options: Partial<EngineOptions> = {}): Promise<EmbeddedEngine> {
  return EmbeddedEngine.open({ config, ...options });
}

export async function until<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

import { mkdirSync, mkdtempSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbeddedEngine } from "../../lib/embedded/engine.js";
import { type StopWatching, watchFolder } from "../../lib/embedded/folder.js";
import { open, project, until } from "./helpers.js";

/** A definition whose one action names its version, so the registered version can be read back. */
const version = (marker: string) => `do:\n  - action: ${marker}\n`;

describe("docket serve's definitions folder", () => {
  const { dir, config } = project({ "definitions/order.yaml": version("v0") });
  const folder = join(dir, "definitions");
  let engine: EmbeddedEngine;
  let stop: StopWatching;

  /** The participant of the latest registered version's action, once it is `marker`. */
  const registered = (name: string, marker: string) =>
    until(async () => {
      const latest = await engine.definitions.resolve(name);
      const action = latest?.definition.root.children[0];
      return action?.kind === "action" && action.participant === marker ? marker : undefined;
    }, 10_000);

  /** Saves as vim, VS Code and JetBrains do: the new text in a temp file, renamed over the original. */
  const atomicSave = (file: string, text: string, temp = `${file}.tmp`) => {
    writeFileSync(join(folder, temp), text);
    renameSync(join(folder, temp), join(folder, file));
  };

  beforeAll(async () => {
    // The engine registers the folder at start; the watcher, as `docket serve` runs it, every change.
    engine = await open(config, { participants: false });
    await registered("order", "v0");
    stop = watchFolder(folder, engine.definitions, () => undefined);
    await stop.ready;
  });
  afterAll(async () => {
    stop();
    await engine.close();
  });

  it("registers a file saved atomically, and again on the next atomic save", async () => {
    atomicSave("order.yaml", version("v2"));
    expect(await registered("order", "v2")).toBe("v2");
    atomicSave("order.yaml", version("v3"), "order.yaml___jb_tmp___");
    expect(await registered("order", "v3")).toBe("v3");
    // vim without backupcopy: the original renamed to a backup, a new file written in its place.
    renameSync(join(folder, "order.yaml"), join(folder, "order.yaml~"));
    writeFileSync(join(folder, "order.yaml"), version("v4"));
    expect(await registered("order", "v4")).toBe("v4");
  });

  it("registers a file moved in from outside the folder, into a subfolder", async () => {
    const outside = mkdtempSync(join(tmpdir(), "docket-outside-"));
    writeFileSync(join(outside, "ship.yaml"), version("s1"));
    mkdirSync(join(folder, "team"), { recursive: true });
    renameSync(join(outside, "ship.yaml"), join(folder, "team", "ship.yaml"));
    expect(await registered("team/ship", "s1")).toBe("s1");
  });

  it("keeps a deleted file's versions registered, and registers it when it is created again", async () => {
    writeFileSync(join(folder, "refund.yaml"), version("r1"));
    await registered("refund", "r1");
    unlinkSync(join(folder, "refund.yaml"));
    // A later change elsewhere is seen, so the deletion has been through the watcher by then.
    writeFileSync(join(folder, "marker.yaml"), version("m1"));
    await registered("marker", "m1");
    expect(await registered("refund", "r1")).toBe("r1");
    writeFileSync(join(folder, "refund.yaml"), version("r2"));
    expect(await registered("refund", "r2")).toBe("r2");
    atomicSave("refund.yaml", version("r3"));
    expect(await registered("refund", "r3")).toBe("r3");
  });
});

/** Snapshot formats and semantics versions (lib/engine/semantics.ts): upgrades, and what is refused. */
import { describe, expect, it } from "vitest";
import { SEMANTICS, SNAPSHOT_FORMAT, transition, upgradeSnapshot } from "../../lib/engine/index.js";
import { readDefinition } from "../../lib/language/index.js";
import { formatOne } from "../support/upgrade.js";

describe("stored snapshots", () => {
  it("upgrades every format-1 fixture to the current format, changing nothing else", () => {
    for (const stored of Object.values(formatOne().snapshots)) {
      const upgraded = upgradeSnapshot(stored);
      expect(upgraded).toEqual({ ...stored, format: SNAPSHOT_FORMAT, semantics: 1 });
    }
  });

  it("refuses a snapshot of a newer format, or of none", () => {
    const [stored] = Object.values(formatOne().snapshots);
    expect(() => upgradeSnapshot({ ...stored, format: SNAPSHOT_FORMAT + 1 })).toThrow(
      /written in snapshot format 3 by a newer docket; this one reads up to 2: deploy the newer docket/,
    );
    expect(() => upgradeSnapshot({ id: "x" })).toThrow(/no known format/);
  });

  it("refuses to step an instance under older rules than it was last stepped under", () => {
    const definition = readDefinition("do:\n  - action: a\n", { file: "a.yaml" });
    const { snapshot } = transition(definition, undefined, { type: "launch", instance: "i" }, 0);
    expect(snapshot.semantics).toBe(SEMANTICS);
    const reply = {
      type: "reply" as const,
      task: { id: "i/0.0/1", node: "0.0", attempt: 1 },
      status: "done" as const,
    };
    expect(() => transition(definition, snapshot, reply, 1, 1)).toThrow(
      /last stepped under semantics 2; this step would apply 1: deploy the newer docket/,
    );
    expect(() => transition(definition, snapshot, reply, 1, SEMANTICS + 1)).toThrow(/this docket has 1 to 2/);
  });
});

/**
 * The embedded database's file: a new instance's row keeps room to grow until its first step
 * (lib/embedded/store.ts), and a file an earlier docket made gets what the schema added since.
 */
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import type { EmbeddedEngine } from "../../lib/embedded/engine.js";
import { open, project, until } from "./helpers.js";

const waits = `process: waits
do:
  - await: { event: go, key: context.key, into: got }
`;

const room = (engine: EmbeddedEngine, id: string) =>
  (
    engine.db.prepare("SELECT length(room) AS bytes FROM instances WHERE id = ?").get(id) as {
      bytes: number | null;
    }
  ).bytes;

const completed = (engine: EmbeddedEngine, id: string) =>
  until(async () => ((await engine.snapshot(id))?.status === "completed" ? true : undefined));

describe("the embedded database", () => {
  it("a new instance's row keeps room to grow, which its first step gives back", async () => {
    const { config } = project({ "definitions/waits.yaml": waits });
    const engine = await open(config, { participants: false });
    try {
      const id = await engine.launch({ process: "waits", fields: { key: "k1" } });
      await until(async () => ((await engine.snapshot(id))?.status === "running" ? true : undefined));
      expect(room(engine, id)).toBe(256);
      await engine.publish({ name: "go", key: "k1", data: { n: 1 } });
      await completed(engine, id);
      expect(room(engine, id)).toBeNull();
    } finally {
      await engine.close();
    }
  });

  it("a file made before the room column and with the pruning index it no longer has opens as a new one", async () => {
    const { config } = project({ "definitions/waits.yaml": waits });
    const first = await open(config, { participants: false });
    const id = await first.launch({ process: "waits", fields: { key: "k1" } });
    await until(async () => ((await first.snapshot(id))?.status === "running" ? true : undefined));
    await first.close();
    // Made as the docket before wrote it.
    const old = new Database(config.database);
    old.exec("ALTER TABLE instances DROP COLUMN room");
    old.exec("CREATE INDEX events_by_at ON events (at)");
    old.close();

    const engine = await open(config, { participants: false });
    try {
      const columns = (engine.db.pragma("table_info(instances)") as { name: string }[]).map((c) => c.name);
      expect(columns).toContain("room");
      const indexes = (engine.db.pragma("index_list(events)") as { name: string }[]).map((i) => i.name);
      expect(indexes).not.toContain("events_by_at");
      // The instance stored without the column steps and completes; a new one gets its room.
      await engine.publish({ name: "go", key: "k1", data: { n: 1 } });
      await completed(engine, id);
      const next = await engine.launch({ process: "waits", fields: { key: "k2" } });
      await until(async () => ((await engine.snapshot(next))?.status === "running" ? true : undefined));
      expect(room(engine, next)).toBe(256);
    } finally {
      await engine.close();
    }
  });
});

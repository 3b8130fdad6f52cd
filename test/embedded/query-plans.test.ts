/**
 * Every statement the embedded engine prepares on the tables that grow with use reads them through
 * an index: SQLite's EXPLAIN QUERY PLAN never says `SCAN <table>` without one. The statements are
 * the engine's own, captured as it prepares them while it runs a process through tasks, timers,
 * keyed and unkeyed awaits, the event buffer, listing and history; a full scan there costs time in
 * proportion to the instances, subscriptions or buffered events (issue 16).
 */
import Database from "better-sqlite3";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Db } from "../../lib/embedded/database.js";
import { open, project, until } from "./helpers.js";

const GROWING = ["instances", "history", "inbox", "timers", "subscriptions", "events", "tasks"];

/**
 * Scans that read a bounded number of rows whatever the table's size, each with the reason.
 * Nothing else may scan a growing table.
 */
const BOUNDED_SCANS: Record<string, string> = {
  // Rowid order from the first row, stopping at it: the oldest queued message.
  "SELECT * FROM inbox ORDER BY id LIMIT 1": "the first row of the inbox",
  // Rowid order from the first row, LIMIT 8: the first events recorded.
  "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events ORDER BY rowid LIMIT 8) AND at <= ?":
    "the first few buffered events",
  // EXISTS stops at the first row.
  "SELECT EXISTS (SELECT 1 FROM inbox) AS n": "whether the inbox has a first row",
};

const flow = `process: flow
do:
  - action: manual
  - delay: 0.05
  - await: { event: go, key: context.key }
  - await: { event: any }
`;

/** Binds a placeholder value to each parameter, so the plan is the one a real call gets. */
function explain(db: Db, sql: string): string[] {
  const named = [...new Set([...sql.matchAll(/@(\w+)/g)].map((m) => m[1] as string))];
  const positional = (sql.match(/\?/g) ?? []).length;
  const statement = db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
  const rows = (
    named.length
      ? statement.all(Object.fromEntries(named.map((name) => [name, 1])))
      : statement.all(...Array.from({ length: positional }, () => 1))
  ) as { detail: string }[];
  return rows.map((row) => row.detail);
}

/** The plan lines that read a growing table from end to end without an index. */
function fullScans(plan: readonly string[]): string[] {
  return plan.filter((line) => {
    const scan = /^SCAN (\w+)(.*)$/.exec(line);
    return (
      scan !== null &&
      GROWING.includes(scan[1] as string) &&
      !/USING .*(INDEX|PRIMARY KEY)/.test(scan[2] as string)
    );
  });
}

const spies: { mockRestore(): void }[] = [];
afterEach(() => {
  for (const spy of spies.splice(0)) spy.mockRestore();
});

describe("the embedded store's query plans", () => {
  it("every statement on a growing table reads it through an index", async () => {
    const prepare = vi.spyOn(Database.prototype, "prepare");
    spies.push(prepare);
    const { config } = project({ "definitions/flow.yaml": flow });
    const engine = await open(config, { participants: false });
    try {
      const id = await engine.launch({ process: "flow", fields: { key: "k1" } });
      const task = await until(() => engine.queues.claim("manual", 60_000));
      await engine.reply({ task: task.task, status: "done" });
      await engine.publish({ name: "go", key: "k1", data: {} });
      await engine.publish({ name: "any", data: {} });
      await until(async () => ((await engine.snapshot(id))?.status === "completed" ? true : undefined));
      await engine.store.history(id);
      for (const filter of [{}, { status: "completed" as const }, { process: "flow" }]) {
        const page = await engine.store.list({ ...filter, limit: 1 });
        await engine.store.list({ ...filter, after: `${page[0]?.createdAt}#${page[0]?.id}` });
      }
      await engine.store.count({ status: "running", process: "flow" }, 10);

      const statements = [...new Set(prepare.mock.calls.map(([sql]) => sql.trim()))].filter(
        (sql) =>
          !sql.startsWith("EXPLAIN") && GROWING.some((table) => new RegExp(`\\b${table}\\b`).test(sql)),
      );
      // The capture saw the hot paths (a regression in it would pass vacuously).
      for (const table of ["subscriptions", "events", "timers", "tasks", "instances", "history"])
        expect(statements.some((sql) => new RegExp(`(FROM|UPDATE) ${table}\\b`).test(sql))).toBe(true);
      const scanning = statements
        .filter((sql) => !(sql in BOUNDED_SCANS))
        .map((sql) => ({ sql, scans: fullScans(explain(engine.db, sql)) }))
        .filter(({ scans }) => scans.length > 0);
      if (process.env.DOCKET_PRINT_PLANS)
        for (const sql of statements) console.log(`${sql}\n    ${explain(engine.db, sql).join("\n    ")}`);
      expect(scanning).toEqual([]);
      // Routing and subscribing narrow to the key (or none) and the buffer's window: an index
      // range on the name alone reads every await or buffered event of the name.
      const narrow: [RegExp, RegExp][] = [
        [/FROM subscriptions WHERE event/, /\(event=\? AND key=\?\)/],
        [/FROM events WHERE name/, /\(name=\? AND (key=\? AND )?at>\?\)/],
      ];
      const wide = narrow.flatMap(([query, range]) =>
        statements.filter(
          (sql) => query.test(sql) && !explain(engine.db, sql).some((line) => range.test(line)),
        ),
      );
      expect(wide).toEqual([]);
      // A page of the listing is read in order from an index, not sorted from every match.
      const sortedListings = statements
        .filter((sql) => sql.includes("ORDER BY created_at DESC, id DESC LIMIT"))
        .filter((sql) => explain(engine.db, sql).some((line) => line.includes("TEMP B-TREE FOR ORDER BY")));
      expect(sortedListings).toEqual([]);
    } finally {
      await engine.close();
    }
  });

  it("a keyed event's subscriptions and an unkeyed await's buffer are index ranges, not the name's every row", async () => {
    const { config } = project({});
    const engine = await open(config, { participants: false });
    try {
      const plans = [
        "SELECT rowid, * FROM subscriptions WHERE event = ? AND key = ? ORDER BY rowid",
        "SELECT rowid, * FROM subscriptions WHERE event = ? AND key IS NULL ORDER BY rowid",
        "SELECT * FROM events WHERE name = ? AND at > ? ORDER BY at, id",
      ].map((sql) => explain(engine.db, sql).join("; "));
      expect(plans[0]).toMatch(
        /SEARCH subscriptions USING INDEX subscriptions_by_event \(event=\? AND key=\?\)/,
      );
      expect(plans[1]).toMatch(
        /SEARCH subscriptions USING INDEX subscriptions_by_event \(event=\? AND key=\?\)/,
      );
      expect(plans[2]).toMatch(/SEARCH events USING INDEX events_by_name_at \(name=\? AND at>\?\)/);
      expect(plans.join("; ")).not.toMatch(/TEMP B-TREE FOR ORDER BY/);
    } finally {
      await engine.close();
    }
  });
});

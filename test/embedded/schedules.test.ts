/**
 * Schedules on the embedded engine, on a virtual clock over a SQLite file: every fire time
 * launches exactly once across restarts (closed before a fire came due, or with the fire moved to
 * the inbox and not yet applied) and when a fire is delivered twice; a Europe/Berlin 02:30 cron
 * across both changes of the clock; catch-up after downtime; schedules from docket.config.yaml;
 * `docket schedules` over `docket serve`'s API.
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { embeddedOperations, serveApi } from "../../lib/embedded/api.js";
import { ConfigError, loadConfig } from "../../lib/embedded/config.js";
import type { EmbeddedEngine } from "../../lib/embedded/engine.js";
import { scheduleTimer } from "../../lib/runtime/schedules.js";
import { open, project } from "./helpers.js";

const at = (iso: string) => Date.parse(iso);
const DONE = "do:\n  - assign: { property: ran, value: 'true' }\n";

/** A project on a file database, with a clock the test moves. */
function clocked(files: Record<string, string>, config = "database: state/docket.sqlite\n", start = "") {
  const made = project(files, config);
  let now = at(start);
  return {
    ...made,
    clock: { now: () => now },
    set: (iso: string) => {
      now = at(iso);
    },
  };
}

/** Moves the engine's clock to `iso` and lets every timer due by then fire and its effects apply. */
async function runTo(engine: EmbeddedEngine, set: (iso: string) => void, iso: string): Promise<void> {
  set(iso);
  engine.queues.emit("timers");
  // The timer loop fires on the next turn; what it queues is then applied.
  await new Promise((resolve) => setTimeout(resolve, 20));
  await engine.idle();
}

const ids = async (engine: EmbeddedEngine) =>
  (await engine.store.list({ limit: 1000 })).map((i) => i.id).sort();

/** The launch messages an instance's history holds: the one applied, and any duplicate noted. */
const launches = async (engine: EmbeddedEngine, id: string) =>
  (await engine.store.history(id)).records.filter((r) => r.message.type === "launch").length;

describe("schedules on the embedded engine", () => {
  it("launches each fire time exactly once across restarts and a fire delivered twice", async () => {
    const p = clocked(
      { "definitions/job.yaml": `schedule: { rate: PT1H, overlap: allow }\n${DONE}` },
      undefined,
      "2026-03-29T09:59:00Z",
    );
    let engine = await open(p.config, { clock: p.clock });
    await runTo(engine, p.set, "2026-03-29T10:00:01Z");
    expect(await ids(engine)).toEqual(["job@2026-03-29T10:00:00Z"]);

    // The same fire's timer again: its launch starts nothing new.
    const hash = await stateHash(engine, "job");
    await engine.queues.startTimer(scheduleTimer("job", hash, at("2026-03-29T10:00:00Z")));
    await runTo(engine, p.set, "2026-03-29T10:00:02Z");
    expect(await ids(engine)).toEqual(["job@2026-03-29T10:00:00Z"]);
    expect(await launches(engine, "job@2026-03-29T10:00:00Z")).toBe(2);

    // Closed before 11:00 came due, opened after it: it fires once.
    await engine.close();
    p.set("2026-03-29T11:00:30Z");
    engine = await open(p.config, { clock: p.clock });
    await runTo(engine, p.set, "2026-03-29T11:00:31Z");
    expect(await ids(engine)).toEqual(["job@2026-03-29T10:00:00Z", "job@2026-03-29T11:00:00Z"]);

    // Stopped with the 12:00 fire moved to the inbox and not applied: it is applied once after.
    p.set("2026-03-29T12:00:01Z");
    expect(engine.queues.fireDue(at("2026-03-29T12:00:01Z"))).toBe(1);
    await engine.close();
    engine = await open(p.config, { clock: p.clock });
    await runTo(engine, p.set, "2026-03-29T12:00:02Z");
    await engine.close();
    engine = await open(p.config, { clock: p.clock });
    await runTo(engine, p.set, "2026-03-29T12:00:03Z");
    expect(await ids(engine)).toEqual([
      "job@2026-03-29T10:00:00Z",
      "job@2026-03-29T11:00:00Z",
      "job@2026-03-29T12:00:00Z",
    ]);
    for (const id of ["job@2026-03-29T11:00:00Z", "job@2026-03-29T12:00:00Z"])
      expect(await launches(engine, id)).toBe(1);
    expect((await engine.snapshot("job@2026-03-29T12:00:00Z"))?.status).toBe("completed");
    await engine.close();
  });

  it("launches a Europe/Berlin 02:30 cron once a day across spring-forward and fall-back, restarting on each change", async () => {
    const p = clocked(
      { "definitions/report.yaml": `schedule: { cron: "30 2 * * *", timezone: Europe/Berlin }\n${DONE}` },
      undefined,
      "2026-03-27T12:00:00Z",
    );
    let engine = await open(p.config, { clock: p.clock });
    const listed = await embeddedOperations(engine).schedules(3);
    expect(listed.schedules.map((s) => [s.name, s.next])).toEqual([
      ["report", [at("2026-03-28T01:30:00Z"), at("2026-03-29T01:30:00Z"), at("2026-03-30T00:30:00Z")]],
    ]);
    await runTo(engine, p.set, "2026-03-28T01:30:01Z");
    await engine.close();
    p.set("2026-03-29T01:00:00Z"); // the day of the change, before its fire
    engine = await open(p.config, { clock: p.clock });
    for (const fire of ["2026-03-29T01:30:01Z", "2026-03-30T00:30:01Z"]) await runTo(engine, p.set, fire);
    expect(await ids(engine)).toEqual([
      "report@2026-03-28T01:30:00Z",
      "report@2026-03-29T01:30:00Z", // 03:30 CEST: 02:30 did not exist
      "report@2026-03-30T00:30:00Z",
    ]);
    await engine.close();

    p.set("2026-10-24T12:00:00Z"); // months later: catchup once launches the latest missed fire
    engine = await open(p.config, { clock: p.clock });
    await runTo(engine, p.set, "2026-10-24T12:00:01Z");
    await runTo(engine, p.set, "2026-10-25T00:30:01Z"); // the first 02:30 (CEST)
    await engine.close();
    p.set("2026-10-25T01:40:00Z"); // after the second 02:30 (CET)
    engine = await open(p.config, { clock: p.clock });
    await runTo(engine, p.set, "2026-10-26T01:30:01Z");
    expect((await ids(engine)).slice(3)).toEqual([
      "report@2026-10-24T00:30:00Z",
      "report@2026-10-25T00:30:00Z", // the first 02:30 only
      "report@2026-10-26T01:30:00Z",
    ]);
    await engine.close();
  });

  it("after downtime launches once for the missed fires (once) or skips them (skip)", async () => {
    const p = clocked(
      {
        "definitions/once.yaml": `schedule: { rate: PT1H, overlap: allow }\n${DONE}`,
        "definitions/skip.yaml": `schedule: { rate: PT1H, overlap: allow, catchup: skip }\n${DONE}`,
      },
      undefined,
      "2026-03-29T09:30:00Z",
    );
    let engine = await open(p.config, { clock: p.clock });
    await runTo(engine, p.set, "2026-03-29T10:00:01Z");
    await engine.close();
    // Down from 10:00 to 14:20: the fires of 11:00 to 14:00 are missed.
    p.set("2026-03-29T14:20:00Z");
    engine = await open(p.config, { clock: p.clock });
    await runTo(engine, p.set, "2026-03-29T14:20:00Z");
    await runTo(engine, p.set, "2026-03-29T15:00:01Z");
    expect(await ids(engine)).toEqual([
      "once@2026-03-29T10:00:00Z",
      "once@2026-03-29T14:00:00Z",
      "once@2026-03-29T15:00:00Z",
      "skip@2026-03-29T10:00:00Z",
      "skip@2026-03-29T15:00:00Z",
    ]);
    const listed = await embeddedOperations(engine).schedules(1);
    expect(listed.schedules.find((s) => s.name === "skip")).toMatchObject({
      next: [at("2026-03-29T16:00:00Z")],
      last: { fire: at("2026-03-29T15:00:00Z"), result: "launched", instance: "skip@2026-03-29T15:00:00Z" },
    });
    await engine.close();
  });

  it("after a short downtime launches the latest missed fire, and skips the fires on time while it runs (overlap skip)", async () => {
    const p = clocked(
      { "definitions/job.yaml": `schedule: { rate: PT1M }\n${DONE}` },
      undefined,
      "2026-03-29T10:00:30Z",
    );
    let engine = await open(p.config, { clock: p.clock });
    await runTo(engine, p.set, "2026-03-29T10:01:01Z");
    await engine.close();
    // Down from 10:01 to 10:08:30: 10:02 and 10:03 were missed (over 5 minutes ago), 10:04 to
    // 10:08 are on time. They are handled together, each launch queued as the next is handled.
    p.set("2026-03-29T10:08:30Z");
    engine = await open(p.config, { clock: p.clock });
    await runTo(engine, p.set, "2026-03-29T10:08:30Z");
    expect(await ids(engine)).toEqual(["job@2026-03-29T10:01:00Z", "job@2026-03-29T10:03:00Z"]);
    const { schedules } = await embeddedOperations(engine).schedules(1);
    expect(schedules[0]?.last).toMatchObject({
      fire: at("2026-03-29T10:08:00Z"),
      result: "skipped",
      reason: "job@2026-03-29T10:03:00Z still runs (overlap skip)",
    });
    // The catch-up has finished: the next fire launches.
    await runTo(engine, p.set, "2026-03-29T10:09:01Z");
    expect((await ids(engine)).at(-1)).toBe("job@2026-03-29T10:09:00Z");
    await engine.close();
  });

  it("launches docket.config.yaml's schedules with their fields, and refuses a bad one naming the file and field", async () => {
    const p = clocked(
      {
        "definitions/greet.yaml":
          "context: { who: nobody }\ndo:\n  - assign: { property: said, value: \"'hi ' + context.who\" }\n",
      },
      `database: state/docket.sqlite
schedules:
  morning: { process: greet, cron: "0 9 * * *", timezone: America/New_York, fields: { who: team } }
`,
      "2026-03-29T12:00:00Z",
    );
    const engine = await open(p.config, { clock: p.clock });
    await runTo(engine, p.set, "2026-03-29T13:00:01Z");
    const shown = await embeddedOperations(engine).show("morning@2026-03-29T13:00:00Z");
    expect(shown).toMatchObject({ status: "completed", context: { who: "team", said: "hi team" } });
    const { schedules } = await embeddedOperations(engine).schedules(2);
    expect(schedules).toEqual([
      expect.objectContaining({
        name: "morning",
        process: "greet",
        origin: "config",
        next: [at("2026-03-30T13:00:00Z"), at("2026-03-31T13:00:00Z")],
      }),
    ]);
    await engine.close();

    const file = `${project({}).dir}/docket.config.yaml`;
    writeFileSync(
      file,
      "schedules:\n  nightly: { process: report, cron: '0 2 * * *', timezone: Europe/Berlinn }\n",
    );
    expect(() => loadConfig(file)).toThrow(ConfigError);
    expect(() => loadConfig(file)).toThrow(
      /docket\.config\.yaml: schedules\.nightly\.timezone: unknown time zone "Europe\/Berlinn"/,
    );
  });

  it("lists the schedules with `docket schedules` against docket serve", async () => {
    const p = clocked(
      { "definitions/report.yaml": `schedule: { cron: "30 2 * * *", timezone: Europe/Berlin }\n${DONE}` },
      undefined,
      "2026-03-28T12:00:00Z",
    );
    const engine = await open(p.config, { clock: p.clock });
    const server = serveApi(engine);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const run = (...args: string[]) =>
        promisify(execFile)(process.execPath, [
          `${process.cwd()}/bin/docket.js`,
          "schedules",
          "--url",
          url,
          ...args,
        ]);
      expect((await run("--count", "2")).stdout).toBe(
        [
          'report  launches report  cron "30 2 * * *" Europe/Berlin  overlap skip, catchup once (definition)',
          "  next 2026-03-29T01:30:00Z (2026-03-29 03:30 Europe/Berlin)",
          "  next 2026-03-30T00:30:00Z (2026-03-30 02:30 Europe/Berlin)",
          "",
        ].join("\n"),
      );
      const json = JSON.parse((await run("--json", "--count", "1")).stdout);
      expect(json.schedules[0]).toMatchObject({ name: "report", next: [at("2026-03-29T01:30:00Z")] });
      await expect(run("--count", "0")).rejects.toMatchObject({ code: 2 });
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await engine.close();
    }
  });
});

/** The digest a schedule's timers carry, as stored. */
async function stateHash(engine: EmbeddedEngine, name: string): Promise<string> {
  const row = engine.db
    .prepare<[string], { state: string }>("SELECT state FROM schedules WHERE name = ?")
    .get(name);
  return (JSON.parse(row?.state ?? "{}") as { hash: string }).hash;
}

/**
 * Schedules on the virtual clock (their fire times: fire-times.test.ts): how they are read and
 * refused, and the scheduler over the in-memory ports: every fire time launches exactly once,
 * however often its timer fires and across a restart, with the overlap and catch-up policies.
 */
import { describe, expect, it } from "vitest";
import { readDefinition } from "../../lib/language/index.js";
import { readScheduleMap, resolveSchedule, type Schedule, scheduleMap } from "../../lib/language/schedule.js";
import type { FireOutcome, ScheduleState, ScheduleStore } from "../../lib/ports.js";
import { MemoryHost } from "../../lib/runtime/memory-host.js";
import {
  declaredSchedules,
  fireDecision,
  MISFIRE_GRACE_MS,
  planFires,
  SCHEDULE_TIMER_INSTANCE,
  Scheduler,
  scheduleTimer,
} from "../../lib/runtime/schedules.js";
import { problemsOf } from "../support/definitions.js";

const at = (iso: string) => Date.parse(iso);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const schedule = (fields: Partial<Schedule> = {}): Schedule => ({
  name: "s",
  process: "p",
  rate: 3600,
  timezone: "UTC",
  fields: {},
  overlap: "allow",
  catchup: "once",
  origin: "config",
  ...fields,
});

describe("reading schedules", () => {
  it("reads `schedule:` (a map or a cron) and `schedules:` in YAML, and <schedule> in XML", () => {
    const yaml = readDefinition(
      `process: report
schedule: { cron: "30 2 * * *", timezone: Europe/Berlin, fields: { region: eu }, overlap: cancel, catchup: skip }
do: [ { action: a } ]
`,
      { format: "yaml" },
    );
    expect(yaml.schedules).toEqual([
      {
        cron: "30 2 * * *",
        timezone: "Europe/Berlin",
        fields: { region: "eu" },
        overlap: "cancel",
        catchup: "skip",
        pos: expect.any(Object),
      },
    ]);
    const list = readDefinition(
      `schedules:\n  - "@daily"\n  - { name: often, rate: rate(5 minutes) }\ndo: [ { action: a } ]\n`,
      { format: "yaml", name: "team/report" },
    );
    expect(list.schedules?.map(({ pos, ...s }) => s)).toEqual([
      { cron: "@daily" },
      { name: "often", rate: 300 },
    ]);
    expect(declaredSchedules([], [list]).schedules.map((s) => s.name)).toEqual(["team.report", "often"]);
    const xml = readDefinition(
      `<process name="report"><schedule cron="0 9 * * MON-FRI" timezone="America/New_York" fields='{"n":1}'/><action participant="a"/></process>`,
    );
    expect(xml.schedules?.map(({ pos, ...s }) => s)).toEqual([
      { cron: "0 9 * * MON-FRI", timezone: "America/New_York", fields: { n: 1 } },
    ]);
    expect(xml.root.children.map((c) => c.kind)).toEqual(["action"]);
    expect(resolveSchedule(xml.schedules?.[0] ?? {}, "report", "definition")).toMatchObject({
      name: "report",
      overlap: "skip",
      catchup: "once",
    });
  });

  it("refuses a bad cron, an unknown time zone, a short rate or two names alike, each at its line:col", () => {
    const problems = problemsOf(
      `schedules:
  - { cron: "61 * * * *" }
  - { cron: "0 3 * * *", timezone: Mars/Olympus }
  - { name: fast, rate: rate(30 seconds) }
  - { name: fast, rate: 30 }
  - { cron: "0 * * *" }
  - { rate: PT1H, cron: "@daily", colour: red }
  - { name: "x@y", cron: "H * * * *", overlap: never }
do: [ { action: a } ]
`,
      "report.yaml",
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^2:\d+ schedules\[0\]\.cron: cron "61 \* \* \* \*" is not valid: .*61/),
        expect.stringMatching(/^3:\d+ schedules\[1\]\.timezone: unknown time zone "Mars\/Olympus"/),
        expect.stringMatching(
          /^4:\d+ schedules\[2\]\.rate "rate\(30 seconds\)" is not a rate; use rate\(5 minutes\)/,
        ),
        expect.stringMatching(/^5:\d+ schedules\[3\]\.rate is 30 seconds; .* at least 60/),
        expect.stringMatching(/two schedules are named "fast"/),
        expect.stringMatching(/^6:\d+ schedules\[4\]\.cron: .* must have five fields/),
        expect.stringMatching(/^7:\d+ schedules\[5\] needs exactly one of cron and rate/),
        expect.stringMatching(/^7:\d+ unknown key "colour" at schedules\[5\]/),
        expect.stringMatching(/^8:\d+ schedules\[6\]\.name: schedule name "x@y" must be/),
        expect.stringMatching(/^8:\d+ schedules\[6\]\.cron: .*H \(a hashed value\) is not supported/),
        expect.stringMatching(/^8:\d+ schedules\[6\]\.overlap "never" is not one of skip, allow, cancel/),
      ]),
    );
    expect(
      problemsOf(
        `<process><schedule cron="0 0 * * *" timezone="Nowhere/Else"/><action participant="a"/></process>`,
      ),
    ).toEqual([expect.stringMatching(/^1:\d+ <schedule> 1\.timezone: unknown time zone "Nowhere\/Else"/)]);
  });

  it("reads docket.config.yaml's and the construct's map, naming each problem by its path", () => {
    const { schedules, problems } = readScheduleMap({
      nightly: { process: "report@abc123", cron: "30 2 * * *", timezone: "Europe/Berlin" },
      often: { process: "poll", rate: "rate(1 minute)", fields: { deep: true } },
      broken: { cron: "nope" },
    });
    expect(schedules.slice(0, 2)).toEqual([
      expect.objectContaining({ name: "nightly", process: "report", version: "abc123", origin: "config" }),
      expect.objectContaining({ name: "often", process: "poll", rate: 60, fields: { deep: true } }),
    ]);
    expect(problems).toEqual([
      "schedules.broken.process must name the process to launch: name or name@version",
      expect.stringMatching(/^schedules\.broken\.cron: cron "nope" must have five fields/),
    ]);
    expect(readScheduleMap({ x: { process: "p", rate: 60, colour: "red" } }).problems).toEqual([
      'unknown key "colour" at schedules.x; allowed: process, name, cron, rate, timezone, fields, overlap, catchup',
    ]);
    expect(readScheduleMap([1]).problems).toEqual([
      expect.stringMatching(/^schedules must map schedule names/),
    ]);
    // docket.config.yaml's schedules go to the construct (DocketStack, docket local) and read back alike.
    const good = schedules.slice(0, 2);
    expect(readScheduleMap(scheduleMap(good))).toEqual({ schedules: good, problems: [] });
  });

  it("keeps the first of two schedules of one name: the configured one, else the first process's", () => {
    const config = [schedule({ name: "report" })];
    const definitions = [
      { name: "report", schedules: [{ cron: "@daily" }] },
      { name: "other", schedules: [{ name: "report", cron: "@hourly" }] },
    ];
    const { schedules, conflicts } = declaredSchedules(config, definitions);
    expect(schedules).toEqual(config);
    expect(conflicts).toEqual([
      expect.stringMatching(/^schedule report of other \(definition\) is ignored: p's \(config\)/),
      expect.stringMatching(/^schedule report of report \(definition\) is ignored/),
    ]);
  });
});

describe("planning and firing (pure)", () => {
  const hourly = schedule({ rate: 3600 });
  const t0 = at("2026-03-29T10:00:00Z");

  it("arms a new schedule's fires from now on, and none it already armed", () => {
    expect(planFires(hourly, undefined, t0 + 1, t0 + 3 * HOUR)).toEqual({
      arm: [t0 + HOUR, t0 + 2 * HOUR, t0 + 3 * HOUR],
      planned: t0 + 3 * HOUR,
      missed: false,
    });
    expect(planFires(hourly, t0 + 3 * HOUR, t0 + 2 * HOUR, t0 + 3 * HOUR).arm).toEqual([]);
    // Chained (embedded): the next fire is armed however far, and only when none is still to come.
    expect(planFires(schedule({ cron: "@yearly" }), undefined, t0, t0, true).arm).toEqual([
      at("2027-01-01T00:00:00Z"),
    ]);
    expect(planFires(hourly, t0 + HOUR, t0 + 10, t0 + 10, true).arm).toEqual([]);
  });

  it("after downtime, arms the latest missed fire under catchup once and none under skip", () => {
    const down = t0 + 5 * HOUR + 30 * MINUTE;
    expect(planFires(hourly, t0, down, down)).toEqual({
      arm: [t0 + 5 * HOUR],
      planned: t0 + 5 * HOUR,
      missed: true,
    });
    const skip = planFires({ ...hourly, catchup: "skip" }, t0, down, down, true);
    expect(skip).toEqual({ arm: [t0 + 6 * HOUR], planned: t0 + 6 * HOUR, missed: true });
  });

  it("launches a fire on time, a late one only as the once catch-up for the latest passed fire", () => {
    const fire = t0;
    expect(fireDecision(hourly, fire, fire + MISFIRE_GRACE_MS)).toBe("launch");
    expect(fireDecision(hourly, fire, fire + 30 * MINUTE)).toBe("launch");
    // Missed, then the next fire came on time: the catch-up launches still (overlap decides the rest).
    expect(fireDecision(hourly, fire, fire + HOUR + 1)).toBe("launch");
    expect(fireDecision(hourly, fire, fire + HOUR + MISFIRE_GRACE_MS + 1)).toBe("missed");
    expect(fireDecision({ ...hourly, catchup: "skip" }, fire, fire + 30 * MINUTE)).toBe("missed");
  });
});

/** Schedules' state in memory, as the SQLite and DynamoDB stores keep it. */
class MemoryScheduleStore implements ScheduleStore {
  readonly states = new Map<string, ScheduleState>();
  async list() {
    return [...this.states.values()];
  }
  async get(name: string) {
    return this.states.get(name);
  }
  async plan(state: Pick<ScheduleState, "schedule" | "hash" | "planned">) {
    this.states.set(state.schedule.name, { ...this.states.get(state.schedule.name), ...state });
  }
  async recordFire(name: string, outcome: FireOutcome) {
    const stored = this.states.get(name);
    if (!stored || (stored.last && stored.last.fire > outcome.fire)) return;
    const launched = outcome.instance ? { fire: outcome.fire, instance: outcome.instance } : stored.launched;
    this.states.set(name, { ...stored, last: outcome, ...(launched ? { launched } : {}) });
  }
  async remove(name: string) {
    this.states.delete(name);
  }
}

const RUNS = "do:\n  - action: worker\n";
const DONE = "do:\n  - assign: { property: ran, value: 'true' }\n";

/** A memory host and a scheduler over it (chained, as embedded); `restart` is a new scheduler over the same state. */
async function scheduled(source: string, start: string) {
  const host = new MemoryHost({ now: at(start) });
  await host.definitions.register("job.yaml", source);
  const store = new MemoryScheduleStore();
  let scheduler = new Scheduler({ store, runtime: host.runtime, chain: true });
  const fired: (FireOutcome | undefined)[] = [];
  /** Fires each due timer at its own time (or at `late`, as after downtime), up to `until`. */
  const runUntil = async (until: number) => {
    for (let next = host.dispatcher.nextTimer(until); next; next = host.dispatcher.nextTimer(until)) {
      host.dispatcher.timers.delete(next.timer);
      host.clock.current = Math.max(host.clock.current, next.due);
      if (next.instance === SCHEDULE_TIMER_INSTANCE) fired.push(await scheduler.fire(next));
      else await host.send(next.instance, { type: "timer", node: next.node, timer: next.timer });
      await host.drain();
    }
    host.clock.current = Math.max(host.clock.current, until);
  };
  const reconcile = async () => {
    const definition = await host.definitions.resolve("job");
    await scheduler.reconcile(declaredSchedules([], definition ? [definition.definition] : []).schedules);
  };
  await reconcile();
  return {
    host,
    store,
    fired,
    runUntil,
    reconcile,
    ids: () => host.snapshots().map((s) => s.id),
    restart: async () => {
      scheduler = new Scheduler({ store, runtime: host.runtime, chain: true });
      await reconcile();
    },
    fireAgain: (fire: number) =>
      scheduler.fire(scheduleTimer("job", store.states.get("job")?.hash ?? "", fire)),
  };
}

describe("the scheduler on the virtual clock", () => {
  it("launches each fire time exactly once, though its timer fires twice and the engine restarts", async () => {
    const s = await scheduled(`schedule: { rate: PT1H, overlap: allow }\n${DONE}`, "2026-03-29T09:59:00Z");
    await s.runUntil(at("2026-03-29T12:30:00Z"));
    expect(s.ids()).toEqual([
      "job@2026-03-29T10:00:00Z",
      "job@2026-03-29T11:00:00Z",
      "job@2026-03-29T12:00:00Z",
    ]);
    // The same fire again (SQS delivered it twice): the launch is ignored.
    await s.fireAgain(at("2026-03-29T12:00:00Z"));
    await s.host.drain();
    await s.restart();
    await s.restart();
    await s.runUntil(at("2026-03-29T13:10:00Z"));
    expect(s.ids()).toEqual([
      "job@2026-03-29T10:00:00Z",
      "job@2026-03-29T11:00:00Z",
      "job@2026-03-29T12:00:00Z",
      "job@2026-03-29T13:00:00Z",
    ]);
    expect(s.host.history("job@2026-03-29T12:00:00Z").map((r) => r.message.type)).toEqual([
      "launch",
      "launch",
    ]);
    expect(s.host.snapshots().every((snapshot) => snapshot.status === "completed")).toBe(true);
  });

  it("launches a Berlin 02:30 cron once a day across both changes of the clock", async () => {
    const s = await scheduled(
      `schedule: { cron: "30 2 * * *", timezone: Europe/Berlin, overlap: allow }\n${DONE}`,
      "2026-03-27T00:00:00Z",
    );
    await s.runUntil(at("2026-03-29T01:00:00Z"));
    await s.restart(); // on the day of the change, before its fire
    await s.runUntil(at("2026-03-31T00:00:00Z"));
    expect(s.ids()).toEqual([
      "job@2026-03-27T01:30:00Z",
      "job@2026-03-28T01:30:00Z",
      "job@2026-03-29T01:30:00Z",
      "job@2026-03-30T00:30:00Z",
    ]);
    s.host.clock.current = at("2026-10-24T00:00:00Z");
    await s.restart(); // months later: catch-up once launches the latest missed fire, at once
    await s.runUntil(at("2026-10-27T00:00:00Z"));
    expect(s.ids().slice(4)).toEqual([
      "job@2026-10-23T00:30:00Z",
      "job@2026-10-24T00:30:00Z",
      "job@2026-10-25T00:30:00Z",
      "job@2026-10-26T01:30:00Z",
    ]);
  });

  it("skips a fire while the last launch runs (overlap skip), and launches once it has finished", async () => {
    const s = await scheduled(`schedule: { rate: PT1H }\n${RUNS}`, "2026-03-29T09:59:00Z");
    await s.runUntil(at("2026-03-29T11:30:00Z"));
    expect(s.ids()).toEqual(["job@2026-03-29T10:00:00Z"]);
    expect(s.fired.map((o) => o?.result)).toEqual(["launched", "skipped"]);
    expect(s.fired[1]?.reason).toBe("job@2026-03-29T10:00:00Z still runs (overlap skip)");
    await s.host.send("job@2026-03-29T10:00:00Z", { type: "operator", action: "cancel" });
    await s.runUntil(at("2026-03-29T12:30:00Z"));
    expect(s.ids()).toEqual(["job@2026-03-29T10:00:00Z", "job@2026-03-29T12:00:00Z"]);
  });

  it("cancels the last launch and launches (overlap cancel), or runs both (overlap allow)", async () => {
    const cancel = await scheduled(
      `schedule: { rate: PT1H, overlap: cancel }\n${RUNS}`,
      "2026-03-29T09:59:00Z",
    );
    await cancel.runUntil(at("2026-03-29T11:30:00Z"));
    expect(cancel.host.snapshots().map((x) => [x.id, x.status])).toEqual([
      ["job@2026-03-29T10:00:00Z", "canceled"],
      ["job@2026-03-29T11:00:00Z", "running"],
    ]);
    const allow = await scheduled(
      `schedule: { rate: PT1H, overlap: allow }\n${RUNS}`,
      "2026-03-29T09:59:00Z",
    );
    await allow.runUntil(at("2026-03-29T11:30:00Z"));
    expect(allow.host.snapshots().map((x) => x.status)).toEqual(["running", "running"]);
  });

  it("after downtime launches once for the missed fires (catchup once), or none (catchup skip)", async () => {
    for (const catchup of ["once", "skip"] as const) {
      const s = await scheduled(
        `schedule: { rate: PT1H, overlap: allow, catchup: ${catchup} }\n${DONE}`,
        "2026-03-29T09:59:00Z",
      );
      await s.runUntil(at("2026-03-29T10:30:00Z"));
      // Down from 10:30 to 14:20: the fires of 11:00 to 14:00 were missed.
      s.host.clock.current = at("2026-03-29T14:20:00Z");
      await s.restart();
      await s.runUntil(at("2026-03-29T15:10:00Z"));
      expect(s.ids(), catchup).toEqual([
        "job@2026-03-29T10:00:00Z",
        ...(catchup === "once" ? ["job@2026-03-29T14:00:00Z"] : []),
        "job@2026-03-29T15:00:00Z",
      ]);
      expect(s.fired.map((o) => o?.result)).toEqual(
        catchup === "once"
          ? ["launched", "missed", "launched", "launched"]
          : ["launched", "missed", "launched"],
      );
    }
  });

  it("misses a catch-up handled after a later fire launched (SQS delivers delayed timers in no set order)", async () => {
    const s = await scheduled(`schedule: { rate: PT1H, overlap: allow }\n${DONE}`, "2026-03-29T09:59:00Z");
    await s.runUntil(at("2026-03-29T10:30:00Z"));
    // Down from 10:30 to 12:03: 11:00 was missed, 12:00 is on time; 12:00's timer comes first.
    s.host.clock.current = at("2026-03-29T12:03:00Z");
    expect(await s.fireAgain(at("2026-03-29T12:00:00Z"))).toMatchObject({ result: "launched" });
    await s.host.drain();
    expect(await s.fireAgain(at("2026-03-29T11:00:00Z"))).toMatchObject({
      result: "missed",
      reason: "the engine was down at its time, and the later job@2026-03-29T12:00:00Z launched already",
    });
    await s.host.drain();
    expect(s.ids()).toEqual(["job@2026-03-29T10:00:00Z", "job@2026-03-29T12:00:00Z"]);
  });

  it("drops the timers of a schedule changed or removed since they were armed", async () => {
    const s = await scheduled(`schedule: { rate: PT1H, overlap: allow }\n${DONE}`, "2026-03-29T09:59:00Z");
    await s.runUntil(at("2026-03-29T10:30:00Z"));
    // Every two hours from now on: the hourly version's 11:00 fire (armed) is stale.
    await s.host.definitions.register("job.yaml", `schedule: { rate: PT2H, overlap: allow }\n${DONE}`);
    await s.reconcile();
    await s.runUntil(at("2026-03-29T12:30:00Z"));
    expect(s.ids()).toEqual(["job@2026-03-29T10:00:00Z", "job@2026-03-29T12:00:00Z"]);
    expect(s.fired.map((o) => o?.result)).toEqual(["launched", undefined, "launched"]);
    // Only its fields changed: the 14:00 fire armed before is dropped, the new one launches.
    await s.host.definitions.register(
      "job.yaml",
      `schedule: { rate: PT2H, overlap: allow, fields: { ran: false } }\n${DONE}`,
    );
    await s.reconcile();
    await s.runUntil(at("2026-03-29T14:30:00Z"));
    expect(s.ids()).toHaveLength(3);
    expect(s.fired.map((o) => o?.result)).toEqual(["launched", undefined, "launched", undefined, "launched"]);
    await s.host.definitions.register("job.yaml", DONE);
    await s.reconcile();
    expect(s.store.states.size).toBe(0);
    await s.runUntil(at("2026-03-29T18:30:00Z"));
    expect(s.ids()).toHaveLength(3);
    expect(s.host.pendingTimers()).toEqual([]);
  });

  it("arms a new schedule's next fire at once on a clock that moves between two reads", async () => {
    const host = new MemoryHost({ now: at("2026-03-29T09:59:00Z") });
    host.clock.now = () => host.clock.current++; // as a real clock: each read a millisecond later
    const scheduler = new Scheduler({ store: new MemoryScheduleStore(), runtime: host.runtime, chain: true });
    expect(await scheduler.reconcile([schedule({ name: "hourly" })])).toBe(1);
    expect(host.pendingTimers().map((timer) => timer.due)).toEqual([at("2026-03-29T10:00:00Z")]);
  });

  it("records a launch that cannot be made, and tries again at the next fire", async () => {
    const host = new MemoryHost({ now: at("2026-03-29T09:59:00Z") });
    const store = new MemoryScheduleStore();
    const scheduler = new Scheduler({ store, runtime: host.runtime, chain: true });
    await scheduler.reconcile([schedule({ name: "ghost", process: "nope" })]);
    host.clock.current = at("2026-03-29T10:00:00Z");
    const [timer] = host.pendingTimers();
    host.dispatcher.timers.clear();
    expect(await scheduler.fire(timer ?? { timer: "", node: "" })).toMatchObject({
      result: "failed",
      reason: 'no process "nope" is registered',
    });
    expect(host.pendingTimers().map((t) => t.due)).toEqual([at("2026-03-29T11:00:00Z")]);
    expect((await scheduler.list(2))[0]).toMatchObject({
      name: "ghost",
      next: [at("2026-03-29T11:00:00Z"), at("2026-03-29T12:00:00Z")],
      last: { result: "failed" },
    });
  });
});

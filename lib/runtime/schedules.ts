/**
 * Scheduled launches, written once over the ports: each fire of a schedule is one of the engine's
 * own timers (Dispatcher.startTimer), and a fire launches `<schedule>@<fire time>`, an id that
 * starts nothing new when it exists already. A fire delivered twice, a plan made twice, a restart
 * between any two steps: each launches that id again at most, and the runtime ignores a launch of
 * an instance that exists. So every fire time launches exactly once (or is skipped or missed, as
 * the policies say), on either host.
 *
 * - Plan: the fires in (planned, horizon] are armed as timers and `planned` moves to the last.
 *   The embedded engine plans up to now and always arms the next fire (`chain`), each fire
 *   planning the one after; on AWS the sweep plans fifteen minutes ahead every minute, so the
 *   timers are SQS messages delayed until their fire (nothing chains: a lost fire loses no more).
 * - Catch-up: fires that passed more than MISFIRE_GRACE_MS ago without being handled were missed
 *   (the engine was down). `skip` drops them; `once` launches one, for the latest of them.
 * - Overlap: while the schedule's last launch has not finished, `skip` launches nothing, `allow`
 *   launches anyway, `cancel` cancels the last one and launches.
 */
import { FINAL_STATUSES } from "../engine/types.js";
import { DocketError, InfrastructureError } from "../errors.js";
import { firesBetween, fireTimeText, lastFire, nextFire } from "../language/fire-times.js";
import type { Definition } from "../language/model.js";
import { resolveSchedule, type Schedule } from "../language/schedule.js";
import type { FireOutcome, ScheduleState, ScheduleStore } from "../ports.js";
import { sha256Hex } from "./hex.js";
import type { Runtime } from "./runtime.js";

/** The instance a schedule's timers name: never an instance's id (ids start with a letter or digit). */
export const SCHEDULE_TIMER_INSTANCE = "#schedules";
/** A fire handled within this long of its time is on time; later, it was missed. */
export const MISFIRE_GRACE_MS = 5 * 60 * 1000;
/** The most fires one plan arms of a schedule (a rate of a minute over 15 minutes arms 15). */
const MAX_ARMED = 100;
const TIMER_PREFIX = "schedule:";

/** The id of the instance a fire launches: `<schedule>@<fire time>`. */
export function launchId(name: string, fire: number): string {
  return `${name}@${fireTimeText(fire)}`;
}

/**
 * The timer that fires a schedule at `fire`. Its id holds the schedule's digest (as `node` does):
 * a changed schedule's fire at the same time is a timer of its own, not one kept from before (a
 * timer whose id exists is not started again).
 */
export function scheduleTimer(name: string, hash: string, fire: number) {
  return {
    timer: `${TIMER_PREFIX}${launchId(name, fire)}#${hash}`,
    instance: SCHEDULE_TIMER_INSTANCE,
    node: hash,
    due: fire,
  };
}

/** The schedule and fire time a timer names, when it is a schedule's. */
export function parseScheduleTimer(timer: {
  timer: string;
  instance?: string;
  node: string;
}): { name: string; fire: number; hash: string } | undefined {
  if (timer.instance !== undefined && timer.instance !== SCHEDULE_TIMER_INSTANCE) return undefined;
  const match = /^schedule:(.+)@([^@#]+)#([0-9a-f]+)$/.exec(timer.timer);
  const fire = Date.parse(match?.[2] ?? "");
  if (!match || !Number.isFinite(fire)) return undefined;
  return { name: match[1] as string, fire, hash: match[3] as string };
}

/** A digest of a schedule's declaration (16 hex characters). */
export async function scheduleHash(schedule: Schedule): Promise<string> {
  return (await sha256Hex(JSON.stringify(schedule))).slice(0, 16);
}

/**
 * The fires to arm now, and how far that plans the schedule. `planned` undefined: a new (or
 * changed) schedule, which fires from now on. `chain`: arm the next fire however far it is.
 */
export function planFires(
  schedule: Schedule,
  planned: number | undefined,
  now: number,
  horizon: number,
  chain = false,
): { arm: number[]; planned: number; missed: boolean } {
  const from = planned ?? now;
  const cut = now - MISFIRE_GRACE_MS;
  const arm: number[] = [];
  const latestMissed = planned === undefined ? undefined : lastFire(schedule, cut);
  const missed = latestMissed !== undefined && latestMissed > from;
  if (missed && schedule.catchup === "once") arm.push(latestMissed);
  const start = Math.max(from, cut);
  arm.push(...firesBetween(schedule, start, horizon, MAX_ARMED));
  // Nothing armed is still to come: the next fire is armed, and firing it plans the one after.
  if (chain && from <= horizon) arm.push(nextFire(schedule, Math.max(start, horizon)));
  // Planned as far as armed (or given up): a fire beyond that is found again by the next plan.
  return { arm, planned: Math.max(from, ...arm, missed ? latestMissed : from), missed };
}

/**
 * Whether a fire handled at `now` launches: on time, or the one launch catch-up `once` makes, for
 * the latest missed fire (the next after it is not missed: still to come, or on time).
 */
export function fireDecision(schedule: Schedule, fire: number, now: number): "launch" | "missed" {
  if (now - fire <= MISFIRE_GRACE_MS) return "launch";
  return schedule.catchup === "once" && nextFire(schedule, fire) >= now - MISFIRE_GRACE_MS
    ? "launch"
    : "missed";
}

/** Why a fire handled at `now` launches nothing (undefined when it launches, as the policies say). */
function missedBecause(state: ScheduleState, fire: number, now: number): string | undefined {
  if (fireDecision(state.schedule, fire, now) === "missed")
    return "the engine was down at its time (catchup skip, or a later fire was missed too)";
  // A catch-up delivered after a later fire launched (SQS delivers delayed timers in no set order).
  if (now - fire > MISFIRE_GRACE_MS && state.launched && state.launched.fire > fire)
    return `the engine was down at its time, and the later ${state.launched.instance} launched already`;
  return undefined;
}

/**
 * The schedules in force: those configured (docket.config.yaml, the construct's props), then those
 * each process's latest version declares. A name declared twice keeps its first declaration (the
 * configured one, else the process first by name), and the conflict is said.
 */
export function declaredSchedules(
  configured: readonly Schedule[],
  definitions: readonly Pick<Definition, "name" | "schedules">[],
): { schedules: Schedule[]; conflicts: string[] } {
  const byName = new Map<string, Schedule>();
  const conflicts: string[] = [];
  const sorted = [...definitions].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const all = [
    ...configured,
    ...sorted.flatMap((d) => (d.schedules ?? []).map((decl) => resolveSchedule(decl, d.name, "definition"))),
  ];
  for (const schedule of all) {
    const first = byName.get(schedule.name);
    if (!first) byName.set(schedule.name, schedule);
    else
      conflicts.push(
        `schedule ${schedule.name} of ${schedule.process} (${schedule.origin}) is ignored: ${first.process}'s (${first.origin}) has that name`,
      );
  }
  return { schedules: [...byName.values()], conflicts };
}

/** A schedule as `docket schedules` lists it. */
export interface ScheduleView extends Schedule {
  /** The next fire times (ms). */
  readonly next: readonly number[];
  readonly last?: FireOutcome;
  readonly launched?: ScheduleState["launched"];
}

export interface SchedulerDeps {
  readonly store: ScheduleStore;
  readonly runtime: Runtime;
  /** Embedded: each fire arms the next (there is no sweep). */
  readonly chain?: boolean;
  readonly log?: (line: string) => void;
}

export class Scheduler {
  constructor(private readonly deps: SchedulerDeps) {}

  private get now(): number {
    return this.deps.runtime.deps.clock.now();
  }

  /**
   * Brings the stored schedules in line with those declared (a changed one is planned afresh, one
   * no longer declared is dropped: its armed timers are then stale) and plans each up to
   * `horizon`. Returns the fires armed.
   */
  async reconcile(declared: readonly Schedule[], horizon?: number): Promise<number> {
    const { store } = this.deps;
    // One instant for every plan: a new schedule planned from a later one than its horizon would
    // arm nothing (and fire only when a later reconcile came).
    const now = this.now;
    const stored = new Map((await store.list()).map((state) => [state.schedule.name, state]));
    const names = new Set(declared.map((schedule) => schedule.name));
    for (const name of stored.keys()) if (!names.has(name)) await store.remove(name);
    let armed = 0;
    for (const schedule of declared) {
      const hash = await scheduleHash(schedule);
      const state = stored.get(schedule.name);
      const planned = state?.hash === hash ? state.planned : undefined;
      armed += await this.plan(schedule, hash, planned, now, horizon ?? now);
    }
    return armed;
  }

  private async plan(
    schedule: Schedule,
    hash: string,
    planned: number | undefined,
    now: number,
    horizon: number,
  ): Promise<number> {
    const plan = planFires(schedule, planned, now, horizon, this.deps.chain);
    if (plan.planned === planned) return 0;
    if (plan.missed)
      this.deps.log?.(
        `schedule ${schedule.name}: fires missed since ${fireTimeText(planned ?? now)} (catchup ${schedule.catchup})`,
      );
    // Timers first: a plan stored before its timers were could lose them; armed twice, a fire is
    // handled twice, which launches nothing new.
    const { dispatcher } = this.deps.runtime.deps;
    for (const fire of plan.arm) await dispatcher.startTimer(scheduleTimer(schedule.name, hash, fire));
    await this.deps.store.plan({ schedule, hash, planned: plan.planned });
    return plan.arm.length;
  }

  /** A schedule's timer has fired: launches `<schedule>@<fire time>`, or says why not. */
  async fire(timer: { timer: string; node: string }): Promise<FireOutcome | undefined> {
    const parsed = parseScheduleTimer(timer);
    const state = parsed && (await this.deps.store.get(parsed.name));
    if (!parsed || !state || state.hash !== parsed.hash) {
      this.deps.log?.(`dropped ${timer.timer}: its schedule was changed or removed`);
      return undefined;
    }
    const { fire } = parsed;
    const now = this.now;
    const missed = missedBecause(state, fire, now);
    const outcome = missed
      ? ({ fire, at: now, result: "missed", reason: missed } as const)
      : await this.launch(state, fire, now);
    await this.deps.store.recordFire(state.schedule.name, outcome);
    if (outcome.result !== "launched")
      this.deps.log?.(
        `schedule ${state.schedule.name} at ${fireTimeText(fire)}: ${outcome.result}, ${outcome.reason}`,
      );
    if (this.deps.chain) await this.plan(state.schedule, state.hash, Math.max(state.planned, fire), now, now);
    return outcome;
  }

  private async launch(state: ScheduleState, fire: number, now: number): Promise<FireOutcome> {
    const { schedule } = state;
    const { runtime } = this.deps;
    const previous = state.launched && state.launched.fire < fire ? state.launched : undefined;
    if (previous && schedule.overlap !== "allow" && (await this.stillRuns(previous, now))) {
      if (schedule.overlap === "skip")
        return { fire, at: now, result: "skipped", reason: `${previous.instance} still runs (overlap skip)` };
      await runtime.deps.dispatcher.enqueue(previous.instance, {
        type: "operator",
        action: "cancel",
        reason: `schedule ${schedule.name} launched ${fireTimeText(fire)} (overlap cancel)`,
      });
    }
    const id = launchId(schedule.name, fire);
    try {
      await runtime.launch({
        process: schedule.process,
        ...(schedule.version ? { version: schedule.version } : {}),
        fields: schedule.fields,
        id,
      });
      return { fire, at: now, result: "launched", instance: id };
    } catch (error) {
      // The store or a queue failing is retried (the timer fires again); a launch that can never
      // be made (no such process) is recorded, and the next fire tries again.
      if (!(error instanceof DocketError) || error instanceof InfrastructureError) throw error;
      return { fire, at: now, result: "failed", reason: error.message };
    }
  }

  /**
   * Whether the last launch has not finished. One not stored yet was launched so lately that its
   * launch is still queued (fires handled together after downtime each meet their predecessor so),
   * unless it was launched longer ago than the grace: its launch was then set aside, and waiting
   * for it would skip every fire to come.
   */
  private async stillRuns(launched: NonNullable<ScheduleState["launched"]>, now: number): Promise<boolean> {
    const stored = await this.deps.runtime.deps.store.load(launched.instance);
    if (stored) return !FINAL_STATUSES.includes(stored.snapshot.status);
    return now - (launched.at ?? launched.fire) <= MISFIRE_GRACE_MS;
  }

  /** Every schedule in force with its next `count` fire times, by name. */
  async list(count = 3): Promise<ScheduleView[]> {
    const now = this.now;
    const states = await this.deps.store.list();
    return states
      .map(({ schedule, last, launched }) => {
        const next: number[] = [];
        let fire = now;
        while (next.length < count) {
          fire = nextFire(schedule, fire);
          next.push(fire);
        }
        return { ...schedule, next, ...(last ? { last } : {}), ...(launched ? { launched } : {}) };
      })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

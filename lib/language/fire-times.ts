/**
 * The fire times of a schedule.
 *
 * A cron is read on the wall clock of its time zone, and every wall time it matches fires exactly
 * once, whatever instant the enumeration starts from (cron-parser's own time-zone handling depends
 * on where it starts around a change, so it is used in UTC only, on wall times):
 * - a wall time the spring change skips fires as the same time after it (02:30 → 03:30 summer
 *   time); two wall times that land on one instant fire once;
 * - a wall time the autumn change repeats fires at its first occurrence only.
 * A rate fires at every whole multiple of its period since the epoch (rate(1 hour): on the hour, UTC).
 */
import { CronExpressionParser } from "cron-parser";
import type { Schedule } from "./schedule.js";

type Timing = Pick<Schedule, "cron" | "rate" | "timezone">;

/** How far apart a zone's offsets may be around a change (the largest change in use is 2 hours). */
const MARGIN_MS = 3 * 3600 * 1000;
const formatters = new Map<string, Intl.DateTimeFormat>();

/** The zone's wall clock at `instant`, as milliseconds since the epoch read as UTC (seconds kept). */
function wallOf(zone: string, instant: number): number {
  if (zone === "UTC") return instant;
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(zone, format);
  }
  const part: Record<string, number> = {};
  for (const { type, value } of format.formatToParts(new Date(instant))) part[type] = Number(value);
  const seconds = Date.UTC(
    part.year ?? 1970,
    (part.month ?? 1) - 1,
    part.day,
    part.hour,
    part.minute,
    part.second,
  );
  return seconds + (((instant % 1000) + 1000) % 1000);
}

/**
 * The instant a wall time names: the earlier of two when the autumn change repeats it; when the
 * spring change skips it, the instant the offset before the change gives (the same time after it).
 */
function instantOf(zone: string, wall: number): number {
  if (zone === "UTC") return wall;
  const before = wall - (wallOf(zone, wall - 12 * 3600 * 1000) - (wall - 12 * 3600 * 1000));
  const after = wall - (wallOf(zone, wall + 12 * 3600 * 1000) - (wall + 12 * 3600 * 1000));
  const valid = [before, after].filter((instant) => wallOf(zone, instant) === wall);
  return valid.length ? Math.min(...valid) : before;
}

const parsed = new Map<string, ReturnType<typeof CronExpressionParser.parse>>();

/** The cron read in UTC, its iteration moved to `wall` (parsing is most of the cost: kept per expression). */
function cronFrom(cron: string, wall: number) {
  let expression = parsed.get(cron);
  if (!expression) {
    if (parsed.size >= 1000) parsed.clear();
    expression = CronExpressionParser.parse(cron.trim(), { tz: "UTC" });
    parsed.set(cron, expression);
  }
  expression.reset(new Date(wall));
  return expression;
}

/** The zone's offset from UTC at `instant` (ms), when it is the same throughout MARGIN_MS either side. */
function steadyOffset(zone: string, instant: number): number | undefined {
  const offset = (at: number) => wallOf(zone, at) - at;
  const here = offset(instant);
  return offset(instant - MARGIN_MS) === here && offset(instant + MARGIN_MS) === here ? here : undefined;
}

/** The first fire strictly after `after` (ms). */
export function nextFire(schedule: Timing, after: number): number {
  if (schedule.cron === undefined) {
    const period = (schedule.rate ?? 3600) * 1000;
    return Math.floor(after / period) * period + period;
  }
  const zone = schedule.timezone;
  // No change of offset near: the next wall time is the next fire, if it is near too.
  const steady = steadyOffset(zone, after);
  if (steady !== undefined) {
    const wall = cronFrom(schedule.cron, after + steady)
      .next()
      .getTime();
    const instant = wall - steady;
    if (instant <= after + MARGIN_MS && instantOf(zone, wall) === instant) return instant;
  }
  const walls = cronFrom(schedule.cron, wallOf(zone, after) - MARGIN_MS);
  let best: number | undefined;
  for (;;) {
    const wall = walls.next().getTime();
    // Walls this far past the best one's cannot name an earlier instant.
    if (best !== undefined && wall > wallOf(zone, best) + MARGIN_MS) return best;
    const instant = instantOf(zone, wall);
    if (instant > after && (best === undefined || instant < best)) best = instant;
  }
}

/** The last fire at or before `at` (ms). */
export function lastFire(schedule: Timing, at: number): number {
  if (schedule.cron === undefined) {
    const period = (schedule.rate ?? 3600) * 1000;
    return Math.floor(at / period) * period;
  }
  const zone = schedule.timezone;
  const steady = steadyOffset(zone, at);
  if (steady !== undefined) {
    const wall = cronFrom(schedule.cron, at + steady + 1)
      .prev()
      .getTime();
    const instant = wall - steady;
    // The wall time may also name an instant before the window (an autumn repeat): checked.
    if (instant >= at - MARGIN_MS && instantOf(zone, wall) === instant) return instant;
  }
  const walls = cronFrom(schedule.cron, wallOf(zone, at) + MARGIN_MS + 1);
  let best: number | undefined;
  for (;;) {
    const wall = walls.prev().getTime();
    if (best !== undefined && wall < wallOf(zone, best) - MARGIN_MS) return best;
    const instant = instantOf(zone, wall);
    if (instant <= at && (best === undefined || instant > best)) best = instant;
  }
}

/** The fires in (`after`, `until`], at most `limit` of them. */
export function firesBetween(schedule: Timing, after: number, until: number, limit = 100): number[] {
  const fires: number[] = [];
  for (
    let fire = nextFire(schedule, after);
    fire <= until && fires.length < limit;
    fire = nextFire(schedule, fire)
  )
    fires.push(fire);
  return fires;
}

/** A fire time as launch ids and listings write it: ISO-8601 in UTC, to the second. */
export function fireTimeText(fire: number): string {
  return new Date(fire).toISOString().replace(/\.\d{3}Z$/, "Z");
}

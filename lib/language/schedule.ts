/**
 * Schedules: what a definition, docket.config.yaml or the construct's props declare (a cron or a
 * rate, a time zone, launch fields, an overlap and a catch-up policy), checked the same way
 * wherever written. The fire times they give: fire-times.ts.
 */
import { CronExpressionParser } from "cron-parser";
import { DURATION_HELP, parseDuration } from "./duration.js";
import type { JsonObject, SourcePos } from "./model.js";
import { utf8Length } from "./xml.js";

export type OverlapPolicy = "skip" | "allow" | "cancel";
export type CatchUpPolicy = "skip" | "once";
export const OVERLAP_POLICIES: readonly OverlapPolicy[] = ["skip", "allow", "cancel"];
export const CATCH_UP_POLICIES: readonly CatchUpPolicy[] = ["skip", "once"];
export const SCHEDULE_KEYS = ["name", "cron", "rate", "timezone", "fields", "overlap", "catchup"] as const;

/** A schedule as written in a definition (its process is the definition's own). */
export interface ScheduleDecl {
  /** Default: the process's name. */
  readonly name?: string;
  /** Five fields (minute hour day-of-month month day-of-week) or @hourly, @daily, …; or `rate`. */
  readonly cron?: string;
  /** Seconds between fires (at least MIN_RATE_SECONDS); or `cron`. */
  readonly rate?: number;
  /** An IANA time zone (`Europe/Berlin`); default UTC. */
  readonly timezone?: string;
  readonly fields?: JsonObject;
  readonly overlap?: OverlapPolicy;
  readonly catchup?: CatchUpPolicy;
  readonly pos?: SourcePos;
}

/** A schedule in force: its process, its policies with their defaults, and where it was declared. */
export interface Schedule {
  readonly name: string;
  readonly process: string;
  /** A version to launch (config only); default: the latest at each fire. */
  readonly version?: string;
  readonly cron?: string;
  readonly rate?: number;
  readonly timezone: string;
  readonly fields: JsonObject;
  readonly overlap: OverlapPolicy;
  readonly catchup: CatchUpPolicy;
  readonly origin: "config" | "definition";
}

/**
 * A launch's id is `<schedule>@<fire time>` (`nightly@2026-03-29T01:30:00Z`), at most 80
 * characters (lib/runtime/ids.ts): the fire time takes 21 of them.
 */
export const MAX_SCHEDULE_NAME = 59;
export const MIN_RATE_SECONDS = 60;
/** Launch fields are carried in every fire (and in the sweep function's environment on AWS). */
export const MAX_SCHEDULE_FIELDS_BYTES = 2048;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const RATE = /^rate\(\s*(\d+)\s+(minutes?|hours?|days?)\s*\)$/i;
const UNIT_SECONDS: Record<string, number> = { minute: 60, hour: 3600, day: 86400 };
const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

export type Report = (message: string, pos?: SourcePos, path?: string) => void;
export type ScheduleFields = ReadonlyMap<string, { readonly value: unknown; readonly pos?: SourcePos }>;

/** The name a definition's unnamed schedule takes: its process's, `/` made `.` (ids have no `/`). */
export function defaultScheduleName(process: string): string {
  return process.replace(/[^A-Za-z0-9._-]/g, ".");
}

/** Why a schedule name cannot be one, or undefined. */
export function scheduleNameProblem(name: string): string | undefined {
  if (name.length <= MAX_SCHEDULE_NAME && NAME.test(name)) return undefined;
  return `schedule name ${JSON.stringify(name)} must be 1 to ${MAX_SCHEDULE_NAME} letters, digits, '.', '_' or '-', starting with a letter or digit (it names each launch: <name>@<fire time>)`;
}

/** Seconds of `rate(5 minutes)`, an ISO-8601 duration or plain seconds; undefined when none of those. */
export function parseRate(value: unknown): number | undefined {
  if (typeof value === "number") return parseDuration(value);
  if (typeof value !== "string") return undefined;
  const match = RATE.exec(value.trim());
  if (match) return Number(match[1]) * (UNIT_SECONDS[(match[2] ?? "").toLowerCase().replace(/s$/, "")] ?? 0);
  return parseDuration(value);
}

/** Why a cron expression is not one docket takes, or undefined. */
export function cronProblem(cron: string): string | undefined {
  const text = cron.trim();
  if (!text.startsWith("@") && text.split(/\s+/).length !== 5)
    return `cron ${JSON.stringify(cron)} must have five fields (minute hour day-of-month month day-of-week) or be @hourly, @daily, @weekly, @monthly or @yearly`;
  // cron-parser's `H` picks a random minute: fire times must be the same on every host and run.
  if (/(^|[^A-Za-z])H(?![A-Za-z])/i.test(text))
    return `cron ${JSON.stringify(cron)}: H (a hashed value) is not supported`;
  try {
    CronExpressionParser.parse(text, { tz: "UTC", currentDate: new Date(0) }).next();
    return undefined;
  } catch (error) {
    return `cron ${JSON.stringify(cron)} is not valid: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Whether `zone` is an IANA time zone this runtime knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads a schedule's fields (as written: strings, numbers, a map of fields), reporting each
 * problem with its position or its path (`where.key`). `short` is the string form: a cron or a rate.
 * `takenOut` names the keys its caller read before (the configured schedules' `process`).
 */
export function readSchedule(
  fields: ScheduleFields,
  where: string,
  report: Report,
  pos?: SourcePos,
  takenOut: readonly string[] = [],
): ScheduleDecl {
  for (const [key, field] of fields)
    if (!(SCHEDULE_KEYS as readonly string[]).includes(key))
      report(
        `unknown key ${JSON.stringify(key)} at ${where}; allowed: ${[...takenOut, ...SCHEDULE_KEYS].join(", ")}`,
        field.pos,
        where,
      );
  const read = new FieldReader(fields, where, report, pos);
  const name = read.text("name");
  if (name !== undefined) read.check("name", scheduleNameProblem(name));
  const overlap = oneOf(
    read.text("overlap"),
    OVERLAP_POLICIES,
    `${where}.overlap`,
    report,
    read.at("overlap"),
  );
  const catchup = oneOf(
    read.text("catchup"),
    CATCH_UP_POLICIES,
    `${where}.catchup`,
    report,
    read.at("catchup"),
  );
  const launchFields = read.launchFields();
  return {
    ...(pos ? { pos } : {}),
    ...(name !== undefined ? { name } : {}),
    ...read.timing(),
    ...(launchFields ? { fields: launchFields } : {}),
    ...(overlap ? { overlap } : {}),
    ...(catchup ? { catchup } : {}),
  };
}

/** One schedule's fields read and checked, each problem reported at its position and path. */
class FieldReader {
  constructor(
    private readonly fields: ScheduleFields,
    private readonly where: string,
    private readonly report: Report,
    private readonly pos?: SourcePos,
  ) {}

  at(key: string): SourcePos | undefined {
    return this.fields.get(key)?.pos ?? this.pos;
  }

  /** Reports `problem` (when there is one) for the field `key`. */
  check(key: string, problem: string | undefined): void {
    if (problem) this.report(`${this.where}.${key}: ${problem}`, this.at(key), `${this.where}.${key}`);
  }

  text(key: string): string | undefined {
    const field = this.fields.get(key);
    if (field === undefined) return undefined;
    if (typeof field.value === "string" && field.value.trim() !== "") return field.value.trim();
    this.report(`${this.where}.${key} must be a non-empty string`, field.pos, `${this.where}.${key}`);
    return undefined;
  }

  /** The cron (with its time zone) or the rate: exactly one of them. */
  timing(): Pick<ScheduleDecl, "cron" | "rate" | "timezone"> {
    const { where } = this;
    const cron = this.text("cron");
    const rate = this.fields.get("rate");
    if ((cron === undefined) === (rate === undefined))
      this.report(`${where} needs exactly one of cron and rate`, this.pos, where);
    if (cron !== undefined) this.check("cron", cronProblem(cron));
    const timezone = this.text("timezone");
    if (timezone !== undefined && !isTimeZone(timezone))
      this.check(
        "timezone",
        `unknown time zone ${JSON.stringify(timezone)}; use an IANA name such as Europe/Berlin or America/New_York`,
      );
    if (timezone !== undefined && rate !== undefined)
      this.check(
        "timezone",
        "a time zone applies to a cron only: a rate fires every period whatever the zone",
      );
    const seconds =
      rate === undefined ? undefined : readRate(rate.value, `${where}.rate`, this.report, this.at("rate"));
    return {
      ...(cron !== undefined ? { cron } : {}),
      ...(seconds !== undefined ? { rate: seconds } : {}),
      ...(timezone !== undefined ? { timezone } : {}),
    };
  }

  launchFields(): JsonObject | undefined {
    const field = this.fields.get("fields");
    if (field === undefined) return undefined;
    const path = `${this.where}.fields`;
    if (!isObject(field.value)) this.report(`${path} must be a map of launch fields`, field.pos, path);
    else if (utf8Length(JSON.stringify(field.value)) > MAX_SCHEDULE_FIELDS_BYTES)
      this.report(
        `${path} is over ${MAX_SCHEDULE_FIELDS_BYTES} bytes of JSON: a schedule carries small launch fields (put the rest in the process's context)`,
        field.pos,
        path,
      );
    else return field.value as JsonObject;
    return undefined;
  }
}

function readRate(value: unknown, path: string, report: Report, pos?: SourcePos): number | undefined {
  const seconds = parseRate(value);
  if (seconds === undefined) {
    report(
      `${path} ${JSON.stringify(value)} is not a rate; use rate(5 minutes), rate(1 hour), rate(2 days) or ${DURATION_HELP}`,
      pos,
      path,
    );
    return undefined;
  }
  if (!Number.isInteger(seconds) || seconds < MIN_RATE_SECONDS) {
    report(
      `${path} is ${seconds} seconds; a rate is a whole number of seconds, at least ${MIN_RATE_SECONDS}`,
      pos,
      path,
    );
    return undefined;
  }
  return seconds;
}

function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  path: string,
  report: Report,
  pos?: SourcePos,
): T | undefined {
  if (value === undefined) return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  report(`${path} ${JSON.stringify(value)} is not one of ${allowed.join(", ")}`, pos, path);
  return undefined;
}

/** A schedule's short form: a cron, or a rate (`rate(…)`, an ISO duration, seconds). */
export function shortSchedule(text: string): ScheduleFields {
  const trimmed = text.trim();
  const rate = /^(rate\(|P|\d+$)/i.test(trimmed);
  return new Map([[rate ? "rate" : "cron", { value: trimmed }]]);
}

/** A declaration in force: the defaults filled in, named, its process given. */
export function resolveSchedule(
  decl: ScheduleDecl,
  process: string,
  origin: Schedule["origin"],
  version?: string,
): Schedule {
  return {
    name: decl.name ?? defaultScheduleName(process),
    process,
    ...(version ? { version } : {}),
    ...(decl.cron !== undefined ? { cron: decl.cron } : { rate: decl.rate ?? 3600 }),
    timezone: decl.timezone ?? "UTC",
    fields: decl.fields ?? {},
    overlap: decl.overlap ?? "skip",
    catchup: decl.catchup ?? "once",
    origin,
  };
}

/**
 * Schedules as docket.config.yaml and the construct's props declare them: a map of schedule
 * names to `{ process, cron | rate, timezone?, fields?, overlap?, catchup? }`, `process` a name or
 * `name@version`. Every problem is named by its path (`schedules.nightly.cron: …`).
 */
export function readScheduleMap(
  value: unknown,
  where = "schedules",
): { schedules: Schedule[]; problems: string[] } {
  const schedules: Schedule[] = [];
  const problems: string[] = [];
  if (value === undefined || value === null) return { schedules, problems };
  if (!isObject(value)) {
    problems.push(
      `${where} must map schedule names to { process, cron or rate, timezone?, fields?, overlap?, catchup? }`,
    );
    return { schedules, problems };
  }
  for (const [name, spec] of Object.entries(value)) {
    const at = `${where}.${name}`;
    if (!isObject(spec)) {
      problems.push(`${at} must be a map: { process, cron or rate, timezone?, fields?, overlap?, catchup? }`);
      continue;
    }
    const { process, ...rest } = spec;
    if (typeof process !== "string" || !/^[^@\s]+(@[^@\s]+)?$/.test(process))
      problems.push(`${at}.process must name the process to launch: name or name@version`);
    const fields: ScheduleFields = new Map(
      Object.entries({ ...rest, name }).map(([k, v]) => [k, { value: v }]),
    );
    const decl = readSchedule(fields, at, (message) => problems.push(message), undefined, ["process"]);
    const [processName, version] = String(process ?? "").split("@");
    schedules.push(resolveSchedule(decl, processName ?? "", "config", version));
  }
  return { schedules, problems };
}

/** A schedule as docket.config.yaml's `schedules:` and the construct's `schedules` prop write it. */
export interface ScheduleProps {
  /** The process to launch: its name, or `name@version`. */
  readonly process: string;
  /** Five fields on the time zone's wall clock (minute hour day-of-month month day-of-week), or @daily…; or `rate`. */
  readonly cron?: string;
  /** `rate(5 minutes)`, an ISO-8601 duration, or seconds; at least a minute. Or `cron`. */
  readonly rate?: string | number;
  /** An IANA time zone for the cron. @default "UTC" */
  readonly timezone?: string;
  /** The launch fields (at most 2 KB of JSON). */
  readonly fields?: JsonObject;
  /** While the previous launch runs: `skip` this one, `allow` both, `cancel` the previous. @default "skip" */
  readonly overlap?: OverlapPolicy;
  /** Fires missed while the engine was down: launch `once` for them, or `skip` them. @default "once" */
  readonly catchup?: CatchUpPolicy;
}

/** Schedules in force written back as the map readScheduleMap reads (docket.config.yaml's to the construct). */
export function scheduleMap(schedules: readonly Schedule[]): Record<string, ScheduleProps> {
  const map: Record<string, ScheduleProps> = {};
  for (const s of schedules)
    map[s.name] = {
      process: s.version ? `${s.process}@${s.version}` : s.process,
      ...(s.cron !== undefined ? { cron: s.cron, timezone: s.timezone } : { rate: s.rate ?? 3600 }),
      ...(Object.keys(s.fields).length ? { fields: s.fields } : {}),
      overlap: s.overlap,
      catchup: s.catchup,
    };
  return map;
}

/**
 * `docket schedules`: the schedules in force on either host (`--url` for docket serve, `--stack`
 * for a deployed stack), each with its next fire times and what its last fire did.
 */
import type { Command } from "commander";
import { type Runner, withTarget } from "./client.js";
import { ApiClient, queryString } from "./connection.js";
import { wholeNumber } from "./json-argument.js";

interface Options {
  url?: string;
  stack?: string;
  json?: boolean;
  count: string;
}

interface ScheduleView {
  name: string;
  process: string;
  version?: string;
  cron?: string;
  rate?: number;
  timezone: string;
  overlap: string;
  catchup: string;
  origin: string;
  next: number[];
  last?: { fire: number; result: string; instance?: string; reason?: string };
}

const utc = (time: number) => new Date(time).toISOString().replace(/\.000Z$/, "Z");

/** A fire time in UTC, with the schedule's wall clock beside it when its zone is another. */
function fireText(time: number, zone: string): string {
  if (zone === "UTC") return utc(time);
  const wall = new Intl.DateTimeFormat("sv-SE", {
    timeZone: zone,
    dateStyle: "short",
    timeStyle: "short",
  }).format(new Date(time));
  return `${utc(time)} (${wall} ${zone})`;
}

function every(seconds: number): string {
  for (const [unit, size] of [
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ] as const)
    if (seconds % size === 0) return `rate(${seconds / size} ${unit}${seconds === size ? "" : "s"})`;
  return `rate(${seconds} seconds)`;
}

/** Each schedule: a line saying what it launches when, its next fires, and its last fire. */
export function schedulesText(schedules: readonly ScheduleView[]): string {
  if (!schedules.length) return "no schedules";
  return schedules
    .flatMap((s) => {
      const when = s.cron !== undefined ? `cron "${s.cron}" ${s.timezone}` : every(s.rate ?? 0);
      const process = s.version ? `${s.process}@${s.version}` : s.process;
      const last = s.last
        ? [
            `  last ${utc(s.last.fire)}: ${s.last.result}${s.last.instance ? ` ${s.last.instance}` : ""}${s.last.reason ? ` (${s.last.reason})` : ""}`,
          ]
        : [];
      return [
        `${s.name}  launches ${process}  ${when}  overlap ${s.overlap}, catchup ${s.catchup} (${s.origin})`,
        ...s.next.map((time) => `  next ${fireText(time, s.timezone)}`),
        ...last,
      ];
    })
    .join("\n");
}

export function addScheduleCommands(program: Command, run: Runner): void {
  withTarget(
    program
      .command("schedules")
      .description("list the schedules in force with their next fire times and their last fire"),
  )
    .option("--count <n>", "next fire times per schedule", wholeNumber(1, 100), "3")
    .option("--json", "print JSON")
    .action((o: Options) =>
      run(async () => {
        const api = await ApiClient.connect(o);
        const { body } = await api.call("GET", `/schedules${queryString({ count: o.count })}`);
        const { schedules } = body as { schedules: ScheduleView[] };
        console.log(o.json ? JSON.stringify(body, null, 2) : schedulesText(schedules));
        return 0;
      }),
    );
}

/**
 * `docket migrate <id | --process name@version> --to <version> [--map old=new]… [--dry-run]`: one
 * instance, or every unfinished instance of a process (on a version, when given), a page at a time
 * through the API on either host. Exit 0 when every instance moved (or, dry, would), 2 when any is
 * blocked: each blocked one is printed with every problem.
 */
import type { Command } from "commander";
import { DocketError } from "../errors.js";
import type { BatchMigration, MigrationReport } from "../runtime/migrations.js";
import { type Runner, withTarget } from "./client.js";
import { ApiClient, ApiError, encodeComponent } from "./connection.js";

interface Options {
  url?: string;
  stack?: string;
  json?: boolean;
  process?: string;
  to: string;
  map: string[];
  dryRun?: boolean;
}

const short = (hash: string) => hash.slice(0, 8);

/** `--map old=new`, repeated: stable ids or paths. */
function mappings(pairs: readonly string[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at <= 0 || at === pair.length - 1)
      throw new DocketError("UsageError", `--map ${pair}: give old=new (a stable id or a path on each side)`);
    map[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return map;
}

/** A report as lines: what moves (or would), what is added, what blocks it. */
export function reportText(report: MigrationReport): string {
  const versions = report.from ? `  ${short(report.from)} -> ${short(report.to)}` : "";
  const head = `${report.instance}${versions}  ${report.state}`;
  const lines = [head];
  for (const move of report.moves) lines.push(`  moves ${move.kind} ${move.from} -> ${move.to}`);
  for (const added of report.added) lines.push(`  adds ${added}`);
  for (const problem of report.problems) lines.push(`  blocked: ${problem}`);
  return lines.join("\n");
}

async function migrateOne(api: ApiClient, id: string, body: object): Promise<MigrationReport> {
  try {
    return (await api.call("POST", `/instances/${encodeComponent(id)}/migrate`, body))
      .body as MigrationReport;
  } catch (error) {
    // Blocked (409): the answer carries the report, printed as a dry run's; any other error is the usual one.
    const report = (error as ApiError).body as { error?: { report?: MigrationReport } } | undefined;
    if (!(error instanceof ApiError && error.status === 409 && report?.error?.report)) throw error;
    return report.error.report;
  }
}

async function migrateAll(
  api: ApiClient,
  process: string,
  body: object,
  print: (r: MigrationReport) => void,
) {
  const [name, from] = process.split("@") as [string, string | undefined];
  const totals = { planned: 0, applied: 0, queued: 0, blocked: 0 };
  let after: string | undefined;
  do {
    const page = { ...body, process: name, ...(from ? { from } : {}), ...(after ? { after } : {}) };
    const { body: answer } = await api.call("POST", "/migrations", page);
    const batch = answer as BatchMigration;
    for (const result of batch.results) print(result);
    for (const [state, n] of Object.entries(batch.counts)) totals[state as keyof typeof totals] += n;
    after = batch.next;
  } while (after !== undefined);
  return totals;
}

export function addMigrateCommand(program: Command, run: Runner): void {
  withTarget(program.command("migrate"))
    .description("move running instances to another version of their process (or plan it: --dry-run)")
    .argument("[id]", "one instance (or --process)")
    .option(
      "--process <name[@version]>",
      "every running or suspended instance of the process (on that version)",
    )
    .requiredOption("--to <version>", "a version: a hash, a prefix of one, or latest")
    .option(
      "--map <old=new>",
      "an active node's counterpart: stable ids or paths (repeat)",
      (v, all: string[]) => [...all, v],
      [],
    )
    .option("--dry-run", "report what would move and what blocks it; change nothing")
    .option("--json", "print JSON")
    .action((id: string | undefined, o: Options) =>
      run(async () => {
        if ((id === undefined) === (o.process === undefined))
          throw new DocketError("UsageError", "give an instance id or --process name[@version], not both");
        const api = await ApiClient.connect(o);
        const body = { to: o.to, map: mappings(o.map), dryRun: o.dryRun === true };
        const show = (report: MigrationReport) =>
          console.log(o.json ? JSON.stringify(report) : reportText(report));
        if (id !== undefined) {
          const report = await migrateOne(api, id, body);
          show(report);
          return report.state === "blocked" ? 2 : 0;
        }
        const totals = await migrateAll(api, o.process as string, body, show);
        const summary = Object.entries(totals)
          .map(([state, n]) => `${n} ${state}`)
          .join(", ");
        console.log(o.json ? JSON.stringify({ counts: totals }) : summary);
        return totals.blocked ? 2 : 0;
      }),
    );
}

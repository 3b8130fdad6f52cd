/**
 * `docket definitions`: each process's versions with the instances pinned to each, `latest` moved
 * back to an earlier version (a rollback), and a version deleted once nothing pins it. Served by
 * the API on either host (`--url` for docket serve, `--stack` for a deployed stack).
 */
import type { Command } from "commander";
import { DocketError } from "../errors.js";
import { type Runner, withTarget } from "./client.js";
import { ApiClient, encodeComponent, queryString } from "./connection.js";

interface Options {
  url?: string;
  stack?: string;
  json?: boolean;
  process?: string;
}

interface Version {
  hash: string;
  registeredAt: number;
  pinned: number;
  unfinished: number;
  capped: boolean;
}

interface Catalogue {
  processes: { name: string; hash: string; updatedAt: number; registered?: string; versions: Version[] }[];
  rejected: { name: string; problems: string[]; at: number }[];
}

const short = (hash: string) => hash.slice(0, 8);
const count = (n: number, capped: boolean) => `${n}${capped ? "+" : ""}`;

/** One line per version: the latest marked `*`, its short hash, when registered, its pins. */
function versionLine(version: Version, latest: string): string {
  const pins = version.pinned
    ? `pinned by ${count(version.pinned, version.capped)} (${count(version.unfinished, version.capped)} unfinished)`
    : "pinned by none";
  return `  ${version.hash === latest ? "*" : " "} ${short(version.hash)}  ${new Date(version.registeredAt).toISOString()}  ${pins}`;
}

/** The catalogue as text: a header per process (noting a rollback), its versions, then the rejected files. */
export function catalogueText(catalogue: Catalogue): string {
  const lines: string[] = [];
  for (const process of catalogue.processes) {
    const { registered } = process;
    // The source last registered may be a version deleted since (its file saved again registers nothing).
    const deleted = registered !== undefined && !process.versions.some((v) => v.hash === registered);
    const rolledBack =
      registered !== undefined && registered !== process.hash
        ? `, rolled back: the source last registered is ${short(registered)}${deleted ? " (deleted)" : ""}`
        : "";
    lines.push(`${process.name}  latest ${short(process.hash)}${rolledBack}`);
    lines.push(...process.versions.map((version) => versionLine(version, process.hash)));
  }
  for (const rejected of catalogue.rejected)
    lines.push(
      `${rejected.name}  rejected: ${rejected.problems[0] ?? ""}${rejected.problems.length > 1 ? ` (+${rejected.problems.length - 1} more)` : ""}`,
    );
  return lines.length ? lines.join("\n") : "no definitions";
}

function print(value: unknown, json: boolean | undefined, text: string): void {
  console.log(json ? JSON.stringify(value, null, 2) : text);
}

/** The options a subcommand was given, with those of `docket definitions` (where commander parses them). */
function optionsOf(command: Command): Options {
  const options = command.optsWithGlobals<Options>();
  if (options.process !== undefined)
    throw new DocketError(
      "UsageError",
      `--process applies to the listing only (docket definitions --process <name>)`,
    );
  return options;
}

const versionPath = (name: string, version: string) =>
  `/definitions/${encodeComponent(name)}/versions/${encodeComponent(version)}`;

/** Adds `docket definitions [--process] [--json]`, `definitions latest <name> <version>` and `definitions delete <name> <version>`. */
export function addDefinitionCommands(program: Command, run: Runner): void {
  // The target options are the parent's: commander parses them wherever they stand, after a
  // subcommand too, so the subcommands read them with optsWithGlobals.
  const definitions = withTarget(
    program
      .command("definitions")
      .description(
        "list each process's versions (* latest) with the instances pinned to each; subcommands move latest or delete a version",
      ),
  )
    .option("--json", "print JSON")
    .option("--process <name>", "only this process")
    .action((o: Options) =>
      run(async () => {
        const api = await ApiClient.connect(o);
        const { body } = await api.call("GET", `/definitions${queryString({ process: o.process })}`);
        print(body, o.json, catalogueText(body as Catalogue));
        return 0;
      }),
    );
  definitions
    .command("latest")
    .description(
      "make a registered version latest (a rollback): launches without a version take it; a new source registered moves latest on again",
    )
    .configureHelp({ showGlobalOptions: true })
    .argument("<name>", "the process")
    .argument("<version>", "a version's hash or a prefix of exactly one")
    .action((name: string, version: string, _o: unknown, command: Command) =>
      run(async () => {
        const o = optionsOf(command);
        const api = await ApiClient.connect(o);
        const { body } = await api.call("PUT", `/definitions/${encodeComponent(name)}/latest`, { version });
        const moved = body as { hash: string; previous: string };
        const text =
          moved.hash === moved.previous
            ? `${name}: latest is ${short(moved.hash)} already`
            : `${name}: latest ${short(moved.previous)} -> ${short(moved.hash)}`;
        print(body, o.json, text);
        return 0;
      }),
    );
  definitions
    .command("delete")
    .description("delete a version that is not latest and that no instance pins")
    .configureHelp({ showGlobalOptions: true })
    .argument("<name>", "the process")
    .argument("<version>", "a version's hash or a prefix of exactly one")
    .action((name: string, version: string, _o: unknown, command: Command) =>
      run(async () => {
        const o = optionsOf(command);
        await (await ApiClient.connect(o)).call("DELETE", versionPath(name, version));
        print({ name, version, deleted: true }, o.json, `${name}: deleted version ${version}`);
        return 0;
      }),
    );
}

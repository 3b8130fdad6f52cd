/**
 * The commands that talk to the HTTP API, on `docket serve` (`--url`, default $DOCKET_URL or
 * http://127.0.0.1:7070) or a deployed stack (`--stack`, its ApiUrl output; requests signed with
 * SigV4). An error answer prints `docket: <message> (HTTP <status>)` and exits 2.
 */
import { type Command, Option } from "commander";
import type { OperatorAction } from "../engine/types.js";
import { ApiClient, encodeComponent, queryString } from "./connection.js";
import { addDefinitionCommands } from "./definitions.js";
import { parseJsonArgument, STATUSES, seconds, wholeNumber } from "./json-argument.js";
import { addMigrateCommand } from "./migrate.js";
import { addScheduleCommands } from "./schedules.js";
import { DEFAULT_URL } from "./stack.js";
import { watchCommand } from "./watch.js";

export type Runner = (fn: () => Promise<number>) => Promise<void>;

interface TargetOptions {
  url?: string;
  stack?: string;
  json?: boolean;
}

/** Adds --url and --stack (one or the other) to a command that talks to the API. */
export function withTarget(command: Command): Command {
  return command
    .option("--url <url>", `the API (default: $DOCKET_URL or ${DEFAULT_URL})`)
    .addOption(
      new Option(
        "--stack <name>",
        "the API of this deployed CloudFormation stack (its ApiUrl output)",
      ).conflicts("url"),
    );
}

const withOutput = (command: Command) => withTarget(command).option("--json", "print JSON");

function print(value: unknown, json: boolean | undefined, text: (value: never) => string): void {
  console.log(
    json || typeof value !== "object"
      ? typeof value === "string"
        ? value
        : JSON.stringify(value, null, 2)
      : text(value as never),
  );
}

const at = (time: number) => new Date(time).toISOString();
const instancePath = (id: string, rest = "") => `/instances/${encodeComponent(id)}${rest}`;

interface InstancePage {
  instances: { id: string; process: string; status: string; updatedAt: number }[];
  next?: string;
}

interface HistoryPage {
  records: {
    seq: number;
    at: number;
    message: { type: string; action?: string };
    notes: { kind: string; reason: string }[];
    commands: { type: string }[];
  }[];
  next?: number;
}

function listText(page: InstancePage): string {
  const rows = page.instances.map((r) => `${r.id}  ${r.process}  ${r.status}  ${at(r.updatedAt)}`);
  return [
    ...(rows.length ? rows : ["no instances"]),
    ...(page.next ? [`… more: --after ${page.next}`] : []),
  ].join("\n");
}

function historyText(page: HistoryPage): string {
  return [
    ...page.records.map(
      (r) =>
        `${String(r.seq).padStart(5)} ${at(r.at)} ${r.message.action ?? r.message.type} -> ${r.commands.map((c) => c.type).join(", ") || "-"}${r.notes.map((n) => ` [${n.kind}: ${n.reason}]`).join("")}`,
    ),
    ...(page.next ? [`… more: --after ${page.next}`] : []),
  ].join("\n");
}

function addLaunchAndPublish(program: Command, run: Runner): void {
  withOutput(
    program.command("launch").description("launch an instance").argument("<process>", "name or name@version"),
  )
    .option("--fields <json>", "launch fields: JSON or @file")
    .option("--id <id>", "the instance id (an idempotency key)")
    .action((name: string, o: TargetOptions & { fields?: string; id?: string }) =>
      run(async () => {
        const [process, version] = name.split("@");
        const fields = o.fields ? parseJsonArgument(o.fields, "--fields") : undefined;
        const api = await ApiClient.connect(o);
        const { body } = await api.call("POST", "/instances", {
          process,
          ...(version ? { version } : {}),
          ...(fields ? { fields } : {}),
          ...(o.id ? { id: o.id } : {}),
        });
        print(body, o.json, (b: { id: string }) => b.id);
        return 0;
      }),
    );
  withOutput(program.command("publish").description("publish an event").argument("<name>"))
    .option("--key <key>", "the correlation key")
    .option("--data <json>", "the event's data: JSON or @file")
    .action((name: string, o: TargetOptions & { key?: string; data?: string }) =>
      run(async () => {
        const data = o.data ? parseJsonArgument(o.data, "--data") : undefined;
        const api = await ApiClient.connect(o);
        const { body } = await api.call("POST", "/events", {
          name,
          ...(o.key ? { key: o.key } : {}),
          ...(data ? { data } : {}),
        });
        print(body, o.json, (b: { id: string }) => `published ${b.id}`);
        return 0;
      }),
    );
}

function addReads(program: Command, run: Runner): void {
  withOutput(program.command("list").description("list instances, newest first, a page at a time"))
    .addOption(new Option("--status <status>").choices(STATUSES))
    .option("--process <name>")
    .option("--limit <n>", "", wholeNumber(1, 1000), "100")
    .option("--after <cursor>", "the next page: the cursor the previous page printed")
    .action((o: TargetOptions & { status?: string; process?: string; limit: string; after?: string }) =>
      run(async () => {
        const query = queryString({ limit: o.limit, status: o.status, process: o.process, after: o.after });
        const { body } = await (await ApiClient.connect(o)).call("GET", `/instances${query}`);
        print(body, o.json, listText);
        return 0;
      }),
    );
  withTarget(program.command("show").description("show an instance (JSON)").argument("<id>")).action(
    (id: string, o: TargetOptions) =>
      run(async () => {
        print((await (await ApiClient.connect(o)).call("GET", instancePath(id))).body, true, () => "");
        return 0;
      }),
  );
  withOutput(
    program.command("history").description("an instance's history, a page at a time").argument("<id>"),
  )
    .option("--after <seq>", "start after this entry", wholeNumber(0), "0")
    .option("--limit <n>", "", wholeNumber(1, 1000), "100")
    .action((id: string, o: TargetOptions & { after: string; limit: string }) =>
      run(async () => {
        const query = queryString({ after: o.after, limit: o.limit });
        const { body } = await (await ApiClient.connect(o)).call("GET", instancePath(id, `/history${query}`));
        print(body, o.json, historyText);
        return 0;
      }),
    );
}

/** As lib/runtime/operations.ts's OPERATOR_ACTIONS, without loading the engine for every command. */
const OPERATOR_ACTIONS: readonly OperatorAction[] = ["pause", "resume", "cancel", "retry", "skip", "fail"];
const INCIDENT_ACTIONS: readonly OperatorAction[] = ["retry", "skip", "fail"];

/** The answer to an operator command: 202, with whether it was applied yet. */
interface OperatorAnswer {
  readonly state?: "applied" | "queued";
}

/**
 * "applied" when the instance took the command within the API's wait; otherwise it is in the
 * instance's inbox, applied in its turn (watch or show to see it). An API that does not say is
 * taken as queued: the command was accepted, no more is known.
 */
export function operatorText(action: string, id: string, answer: OperatorAnswer): string {
  return answer.state === "applied"
    ? `${action}: applied to ${id}`
    : `${action}: queued for ${id} (not applied yet)`;
}

function addOperatorCommands(program: Command, run: Runner): void {
  for (const action of OPERATOR_ACTIONS) {
    const command = withOutput(
      program
        .command(action)
        .description(`${action} an instance${INCIDENT_ACTIONS.includes(action) ? "'s incident" : ""}`)
        .argument("<id>"),
    );
    if (INCIDENT_ACTIONS.includes(action))
      command.option("--node <path>", "the incident's node (default: the oldest incident)");
    if (action === "skip") command.option("--fields <json>", "the fields the skipped action completes with");
    if (action === "fail" || action === "cancel") command.option("--reason <text>");
    command.action((id: string, o: TargetOptions & { node?: string; fields?: string; reason?: string }) =>
      run(async () => {
        const payload = {
          ...(o.node ? { node: o.node } : {}),
          ...(o.fields ? { fields: parseJsonArgument(o.fields, "--fields") } : {}),
          ...(o.reason ? { reason: o.reason } : {}),
        };
        const api = await ApiClient.connect(o);
        const { body } = await api.call("POST", instancePath(id, `/${action}`), payload);
        print(body, o.json, (b: OperatorAnswer) => operatorText(action, id, b));
        return 0;
      }),
    );
  }
  withOutput(
    program.command("delete").description("delete a finished instance and its history").argument("<id>"),
  ).action((id: string, o: TargetOptions) =>
    run(async () => {
      await (await ApiClient.connect(o)).call("DELETE", instancePath(id));
      print(o.json ? { id, deleted: true } : `deleted ${id}`, o.json, () => "");
      return 0;
    }),
  );
}

/** Adds launch, publish, list, show, history, watch, pause…fail, delete and definitions to the program. */
export function addClientCommands(program: Command, run: Runner): void {
  addLaunchAndPublish(program, run);
  addReads(program, run);
  withOutput(
    program
      .command("watch")
      .description(
        "follow an instance: a line per change, until it ends (exit 0 completed, 1 faulted or canceled)",
      )
      .argument("<id>"),
  )
    .option("--interval <seconds>", "between polls", seconds(0.05, 3600), 1)
    .action((id: string, o: TargetOptions & { interval: number }) =>
      run(async () => watchCommand(await ApiClient.connect(o), id, o)),
    );
  addOperatorCommands(program, run);
  addDefinitionCommands(program, run);
  addMigrateCommand(program, run);
  addScheduleCommands(program, run);
}

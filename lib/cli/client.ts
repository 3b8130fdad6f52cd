/** The commands that talk to `docket serve` over its HTTP API. */
import { type Command, Option } from "commander";
import { DocketError } from "../errors.js";
import { parseJsonArgument, STATUSES, wholeNumber } from "./json-argument.js";

const DEFAULT_URL = process.env.DOCKET_URL ?? "http://127.0.0.1:7070";

async function call(
  base: string,
  method: string,
  path: string,
  payload?: unknown,
): Promise<{ status: number; body: unknown }> {
  let response: Response;
  try {
    response = await fetch(new URL(path, base), {
      method,
      headers: {
        ...(payload === undefined ? {} : { "content-type": "application/json" }),
        ...(process.env.DOCKET_API_TOKEN ? { authorization: `Bearer ${process.env.DOCKET_API_TOKEN}` } : {}),
      },
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });
  } catch (error) {
    throw new DocketError(
      "Unreachable",
      `cannot reach docket at ${base} (start it with \`docket serve\`): ${error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error)}`,
    );
  }
  const text = await response.text();
  let body: unknown = text;
  if ((response.headers.get("content-type") ?? "").includes("json")) body = JSON.parse(text);
  if (response.status >= 400) {
    const error = (body as { error?: { code?: string; message?: string } }).error;
    throw new DocketError(error?.code ?? "HttpError", `${error?.message ?? text} (HTTP ${response.status})`);
  }
  return { status: response.status, body };
}

function print(value: unknown, json: boolean | undefined, text: (value: never) => string): void {
  console.log(
    json || typeof value !== "object"
      ? typeof value === "string"
        ? value
        : JSON.stringify(value, null, 2)
      : text(value as never),
  );
}

type Runner = (fn: () => Promise<number>) => Promise<void>;

interface Row {
  id: string;
  process: string;
  status: string;
  updatedAt: number;
}

/** Adds launch, publish, list, show, history, diagram (of an instance), pause…delete to the program. */
export function addClientCommands(program: Command, run: Runner): void {
  const url = (c: Command) =>
    c.option("--url <url>", "the docket server", DEFAULT_URL).option("--json", "print JSON");
  url(
    program.command("launch").description("launch an instance").argument("<process>", "name or name@version"),
  )
    .option("--fields <json>", "launch fields: JSON or @file")
    .option("--id <id>", "the instance id (an idempotency key)")
    .action((name: string, o) =>
      run(async () => {
        const [process, version] = name.split("@");
        const { body } = await call(o.url, "POST", "/instances", {
          process,
          ...(version ? { version } : {}),
          ...(o.fields ? { fields: parseJsonArgument(o.fields, "--fields") } : {}),
          ...(o.id ? { id: o.id } : {}),
        });
        print(body, o.json, (b: { id: string }) => b.id);
        return 0;
      }),
    );
  url(program.command("publish").description("publish an event").argument("<name>"))
    .option("--key <key>", "the correlation key")
    .option("--data <json>", "the event's data: JSON or @file")
    .action((name: string, o) =>
      run(async () => {
        const { body } = await call(o.url, "POST", "/events", {
          name,
          ...(o.key ? { key: o.key } : {}),
          ...(o.data ? { data: parseJsonArgument(o.data, "--data") } : {}),
        });
        print(body, o.json, (b: { id: string }) => `published ${b.id}`);
        return 0;
      }),
    );
  url(program.command("list").description("list instances"))
    .addOption(new Option("--status <status>").choices(STATUSES))
    .option("--process <name>")
    .option("--limit <n>", "", wholeNumber(1), "100")
    .action((o) =>
      run(async () => {
        const query = new URLSearchParams({
          limit: o.limit,
          ...(o.status ? { status: o.status } : {}),
          ...(o.process ? { process: o.process } : {}),
        });
        const { body } = await call(o.url, "GET", `/instances?${query}`);
        print(
          body,
          o.json,
          (rows: Row[]) =>
            rows
              .map((r) => `${r.id}  ${r.process}  ${r.status}  ${new Date(r.updatedAt).toISOString()}`)
              .join("\n") || "no instances",
        );
        return 0;
      }),
    );
  url(program.command("show").description("show an instance").argument("<id>")).action((id: string, o) =>
    run(async () => {
      print((await call(o.url, "GET", `/instances/${encodeURIComponent(id)}`)).body, true, () => "");
      return 0;
    }),
  );
  url(program.command("history").description("an instance's history, a page at a time").argument("<id>"))
    .option("--after <seq>", "start after this entry", wholeNumber(0), "0")
    .option("--limit <n>", "", wholeNumber(1, 1000), "100")
    .action((id: string, o) =>
      run(async () => {
        const { body } = await call(
          o.url,
          "GET",
          `/instances/${encodeURIComponent(id)}/history?after=${o.after}&limit=${o.limit}`,
        );
        print(
          body,
          o.json,
          (page: {
            records: {
              seq: number;
              at: number;
              message: { type: string; action?: string };
              notes: { kind: string; reason: string }[];
              commands: { type: string }[];
            }[];
            next?: number;
          }) =>
            [
              ...page.records.map(
                (r) =>
                  `${String(r.seq).padStart(5)} ${new Date(r.at).toISOString()} ${r.message.action ?? r.message.type} -> ${r.commands.map((c) => c.type).join(", ") || "-"}${r.notes.map((n) => ` [${n.kind}: ${n.reason}]`).join("")}`,
              ),
              ...(page.next ? [`… more: --after ${page.next}`] : []),
            ].join("\n"),
        );
        return 0;
      }),
    );
  for (const action of ["pause", "resume", "cancel", "retry", "skip", "fail"]) {
    const command = url(
      program
        .command(action)
        .description(
          `${action} an instance${["retry", "skip", "fail"].includes(action) ? "'s incident" : ""}`,
        )
        .argument("<id>"),
    ).option("--node <path>", "the incident's node (default: the oldest incident)");
    if (action === "skip") command.option("--fields <json>", "the fields the skipped action completes with");
    if (action === "fail" || action === "cancel") command.option("--reason <text>");
    command.action((id: string, o) =>
      run(async () => {
        const payload = {
          ...(o.node ? { node: o.node } : {}),
          ...(o.fields ? { fields: parseJsonArgument(o.fields, "--fields") } : {}),
          ...(o.reason ? { reason: o.reason } : {}),
        };
        const { body } = await call(o.url, "POST", `/instances/${encodeURIComponent(id)}/${action}`, payload);
        print(body, o.json, () => `${action}: queued for ${id}`);
        return 0;
      }),
    );
  }
  url(
    program.command("delete").description("delete a finished instance and its history").argument("<id>"),
  ).action((id: string, o) =>
    run(async () => {
      await call(o.url, "DELETE", `/instances/${encodeURIComponent(id)}`);
      print(`deleted ${id}`, o.json, () => "");
      return 0;
    }),
  );
}

export { call };

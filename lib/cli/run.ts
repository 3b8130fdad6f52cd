/**
 * `docket run <definition>`: runs a process on the embedded engine in this process, with the
 * participants of docket.config.yaml, to its end or until it waits for something outside.
 */
import { basename } from "node:path";
import { loadConfig } from "../embedded/config.js";
import { EmbeddedEngine } from "../embedded/engine.js";
import { nodeState, rootContext, type Snapshot } from "../engine/types.js";
import { DocketError } from "../errors.js";
import { processNameFromKey } from "../language/index.js";
import type { JsonObject } from "../language/model.js";
import type { PublishRequest } from "../runtime/runtime.js";
import { readTextFile } from "./files.js";
import { parseJsonArgument } from "./json-argument.js";

export interface RunOptions {
  readonly fields?: string;
  readonly publish?: string[];
  readonly config?: string;
  readonly json?: boolean;
  /** Wait for timers due within this many seconds (default 30). */
  readonly wait?: string;
}

interface Summary {
  readonly instance: string;
  readonly process: string;
  readonly status: string;
  readonly tasks: string[];
  readonly context: JsonObject;
  readonly fault?: Snapshot["fault"];
  readonly incidents: Snapshot["incidents"];
  readonly waiting: string[];
}

function waitingFor(engine: EmbeddedEngine, snapshot: Snapshot): string[] {
  const out: string[] = [];
  for (const task of engine.queues.openTasks())
    if (task.task.task.instance === snapshot.id) out.push(`task ${task.participant} (${task.id})`);
  for (const [path, state] of snapshot.nodes) {
    if (state.k === "await") out.push(`event at ${path}`);
    if (state.k === "delay" || (state.k === "action" && state.wait === "backoff"))
      out.push(`timer at ${path}`);
    if (state.k === "call") out.push(`subprocess ${state.child}`);
  }
  return out;
}

async function runToRest(
  engine: EmbeddedEngine,
  instance: string,
  waitMs: number,
  progress: (line: string) => void,
): Promise<Snapshot | undefined> {
  for (;;) {
    const snapshot = await engine.settleInstance(instance);
    if (!snapshot || ["completed", "faulted", "canceled"].includes(snapshot.status)) return snapshot;
    const due = engine.queues.nextDue();
    if (due === undefined || due - engine.clock.now() > waitMs || nodeState(snapshot, "0") === undefined)
      return snapshot;
    progress(`waiting ${Math.ceil((due - engine.clock.now()) / 1000)} s for a timer`);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - engine.clock.now()) + 5));
  }
}

export async function runCommand(file: string, options: RunOptions): Promise<number> {
  const fields = options.fields ? (parseJsonArgument(options.fields, "--fields") as JsonObject) : {};
  const events = (options.publish ?? []).map(
    (text) => parseJsonArgument(text, "--publish") as unknown as PublishRequest,
  );
  const config = { ...loadConfig(options.config), database: ":memory:" };
  const interactive = process.stderr.isTTY && !options.json;
  const progress = (line: string) => {
    if (interactive) process.stderr.write(`\r\x1b[K${line}`);
  };
  const engine = await EmbeddedEngine.open({
    config,
    log: (line) => (line.startsWith("rejected") ? console.error(line) : undefined),
  });
  try {
    const name = processNameFromKey(basename(file));
    const source = readTextFile(file);
    const registration = await engine.definitions.register(basename(file), source);
    if (!registration.ok)
      throw new DocketError(
        "DefinitionError",
        `${file}: invalid definition:\n  ${registration.problems.join("\n  ")}`,
      );
    let done = 0;
    engine.queues.on("task", (task) =>
      progress(`${name}: ${++done} task(s) sent, now ${task.task.participant}`),
    );
    const instance = await engine.launch({ process: name, fields });
    for (const event of events) await engine.publish(event);
    const snapshot = await runToRest(engine, instance, Number(options.wait ?? 30) * 1000, progress);
    progress("");
    if (!snapshot) throw new DocketError("NoInstance", `the instance ${instance} did not start`);
    const history = await engine.store.history(instance, { limit: 1000 });
    const tasks = history.records.flatMap((r) =>
      r.commands.flatMap((c) => (c.type === "task" ? [c.task.participant] : [])),
    );
    const summary: Summary = {
      instance,
      process: name,
      status: snapshot.status,
      tasks,
      context: rootContext(snapshot),
      ...(snapshot.fault ? { fault: snapshot.fault } : {}),
      incidents: snapshot.incidents,
      waiting: waitingFor(engine, snapshot),
    };
    console.log(options.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
    return snapshot.status === "completed"
      ? 0
      : snapshot.status === "faulted" || snapshot.status === "canceled"
        ? 1
        : 3;
  } finally {
    await engine.close();
  }
}

function formatSummary(s: Summary): string {
  const lines = [
    `${s.process} ${s.instance}: ${s.status}`,
    `tasks (${s.tasks.length}): ${s.tasks.join(", ") || "none"}`,
  ];
  if (s.fault)
    lines.push(`fault ${s.fault.code}: ${s.fault.message} (error id ${s.fault.id}, at node ${s.fault.node})`);
  for (const incident of s.incidents)
    lines.push(
      `incident ${incident.id} at ${incident.node}: ${incident.error.code}: ${incident.error.message}`,
    );
  if (s.waiting.length) lines.push(`waiting for: ${s.waiting.join(", ")}`);
  lines.push(
    "context:",
    ...JSON.stringify(s.context, null, 2)
      .split("\n")
      .map((l) => `  ${l}`),
  );
  return lines.join("\n");
}

/**
 * `docket run <definition>`: runs a process on the embedded engine in this process, with the
 * participants of docket.config.yaml, to its end or until it waits for something outside.
 */
import { basename } from "node:path";
import { loadConfig } from "../embedded/config.js";
import { EmbeddedEngine } from "../embedded/engine.js";
import { nodeState, rootContext, type Snapshot } from "../engine/types.js";
import { DocketError, formatProblem, MessageError } from "../errors.js";
import { processNameFromKey } from "../language/index.js";
import type { JsonObject } from "../language/model.js";
import type { HistoryRecord } from "../ports.js";
import { publishedEvent } from "../runtime/events.js";
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

/** What a running instance waits for, as `--json` prints it; times are ISO-8601. */
export type Waiting =
  | {
      readonly kind: "task";
      readonly node: string;
      readonly participant: string;
      readonly task: string;
      readonly timeout?: string;
    }
  | {
      readonly kind: "event";
      readonly node: string;
      readonly event: string;
      readonly key?: string;
      readonly timeout?: string;
    }
  /** A delay, or (with `participant`) the backoff before a task is sent again. */
  | { readonly kind: "timer"; readonly node: string; readonly due: string; readonly participant?: string }
  | {
      readonly kind: "subprocess";
      readonly node: string;
      readonly instance: string;
      readonly process?: string;
    };

interface Summary {
  readonly instance: string;
  readonly process: string;
  readonly status: string;
  readonly tasks: string[];
  readonly context: JsonObject;
  readonly fault?: Snapshot["fault"];
  readonly incidents: Snapshot["incidents"];
  readonly waiting: Waiting[];
}

/** What the instance's commands said of its tasks, timers, subscriptions and children, by id. */
interface Issued {
  readonly tasks: Map<string, string>;
  readonly timers: Map<string, number>;
  readonly subscriptions: Map<string, { event: string; key?: string }>;
  readonly children: Map<string, string | undefined>;
}

function issuedBy(records: readonly HistoryRecord[]): Issued {
  const issued: Issued = {
    tasks: new Map(),
    timers: new Map(),
    subscriptions: new Map(),
    children: new Map(),
  };
  for (const command of records.flatMap((r) => r.commands)) {
    if (command.type === "task") issued.tasks.set(command.task.id, command.task.participant);
    else if (command.type === "timer") issued.timers.set(command.timer, command.due);
    else if (command.type === "subscribe")
      issued.subscriptions.set(command.subscription, { event: command.event, key: command.key });
    else if (command.type === "start-child")
      issued.children.set(command.child, "name" in command.process ? command.process.name : undefined);
  }
  return issued;
}

/** The active nodes' waits, with the event, key, due time or participant their commands carried. */
function waitingFor(snapshot: Snapshot, issued: Issued): Waiting[] {
  const due = (timer: string | undefined) => {
    const at = timer === undefined ? undefined : issued.timers.get(timer);
    return at === undefined ? undefined : new Date(at).toISOString();
  };
  const out: Waiting[] = [];
  for (const [node, state] of snapshot.nodes) {
    if (state.k === "action" && state.wait !== "incident") {
      const participant = issued.tasks.get(state.task) ?? "?";
      if (state.wait === "backoff")
        out.push({ kind: "timer", node, due: due(state.timer) ?? "?", participant });
      else out.push({ kind: "task", node, participant, task: state.task, timeout: due(state.timer) });
    } else if (state.k === "delay") out.push({ kind: "timer", node, due: due(state.timer) ?? "?" });
    else if (state.k === "await") {
      const subscription = issued.subscriptions.get(state.subscription);
      out.push({
        kind: "event",
        node,
        event: subscription?.event ?? "?",
        key: subscription?.key,
        timeout: due(state.timer),
      });
    } else if (state.k === "call")
      out.push({
        kind: "subprocess",
        node,
        instance: state.child,
        process: issued.children.get(state.child),
      });
  }
  return out;
}

function describeWaiting(w: Waiting): string {
  const timeout = "timeout" in w && w.timeout ? `, times out ${w.timeout}` : "";
  switch (w.kind) {
    case "task":
      return `task ${w.participant} (${w.task}) at ${w.node}${timeout}`;
    case "event":
      return `event ${w.event}${w.key === undefined ? "" : ` key ${JSON.stringify(w.key)}`} at ${w.node}${timeout}`;
    case "timer":
      return `${w.participant ? `retry of ${w.participant}` : "timer"} at ${w.node} due ${w.due}`;
    case "subprocess":
      return `subprocess ${w.instance}${w.process ? ` (${w.process})` : ""} at ${w.node}`;
  }
}

/** Every history record of an instance, page by page. */
async function fullHistory(engine: EmbeddedEngine, instance: string): Promise<HistoryRecord[]> {
  const records: HistoryRecord[] = [];
  let after: number | undefined;
  do {
    const page = await engine.store.history(instance, { after, limit: 1000 });
    records.push(...page.records);
    after = page.next;
  } while (after !== undefined);
  return records;
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

/** A `--publish` event read as `POST /events` reads its body (a number key as text, the data, the old engine's form). */
function publishArgument(text: string): PublishRequest {
  const body = parseJsonArgument(text, "--publish");
  try {
    return publishedEvent(body);
  } catch (error) {
    if (!(error instanceof MessageError)) throw error;
    const problems = error.problems.map(formatProblem).join("; ");
    throw new DocketError("UsageError", `--publish ${text.slice(0, 80)}: ${problems}`, { cause: error });
  }
}

export async function runCommand(file: string, options: RunOptions): Promise<number> {
  const fields = options.fields ? (parseJsonArgument(options.fields, "--fields") as JsonObject) : {};
  const events = (options.publish ?? []).map(publishArgument);
  const config = { ...loadConfig(options.config), database: ":memory:" };
  const interactive = process.stderr.isTTY && !options.json;
  const progress = (line: string) => {
    if (interactive) process.stderr.write(`\r\x1b[K${line}`);
  };
  const engine = await EmbeddedEngine.open({
    config,
    // One process run to its end: nothing launched on a schedule beside it.
    schedules: false,
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
    if (!snapshot) {
      const reason = engine.queues.deadLetterReason(instance);
      throw new DocketError(
        "NoInstance",
        `the instance ${instance} did not start${reason ? `: ${reason}` : ""}`,
      );
    }
    const history = await fullHistory(engine, instance);
    const tasks = history.flatMap((r) =>
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
      waiting: waitingFor(snapshot, issuedBy(history)),
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
  for (const waiting of s.waiting) lines.push(`waiting for: ${describeWaiting(waiting)}`);
  lines.push(
    "context:",
    ...JSON.stringify(s.context, null, 2)
      .split("\n")
      .map((l) => `  ${l}`),
  );
  return lines.join("\n");
}

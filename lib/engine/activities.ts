/** The leaf activities: what starting each one does, and what canceling it must undo. */
import { ExpressionError } from "../errors.js";
import type {
  ActionNode,
  Activity,
  AwaitNode,
  CallNode,
  DelayNode,
  Json,
  JsonObject,
} from "../language/model.js";
import type { Machine } from "./machine.js";
import { MAX_BACKOFF_S } from "./semantics.js";
import type { ActionState, ChildProcess } from "./types.js";
import { raise } from "./unwind.js";

/** A mapping expression's result must be a map of fields. */
export function asFields(value: Json, what: string): JsonObject {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ExpressionError(
      what,
      `${what} must give a map of fields, got ${JSON.stringify(value)?.slice(0, 80)}`,
    );
  }
  return value;
}

/**
 * What encloses a path: a parallel construct (replies there are diffed against what was sent) and
 * a loop (its tasks need attempt numbers that keep growing across iterations).
 */
function enclosing(m: Machine, path: string): { parallel: boolean; looped: boolean } {
  let parallel = false;
  let looped = false;
  for (let end = path.lastIndexOf("."); end > 0; end = path.lastIndexOf(".", end - 1)) {
    const kind = m.nodes.get(path.slice(0, end))?.k;
    if (kind === "all" || kind === "race" || kind === "pforeach") parallel = true;
    else if (kind === "while" || kind === "foreach") looped = true;
  }
  return { parallel, looped };
}

export function startTimer(m: Machine, path: string, seconds: number, from = m.now): string {
  const timer = m.nextId(`${m.id}/${path}/t`);
  m.emit({ type: "timer", timer, instance: m.id, node: path, due: from + Math.round(seconds * 1000) });
  return timer;
}

/**
 * Starts a task's clocks as it is sent: its `timeout`, and its first heartbeat's due time. A timer
 * already running (a task held before timeouts waited for resume) is kept.
 */
export function startTaskTimers(m: Machine, path: string, node: ActionNode, state: ActionState): ActionState {
  const timer = state.timer ?? (node.timeout === undefined ? undefined : startTimer(m, path, node.timeout));
  const beat = state.beat ?? (node.heartbeat === undefined ? undefined : startTimer(m, path, node.heartbeat));
  return { ...state, ...(timer ? { timer } : {}), ...(beat ? { beat } : {}) };
}

/**
 * Cancels an action's timers (timeout, heartbeat, backoff) and returns its state without them, nor
 * the last heartbeat's time and details: they were the attempt's, which is over.
 */
export function stopTaskTimers(m: Machine, state: ActionState): ActionState {
  if (state.timer) m.emit({ type: "cancel-timer", timer: state.timer });
  if (state.beat) m.emit({ type: "cancel-timer", timer: state.beat });
  const { timer: _timer, beat: _beat, heard: _heard, details: _details, ...rest } = state;
  return rest;
}

/** Sends (or re-sends) an action's task as a new attempt, after `previous` (0 for the first). */
export function sendAttempt(
  m: Machine,
  path: string,
  node: ActionNode,
  tries: number,
  previous: number,
): void {
  const fields = node.input
    ? asFields(m.evaluate(node.input, path), `input of <action participant="${node.participant}">`)
    : m.context(path);
  const { parallel, looped } = enclosing(m, path);
  const attempt = m.nextAttempt(path, previous, looped);
  const task = `${m.id}/${path}/${attempt}`;
  const keepSent = node.input !== undefined || parallel;
  const state: ActionState = {
    k: "action",
    task,
    attempt,
    tries,
    wait: "reply",
    ...(keepSent ? { sent: fields } : {}),
  };
  // A task held by `pause` has its clocks started when resume sends it (messages.ts sendHeld).
  m.nodes.set(path, m.paused ? state : startTaskTimers(m, path, node, state));
  const heartbeat = node.heartbeat === undefined ? {} : { heartbeat: node.heartbeat };
  m.dispatch({
    type: "task",
    task: { id: task, instance: m.id, node: path, participant: node.participant, attempt, ...heartbeat },
    fields,
  });
}

/** Waits `backoff * 2^tries` seconds before the next attempt, or sends it now without a backoff. */
export function retryLater(
  m: Machine,
  path: string,
  node: ActionNode,
  tries: number,
  previous: number,
): void {
  if (!node.backoff) {
    sendAttempt(m, path, node, tries, previous);
    return;
  }
  const state = m.nodes.get(path);
  const doubled = node.backoff * 2 ** (tries - 1);
  const wait = m.semantics >= 2 ? Math.min(doubled, Math.max(node.backoff, MAX_BACKOFF_S)) : doubled;
  const timer = startTimer(m, path, wait);
  if (state?.k === "action") m.nodes.set(path, { ...state, tries, wait: "backoff", timer });
}

function untilTime(value: Json, node: DelayNode): number {
  const time =
    typeof value === "number" ? value * 1000 : typeof value === "string" ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(time)) {
    const source = node.until?.source ?? "";
    throw new ExpressionError(
      source,
      `delay until \`${source}\` must give a time (timestamp, ISO-8601 text or epoch seconds), got ${JSON.stringify(value)}`,
    );
  }
  return time;
}

function startDelay(m: Machine, path: string, node: DelayNode): void {
  const due = node.until
    ? untilTime(m.evaluate(node.until, path), node)
    : m.now + (node.duration ?? 0) * 1000;
  if (due <= m.now) {
    m.complete(path);
    return;
  }
  const timer = m.nextId(`${m.id}/${path}/t`);
  m.emit({ type: "timer", timer, instance: m.id, node: path, due });
  m.nodes.set(path, { k: "delay", timer });
}

function startAwait(m: Machine, path: string, node: AwaitNode): void {
  const key = node.key ? m.evaluate(node.key, path) : undefined;
  if (key !== undefined && key !== null && typeof key === "object") {
    throw new ExpressionError(
      node.key?.source ?? "",
      `await key \`${node.key?.source}\` must give a string or number, got ${JSON.stringify(key)}`,
    );
  }
  const keyed = key === undefined || key === null ? {} : { key: String(key) };
  const subscription = m.nextId(`${m.id}/${path}/s`);
  m.emit({ type: "subscribe", subscription, instance: m.id, node: path, event: node.event, ...keyed });
  const timer = node.timeout === undefined ? undefined : startTimer(m, path, node.timeout);
  // The key is kept so an event another await takes is recorded for this one only if it matches.
  m.nodes.set(path, { k: "await", subscription, ...(timer ? { timer } : {}), ...keyed });
}

function startCall(m: Machine, path: string, node: CallNode): void {
  let process: ChildProcess;
  if ("property" in node.process) {
    const source = m.context(path)[node.process.property];
    if (typeof source !== "string" || source.trim() === "") {
      throw new ExpressionError(
        `$${node.process.property}`,
        `call process="$${node.process.property}": the context has no process XML under "${node.process.property}" (got ${JSON.stringify(source ?? null)})`,
      );
    }
    process = { source };
  } else process = node.process;
  const fields = node.input ? asFields(m.evaluate(node.input, path), "input of <call>") : m.context(path);
  const child = `${m.id}~${m.seq + 1}`;
  m.seq += 1;
  m.nodes.set(path, { k: "call", child, sent: fields });
  m.emit({ type: "start-child", child, parent: { instance: m.id, node: path, child }, process, fields });
}

export function startLeaf(m: Machine, path: string, node: Activity): void {
  switch (node.kind) {
    case "action":
      sendAttempt(m, path, node, 0, 0);
      return;
    case "delay":
      startDelay(m, path, node);
      return;
    case "await":
      startAwait(m, path, node);
      return;
    case "call":
      startCall(m, path, node);
      return;
    case "assign":
      m.write(path, node.property, m.evaluate(node.expression, path));
      m.complete(path);
      return;
    case "fault":
      raise(m, path, node.code, node.message);
      return;
    default:
      throw new Error(`${node.kind} is not a leaf activity`);
  }
}

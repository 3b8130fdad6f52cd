/** Applying one message to an instance: replies, timers, events, child completions, operator commands. */
import { DocketError } from "../errors.js";
import type { ActionNode, AwaitNode, CallNode, JsonObject } from "../language/model.js";
import { asFields, retryLater, sendAttempt, startTaskTimers, stopTaskTimers } from "./activities.js";
import { applyHeartbeat, heartbeatDue } from "./heartbeats.js";
import type { Machine } from "./machine.js";
import type {
  ActionState,
  ChildMessage,
  ConsumedEvent,
  EventMessage,
  Incident,
  NodeState,
  OperatorMessage,
  ReplyMessage,
  TimerMessage,
} from "./types.js";
import { endInstance, endSubscription, raise } from "./unwind.js";

type AwaitState = Extract<NodeState, { k: "await" }>;

/** How long an instance remembers the events it consumed (the event buffer's window). */
export const CONSUMED_WINDOW_MS = 60 * 60 * 1000;

/** What the node's `output` mapping makes of a result (throws ExpressionError when it fails). */
function mapOutput(m: Machine, path: string, node: ActionNode | CallNode, fields: JsonObject): JsonObject {
  const output = node.output;
  if (!output) return fields;
  return asFields(m.evaluate(output, path, { result: fields }), `output of <${node.kind}>`);
}

function writeMapped(m: Machine, path: string, mapped: JsonObject): void {
  for (const key of Object.keys(mapped)) m.write(path, key, mapped[key] ?? null);
}

function writeResult(
  m: Machine,
  path: string,
  node: ActionNode | CallNode,
  fields: JsonObject,
  sent: JsonObject | undefined,
): void {
  if (node.output) writeMapped(m, path, mapOutput(m, path, node, fields));
  else m.merge(path, fields, sent);
}

function openIncident(m: Machine, path: string, reply: ReplyMessage, attempt: number): void {
  const incident: Incident = {
    id: m.nextId(`${m.id}/e`),
    node: path,
    task: reply.task.id,
    attempt,
    error: { code: reply.error?.code ?? "ActionError", message: reply.error?.message ?? "" },
    at: m.now,
  };
  m.incidents = [...m.incidents, incident];
  const state = m.nodes.get(path);
  if (state?.k === "action") m.nodes.set(path, { ...state, wait: "incident" });
  if (m.status === "running") m.status = "suspended";
  m.publish("docket.instance.suspended", { incident: { ...incident, error: { ...incident.error } } });
}

/**
 * Each applier checks that the message is for a node waiting on it (else notes why it is ignored
 * and returns false), then queues its effect at that node with `m.applyAt`: the effect runs as the
 * transition's first step, so an expression failing in it (an `output` mapping, an await's
 * condition, an `input` on a retry) is an `ExpressionError` fault at that node, as anywhere else.
 */
export function applyReply(m: Machine, reply: ReplyMessage): boolean {
  const path = reply.task.node;
  const state = m.nodes.get(path);
  if (state?.k !== "action" || state.task !== reply.task.id || state.wait !== "reply") {
    const what = reply.status === "heartbeat" ? "heartbeat of" : "reply to";
    m.note("ignored", `${what} task ${reply.task.id} is stale or a duplicate (no action waits for it)`);
    return false;
  }
  if (reply.status === "heartbeat") return applyHeartbeat(m, path, state, reply);
  return m.applyAt(path, () => replied(m, path, state, reply));
}

function replied(m: Machine, path: string, state: ActionState, reply: ReplyMessage): void {
  const node = m.model(path) as ActionNode;
  if (reply.status === "done") {
    // Written before the timer is canceled: a failing `output` faults the node, which cancels it.
    writeResult(m, path, node, reply.fields ?? {}, state.sent);
    stopTaskTimers(m, state);
    m.complete(path);
    return;
  }
  const untimed = stopTaskTimers(m, state);
  if (reply.status === "critical") {
    m.nodes.set(path, untimed);
    raise(m, path, reply.error?.code || "ActionError", reply.error?.message ?? "");
  } else if (state.tries < node.retry) {
    m.note(
      "waiting",
      `task ${reply.task.id} failed (${reply.error?.message ?? "error"}); retry ${state.tries + 1} of ${node.retry}`,
    );
    m.nodes.set(path, untimed);
    retryLater(m, path, node, state.tries + 1, state.attempt);
  } else {
    m.nodes.set(path, untimed);
    openIncident(m, path, reply, state.attempt);
  }
}

export function applyTimer(m: Machine, message: TimerMessage): boolean {
  const path = message.node;
  const state = m.nodes.get(path);
  if (state?.k === "action" && state.beat === message.timer)
    return m.applyAt(path, () => heartbeatDue(m, path, state));
  if (!state || !("timer" in state) || state.timer !== message.timer) {
    m.note("ignored", `timer ${message.timer} fired for a node no longer waiting on it`);
    return false;
  }
  return m.applyAt(path, () => {
    if (state.k === "delay") m.complete(path);
    else if (state.k === "action" && state.wait === "backoff")
      sendAttempt(m, path, m.model(path) as ActionNode, state.tries, state.attempt);
    else timedOut(m, path, state);
  });
}

function timedOut(m: Machine, path: string, state: NodeState): void {
  // The timer has fired, so only what else the node holds (an await's subscription, a heartbeat's timer) is canceled.
  if (state.k === "action") m.nodes.set(path, stopTaskTimers(m, { ...state, timer: undefined }));
  else if (state.k === "await") m.nodes.set(path, { ...state, timer: undefined });
  const what = state.k === "action" ? `task ${state.task}` : `await of ${(m.model(path) as AwaitNode).event}`;
  raise(m, path, "Timeout", `${what} timed out`);
}

/**
 * An event wakes every await of the instance that is waiting for it when it is first taken, each
 * once: the first await to take it records the other awaits then waiting for it (the same event
 * name, and its key or none; they may take it when their delivery arrives, unless they stop
 * waiting first); any other await (a later one in a sequence, a loop's next iteration, a duplicate
 * delivery) finds it already consumed.
 */
export function applyEvent(m: Machine, event: EventMessage): boolean {
  const path = event.node;
  const state = m.nodes.get(path);
  if (state?.k !== "await" || state.subscription !== event.subscription) {
    m.note(
      "ignored",
      `event ${event.name} (${event.id}) for subscription ${event.subscription}, which is no longer active`,
    );
    return false;
  }
  m.consumed = m.consumed.filter(([, at]) => at > m.now - CONSUMED_WINDOW_MS);
  const taken = m.consumed.find(([id]) => id === event.id);
  if (!leftFor(taken, event.subscription)) {
    m.note(
      "ignored",
      `event ${event.id} was already consumed by this instance (by an await that took it before this one was waiting, or by this one)`,
    );
    return false;
  }
  return m.applyAt(path, () => awaited(m, path, state, event, taken));
}

/**
 * Whether the await of `subscription` may take event `id` at `now`: the instance has not consumed
 * it (within the window), or the await was waiting for it when another took it. The runtime asks
 * too, so a buffered event an await may not take is never queued only to be ignored.
 */
export function mayTake(
  consumed: readonly ConsumedEvent[],
  subscription: string,
  id: string,
  now: number,
): boolean {
  return leftFor(
    consumed.find(([event, at]) => event === id && at > now - CONSUMED_WINDOW_MS),
    subscription,
  );
}

/** Whether an event, consumed as `taken` (or not at all), is still there for the await of `subscription`. */
function leftFor(taken: ConsumedEvent | undefined, subscription: string): boolean {
  return !taken || taken[2]?.includes(subscription) === true;
}

function awaited(
  m: Machine,
  path: string,
  state: AwaitState,
  event: EventMessage,
  taken: ConsumedEvent | undefined,
): void {
  const node = m.model(path) as AwaitNode;
  const before = m.consumed;
  // Spent before the condition is evaluated: a condition that fails with an error has taken the
  // event (a handler looping back to the await must not meet it again).
  m.consumed = spend(m, event, taken);
  if (!m.conditionsHold(node.conditions, path, { event: event.data ?? null })) {
    m.consumed = before;
    m.note(
      "waiting",
      `event ${event.name} (${event.id}) arrived but the await's condition does not hold; still waiting`,
    );
    return;
  }
  if (node.into) m.write(path, node.into, event.data ?? null);
  endSubscription(m, state.subscription);
  if (state.timer) m.emit({ type: "cancel-timer", timer: state.timer });
  m.complete(path);
}

/** The consumed list once `event` is taken by the await of `event.subscription`. */
function spend(m: Machine, event: EventMessage, taken: ConsumedEvent | undefined): ConsumedEvent[] {
  const record = (waiting: readonly string[]): ConsumedEvent =>
    waiting.length ? [event.id, taken?.[1] ?? m.now, waiting] : [event.id, taken?.[1] ?? m.now];
  if (taken) {
    const waiting = (taken[2] ?? []).filter((subscription) => subscription !== event.subscription);
    return m.consumed.map((entry) => (entry === taken ? record(waiting) : entry));
  }
  const waiting: string[] = [];
  for (const [path, state] of m.nodes) {
    if (state.k !== "await" || state.subscription === event.subscription) continue;
    if (state.key !== undefined && state.key !== event.key) continue; // it could never take it
    if ((m.model(path) as AwaitNode).event === event.name) waiting.push(state.subscription);
  }
  return [...m.consumed, record(waiting)];
}

export function applyChild(m: Machine, message: ChildMessage): boolean {
  const path = message.node;
  const state = m.nodes.get(path);
  if (state?.k !== "call" || state.child !== message.child) {
    m.note("ignored", `child ${message.child} finished, but no call waits for it`);
    return false;
  }
  return m.applyAt(path, () => {
    m.nodes.delete(path); // the child has ended: nothing to cancel, whatever follows
    if (message.status === "completed") {
      writeResult(m, path, m.model(path) as CallNode, message.fields ?? {}, state.sent);
      m.complete(path);
      return;
    }
    const fault = message.fault ?? { code: "Canceled", message: `subprocess ${message.child} was canceled` };
    raise(m, path, fault.code, fault.message);
  });
}

function takeIncident(m: Machine, message: OperatorMessage): Incident | undefined {
  const incident = message.node ? m.incidents.find((i) => i.node === message.node) : m.incidents[0];
  if (!incident) {
    m.note("rejected", message.node ? `no incident at node ${message.node}` : "the instance has no incident");
    return undefined;
  }
  m.incidents = m.incidents.filter((i) => i !== incident);
  if (!m.incidents.length && !m.paused && m.status === "suspended") m.status = "running";
  return incident;
}

export function applyOperator(m: Machine, message: OperatorMessage): boolean {
  switch (message.action) {
    case "pause":
      if (m.paused) return ignore(m, "the instance is paused already");
      m.paused = true;
      // Suspended by an operator: told as an incident's suspension is (no state but the status).
      if (m.status === "running") {
        m.status = "suspended";
        m.publish("docket.instance.suspended", {
          paused: true,
          ...(message.reason ? { reason: message.reason } : {}),
        });
      }
      return true;
    case "resume":
      if (!m.paused) return ignore(m, "the instance is not paused");
      m.paused = false;
      if (m.status === "suspended" && !m.incidents.length) m.status = "running";
      sendHeld(m);
      return true;
    case "cancel":
      endInstance(m, "canceled");
      return true;
  }
  const incident = takeIncident(m, message);
  if (!incident) return false;
  const path = incident.node;
  const state = m.nodes.get(path);
  if (state?.k !== "action") return false;
  if (message.action === "skip") return skip(m, path, state, message.fields);
  return m.applyAt(path, () => {
    const node = m.model(path) as ActionNode;
    if (message.action === "retry") sendAttempt(m, path, node, state.tries, state.attempt);
    else
      raise(
        m,
        path,
        incident.error.code,
        incident.error.message || message.reason || "failed by an operator",
      );
  });
}

/**
 * Completes an action an operator skips. With fields, as a `done` reply with them would: through
 * the action's `output` mapping, evaluated first, so that a mapping failing on them rejects the
 * command (an operator's typo must not end the instance: the incident stays open). Without fields
 * (none, or `{}`) there is no result to map: the action completes and writes nothing.
 */
function skip(m: Machine, path: string, state: ActionState, fields: JsonObject | undefined): boolean {
  const node = m.model(path) as ActionNode;
  const given = fields && Object.keys(fields).length ? fields : undefined;
  let mapped: JsonObject | undefined;
  if (given && node.output) {
    try {
      mapped = mapOutput(m, path, node, given);
    } catch (error) {
      if (!(error instanceof DocketError)) throw error;
      m.note(
        "rejected",
        `skip at ${path}: the action's output mapping fails on the given fields, so nothing changed and the incident stays open: ${error.message}`,
      );
      return false;
    }
  }
  return m.applyAt(path, () => {
    if (mapped) writeMapped(m, path, mapped);
    else if (given) m.merge(path, given, state.sent);
    m.complete(path);
  });
}

/**
 * Sends the tasks held while paused, each one's timeout starting now, as it is sent. A task whose
 * action no longer waits for it (a snapshot written before canceling an action dropped its held
 * task) is dropped: nobody would hear its reply.
 */
function sendHeld(m: Machine): void {
  for (const task of m.held) {
    const path = task.task.node;
    const state = m.nodes.get(path);
    // No note: an `ignored` one would have the operations API report the resume as refused.
    if (state?.k !== "action" || state.task !== task.task.id || state.wait !== "reply") continue;
    m.nodes.set(path, startTaskTimers(m, path, m.model(path) as ActionNode, state));
    m.emit(task);
  }
  m.held = [];
}

function ignore(m: Machine, reason: string): false {
  m.note("rejected", reason);
  return false;
}

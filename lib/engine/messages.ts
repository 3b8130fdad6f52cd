/** Applying one message to an instance: replies, timers, events, child completions, operator commands. */
import type { ActionNode, AwaitNode, CallNode, JsonObject } from "../language/model.js";
import { asFields, retryLater, sendAttempt } from "./activities.js";
import { endInstance, raise } from "./flow.js";
import type { Machine } from "./machine.js";
import type {
  ChildMessage,
  EventMessage,
  Incident,
  NodeState,
  OperatorMessage,
  ReplyMessage,
  TimerMessage,
} from "./types.js";

/** How long an instance remembers the events it consumed (the event buffer's window). */
export const CONSUMED_WINDOW_MS = 60 * 60 * 1000;

function writeResult(
  m: Machine,
  path: string,
  node: ActionNode | CallNode,
  fields: JsonObject,
  sent: JsonObject | undefined,
): void {
  if (node.output) {
    const mapped = asFields(m.evaluate(node.output, path, { result: fields }), `output of <${node.kind}>`);
    for (const key of Object.keys(mapped)) m.write(path, key, mapped[key] ?? null);
  } else m.merge(path, fields, sent);
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

export function applyReply(m: Machine, reply: ReplyMessage): boolean {
  const path = reply.task.node;
  const state = m.nodes.get(path);
  if (state?.k !== "action" || state.task !== reply.task.id || state.wait !== "reply") {
    m.note("ignored", `reply to task ${reply.task.id} is stale or a duplicate (no action waits for it)`);
    return false;
  }
  const node = m.model(path) as ActionNode;
  if (state.timer) m.emit({ type: "cancel-timer", timer: state.timer });
  if (reply.status === "done") {
    writeResult(m, path, node, reply.fields ?? {}, state.sent);
    m.complete(path);
    return true;
  }
  if (reply.status === "critical") {
    raise(m, path, reply.error?.code || "ActionError", reply.error?.message ?? "");
  } else if (state.tries < node.retry) {
    m.note(
      "waiting",
      `task ${reply.task.id} failed (${reply.error?.message ?? "error"}); retry ${state.tries + 1} of ${node.retry}`,
    );
    m.nodes.set(path, { ...state, timer: undefined });
    retryLater(m, path, node, state.tries + 1, state.attempt);
  } else {
    m.nodes.set(path, { ...state, timer: undefined });
    openIncident(m, path, reply, state.attempt);
  }
  return true;
}

export function applyTimer(m: Machine, message: TimerMessage): boolean {
  const path = message.node;
  const state = m.nodes.get(path);
  if (!state || !("timer" in state) || state.timer !== message.timer) {
    m.note("ignored", `timer ${message.timer} fired for a node no longer waiting on it`);
    return false;
  }
  if (state.k === "delay") m.complete(path);
  else if (state.k === "action" && state.wait === "backoff")
    sendAttempt(m, path, m.model(path) as ActionNode, state.tries, state.attempt);
  else timedOut(m, path, state);
  return true;
}

function timedOut(m: Machine, path: string, state: NodeState): void {
  if (state.k === "await") m.emit({ type: "unsubscribe", subscription: state.subscription });
  const what = state.k === "action" ? `task ${state.task}` : `await of ${(m.model(path) as AwaitNode).event}`;
  raise(m, path, "Timeout", `${what} timed out`);
}

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
  if (m.consumed.some(([id]) => id === event.id)) {
    m.note("ignored", `event ${event.id} was already consumed by this instance`);
    return false;
  }
  const node = m.model(path) as AwaitNode;
  if (!m.conditionsHold(node.conditions, path, { event: event.data ?? null })) {
    m.note(
      "waiting",
      `event ${event.name} (${event.id}) arrived but the await's condition does not hold; still waiting`,
    );
    return true;
  }
  m.consumed = [...m.consumed, [event.id, m.now]];
  if (node.into) m.write(path, node.into, event.data ?? null);
  m.emit({ type: "unsubscribe", subscription: state.subscription });
  if (state.timer) m.emit({ type: "cancel-timer", timer: state.timer });
  m.complete(path);
  return true;
}

export function applyChild(m: Machine, message: ChildMessage): boolean {
  const path = message.node;
  const state = m.nodes.get(path);
  if (state?.k !== "call" || state.child !== message.child) {
    m.note("ignored", `child ${message.child} finished, but no call waits for it`);
    return false;
  }
  if (message.status === "completed") {
    writeResult(m, path, m.model(path) as CallNode, message.fields ?? {}, state.sent);
    m.complete(path);
    return true;
  }
  const fault = message.fault ?? { code: "Canceled", message: `subprocess ${message.child} was canceled` };
  m.nodes.delete(path); // the child has ended: nothing to cancel
  raise(m, path, fault.code, fault.message);
  return true;
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
      if (m.status === "running") m.status = "suspended";
      return true;
    case "resume":
      if (!m.paused) return ignore(m, "the instance is not paused");
      m.paused = false;
      if (m.status === "suspended" && !m.incidents.length) m.status = "running";
      for (const task of m.held) m.emit(task);
      m.held = [];
      return true;
    case "cancel":
      endInstance(m, "canceled");
      return true;
  }
  const incident = takeIncident(m, message);
  if (!incident) return false;
  const state = m.nodes.get(incident.node);
  if (state?.k !== "action") return false;
  const node = m.model(incident.node) as ActionNode;
  if (message.action === "retry") sendAttempt(m, incident.node, node, state.tries, state.attempt);
  else if (message.action === "skip") {
    m.merge(incident.node, message.fields ?? {}, state.sent);
    m.complete(incident.node);
  } else
    raise(
      m,
      incident.node,
      incident.error.code,
      incident.error.message || message.reason || "failed by an operator",
    );
  return true;
}

function ignore(m: Machine, reason: string): false {
  m.note("rejected", reason);
  return false;
}

/**
 * Unwinding: canceling subtrees, raising faults to the nearest scope whose handler matches, and
 * ending the instance. Both the leaf activities (a `<fault>` raises) and control flow (an
 * expression error raises) need these, so they live apart from both.
 */
import type { Activity, Scope } from "../language/model.js";
import type { Machine } from "./machine.js";
import type { ConsumedEvent, NodeState } from "./types.js";

export const lastSegment = (path: string) => path.slice(path.lastIndexOf(".") + 1);
export const parentOf = (path: string) => path.slice(0, path.lastIndexOf("."));
/** A parallel foreach branch (`b<k>`) or a fault handler body (`f<h>`): a path with no model node of its own. */
const isPseudo = (path: string) => /^[bf]\d+$/.test(lastSegment(path));

/** The activities a sequence-like node runs: its own, a foreach's for a branch, a handler's. */
export function childrenAt(m: Machine, path: string): readonly Activity[] {
  const last = lastSegment(path);
  if (last.startsWith("f")) {
    const scope = m.model(parentOf(path));
    return ("scope" in scope ? scope.scope?.handlers[Number(last.slice(1))]?.children : undefined) ?? [];
  }
  const node = m.model(path);
  return "children" in node ? node.children : [];
}

export function startSequence(m: Machine, path: string, index: number): void {
  const children = childrenAt(m, path);
  if (index >= children.length) {
    m.complete(path);
    return;
  }
  m.nodes.set(path, { k: "seq", i: index });
  m.start(`${path}.${index}`);
}

/**
 * Ends an await's subscription: unsubscribes, and strikes it from the events recorded as ones it
 * may still take (a record left with nobody keeps only that the event was consumed).
 */
export function endSubscription(m: Machine, subscription: string): void {
  m.emit({ type: "unsubscribe", subscription });
  if (!m.consumed.some(([, , waiting]) => waiting?.includes(subscription))) return;
  m.consumed = m.consumed.map((entry): ConsumedEvent => {
    const [id, at, waiting] = entry;
    if (!waiting?.includes(subscription)) return entry;
    const rest = waiting.filter((other) => other !== subscription);
    return rest.length ? [id, at, rest] : [id, at];
  });
}

/** Undoes what an active leaf set going: timers, subscriptions, child instances. */
export function cancelLeaf(m: Machine, path: string, state: NodeState): void {
  if ((state.k === "action" || state.k === "delay" || state.k === "await") && state.timer) {
    m.emit({ type: "cancel-timer", timer: state.timer });
  }
  if (state.k === "action" && state.beat) m.emit({ type: "cancel-timer", timer: state.beat });
  if (state.k === "await") endSubscription(m, state.subscription);
  if (state.k === "call") m.emit({ type: "cancel-child", child: state.child });
  if (state.k === "action") m.held = m.held.filter((held) => held.task.node !== path);
}

const isLeaf = (state: NodeState) =>
  state.k === "action" || state.k === "delay" || state.k === "await" || state.k === "call";

/**
 * Cancels every active node under `prefix` (and the node itself when `inclusive`). Each active
 * leaf but `origin` (the node whose fault causes this: it faulted, it was not canceled) gets a
 * `canceled` note saying `why`, which is how a diagram tells a canceled node from a finished one.
 */
export function cancelUnder(
  m: Machine,
  prefix: string,
  inclusive: boolean,
  why: string,
  origin?: string,
): void {
  const under = `${prefix}.`;
  const inside = (path: string) => path.startsWith(under) || (inclusive && path === prefix);
  for (const [path, state] of [...m.nodes]) {
    if (!inside(path)) continue;
    cancelLeaf(m, path, state);
    if (path !== origin && isLeaf(state)) m.note("canceled", `${path} canceled: ${why}`, path);
    m.nodes.delete(path);
  }
  for (const path of [...m.scopes.keys()]) if (inside(path)) m.closeScope(path);
  if (m.incidents.some((incident) => inside(incident.node))) {
    m.incidents = m.incidents.filter((incident) => !inside(incident.node));
    if (!m.incidents.length && !m.paused && m.status === "suspended") m.status = "running";
  }
  m.dropAgenda(prefix);
}

function matchHandler(scope: Scope | undefined, code: string): number {
  const handlers = scope?.handlers ?? [];
  const byCode = handlers.findIndex((h) => h.codes?.includes(code));
  return byCode >= 0 ? byCode : handlers.findIndex((h) => h.codes === undefined);
}

/**
 * Raises a fault at `path`: the nearest scope with a matching handler, from `from` (default: the
 * node's parent) outward, runs it; else the instance faults. The history note names `path`.
 */
export function raise(m: Machine, path: string, code: string, message: string, from = parentOf(path)): void {
  for (let scope = from; scope !== ""; scope = scope.includes(".") ? parentOf(scope) : "") {
    const state = m.nodes.get(scope);
    if (!state || state.k === "handling" || isPseudo(scope)) continue;
    const model = m.model(scope);
    const h = matchHandler("scope" in model ? model.scope : undefined, code);
    if (h < 0) continue;
    const handled = `fault ${code} at ${path} handled at ${scope}`;
    cancelUnder(m, scope, false, handled, path);
    m.nodes.set(scope, { k: "handling" });
    const handler = `${scope}.f${h}`;
    m.openScope(handler, { "inst:fault": { code, message } });
    m.note("waiting", handled, path);
    startSequence(m, handler, 0);
    return;
  }
  endInstance(m, "faulted", { code, message, node: path });
}

/** Ends the instance: everything still active is canceled, lifecycle event and parent notified. */
export function endInstance(
  m: Machine,
  status: "completed" | "faulted" | "canceled",
  fault?: { code: string; message: string; node: string },
): void {
  cancelUnder(m, "0", true, `the instance ${status === "canceled" ? "was canceled" : status}`, fault?.node);
  m.status = status;
  m.incidents = [];
  m.held = [];
  const context = m.scopes.get("0") ?? {};
  if (fault) m.fault = { id: m.nextId(`${m.id}/e`), ...fault };
  m.emit({ type: "finish", instance: m.id, status });
  m.publish(`docket.instance.${status}`, m.fault && status === "faulted" ? { fault: { ...m.fault } } : {});
  if (m.parent) {
    m.emit({
      type: "notify-parent",
      message: {
        type: "child",
        instance: m.parent.instance,
        node: m.parent.node,
        child: m.id,
        status,
        fields: context,
        ...(m.fault && status === "faulted"
          ? { fault: { code: m.fault.code, message: m.fault.message } }
          : {}),
      },
    });
  }
}

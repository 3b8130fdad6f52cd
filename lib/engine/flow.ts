/**
 * Control flow: starting containers, hearing their children complete, raising faults to the
 * nearest scope whose handler matches, and canceling subtrees.
 */
import { DocketError, ExpressionError } from "../errors.js";
import type { Activity, ForeachNode, JsonObject, Scope, WhileNode } from "../language/model.js";
import { cancelLeaf, startLeaf } from "./activities.js";
import { type Machine, STEP_BUDGET } from "./machine.js";
import type { NodeState } from "./types.js";

const lastSegment = (path: string) => path.slice(path.lastIndexOf(".") + 1);
export const parentOf = (path: string) => path.slice(0, path.lastIndexOf("."));
const isPseudo = (path: string) => /^[bf]\d+$/.test(lastSegment(path));

function declared(scope: Scope | undefined): JsonObject | undefined {
  if (!scope?.properties.length) return undefined;
  const values: JsonObject = {};
  for (const property of scope.properties) values[property.name] = property.value;
  return values;
}

/** The activities a sequence-like node runs: its own, a foreach's for a branch, a handler's. */
function childrenAt(m: Machine, path: string): readonly Activity[] {
  const last = lastSegment(path);
  if (last.startsWith("f")) {
    const scope = m.model(parentOf(path));
    return ("scope" in scope ? scope.scope?.handlers[Number(last.slice(1))]?.children : undefined) ?? [];
  }
  const node = m.model(path);
  return "children" in node ? node.children : [];
}

/** Runs the agenda to quiescence; an expression error faults the node it came from. */
export function run(m: Machine): void {
  for (let op = m.nextOp(); op; op = m.nextOp()) {
    const at = op.op === "start" ? op.path : op.parent;
    try {
      if (op.op === "start") startNode(m, op.path);
      else childDone(m, op.parent, op.child);
    } catch (error) {
      if (!(error instanceof DocketError)) throw error;
      raise(m, at, error.code, error.message);
    }
  }
  if (m.budgetSpent && !m.finished) {
    m.agenda.length = 0;
    endInstance(m, "faulted", {
      code: "StepLimit",
      message: `more than ${STEP_BUDGET} steps in one transition: a loop that never waits (give it a condition that ends, or an action, delay or await inside)`,
      node: "0",
    });
  } else if (!m.finished && m.nodes.get("0") === undefined) endInstance(m, "completed");
}

function startSequence(m: Machine, path: string, index: number): void {
  const children = childrenAt(m, path);
  if (index >= children.length) {
    m.complete(path);
    return;
  }
  m.nodes.set(path, { k: "seq", i: index });
  m.start(`${path}.${index}`);
}

function startNode(m: Machine, path: string): void {
  if (m.nodes.get(parentOf(path)) === undefined && path !== "0") return;
  const node = m.model(path);
  switch (node.kind) {
    case "process":
      startSequence(m, path, 0);
      return;
    case "sequence":
    case "case": {
      const values = declared(node.scope);
      if (values) m.openScope(path, values);
      startSequence(m, path, 0);
      return;
    }
    case "all": {
      const values = declared(node.scope);
      if (values) m.openScope(path, values);
      if (!node.children.length) {
        m.complete(path);
        return;
      }
      m.nodes.set(path, { k: "all", open: node.children.length });
      for (let i = 0; i < node.children.length; i++) m.start(`${path}.${i}`);
      return;
    }
    case "while":
      iterateWhile(m, path, node, 1);
      return;
    case "foreach":
      startForeach(m, path, node);
      return;
    case "switch": {
      m.nodes.set(path, { k: "switch" });
      const index = node.cases.findIndex((c) => m.conditionsHold(c.conditions, path));
      if (index < 0) m.complete(path);
      else m.start(`${path}.${index}`);
      return;
    }
    default:
      startLeaf(m, path, node);
  }
}

function iterateWhile(m: Machine, path: string, node: WhileNode, n: number): void {
  m.closeScope(path);
  const values = declared(node.scope);
  if (values) m.openScope(path, values);
  m.nodes.set(path, { k: "while", n, i: 0 });
  if (!m.conditionsHold(node.conditions, path)) {
    m.complete(path);
    return;
  }
  if (node.children.length) m.start(`${path}.0`);
  else m.agenda.push({ op: "done", parent: path, child: `${path}.-1` });
}

function selectItems(m: Machine, path: string, node: ForeachNode): readonly unknown[] {
  let value: unknown;
  if ("path" in node.select) {
    value = m.context(path);
    for (const segment of node.select.path) {
      value =
        value !== null && typeof value === "object" && !Array.isArray(value)
          ? (value as JsonObject)[segment]
          : undefined;
      if (value === undefined) {
        throw new ExpressionError(
          node.select.path.join("."),
          `foreach select="${node.select.path.join(".")}": no key "${segment}" in the context`,
        );
      }
    }
  } else value = m.evaluate(node.select.expression, path);
  if (!Array.isArray(value)) {
    const shown = "path" in node.select ? node.select.path.join(".") : node.select.expression.source;
    throw new ExpressionError(
      shown,
      `foreach select \`${shown}\` must give a list, got ${JSON.stringify(value)?.slice(0, 80)}`,
    );
  }
  return value;
}

function iterationScope(node: ForeachNode, items: readonly unknown[], n: number): JsonObject {
  return { ...declared(node.scope), "inst:iteration": n, "inst:current": items[n - 1] as JsonObject[string] };
}

function startForeach(m: Machine, path: string, node: ForeachNode): void {
  const items = selectItems(m, path, node) as JsonObject[string][];
  if (!items.length) {
    m.complete(path);
    return;
  }
  if (!node.parallel) {
    iterateForeach(m, path, node, items, 1);
    return;
  }
  m.nodes.set(path, { k: "pforeach", open: items.length });
  for (let k = 0; k < items.length; k++) {
    const branch = `${path}.b${k}`;
    m.openScope(branch, iterationScope(node, items, k + 1));
    startSequence(m, branch, 0);
  }
}

function iterateForeach(
  m: Machine,
  path: string,
  node: ForeachNode,
  items: readonly JsonObject[string][],
  n: number,
): void {
  m.closeScope(path);
  m.openScope(path, iterationScope(node, items, n));
  m.nodes.set(path, { k: "foreach", n, i: 0, items });
  if (node.children.length) m.start(`${path}.0`);
  else m.agenda.push({ op: "done", parent: path, child: `${path}.-1` });
}

function childDone(m: Machine, parent: string, child: string): void {
  const state = m.nodes.get(parent);
  if (!state) return;
  const next = Number(lastSegment(child)) + 1;
  switch (state.k) {
    case "seq":
      startSequence(m, parent, next);
      return;
    case "while": {
      const node = m.model(parent) as WhileNode;
      if (next < node.children.length) {
        m.nodes.set(parent, { ...state, i: next });
        m.start(`${parent}.${next}`);
      } else iterateWhile(m, parent, node, state.n + 1);
      return;
    }
    case "foreach": {
      const node = m.model(parent) as ForeachNode;
      if (next < node.children.length) {
        m.nodes.set(parent, { ...state, i: next });
        m.start(`${parent}.${next}`);
      } else if (state.n < state.items.length) iterateForeach(m, parent, node, state.items, state.n + 1);
      else m.complete(parent);
      return;
    }
    case "pforeach":
    case "all":
      if (state.open <= 1) m.complete(parent);
      else m.nodes.set(parent, { ...state, open: state.open - 1 });
      return;
    case "switch":
    case "handling":
      m.complete(parent);
      return;
    default:
      return;
  }
}

/** Cancels every active node under `prefix` (and the node itself when `inclusive`). */
export function cancelUnder(m: Machine, prefix: string, inclusive: boolean): void {
  const under = `${prefix}.`;
  const inside = (path: string) => path.startsWith(under) || (inclusive && path === prefix);
  for (const path of [...m.nodes.keys()]) {
    if (!inside(path)) continue;
    cancelLeaf(m, path, m.nodes.get(path) as NodeState);
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

/** Raises a fault at `path`: the nearest enclosing scope with a matching handler runs it, else the instance faults. */
export function raise(m: Machine, path: string, code: string, message: string): void {
  let scope = path;
  while (scope !== "0" && scope.includes(".")) {
    scope = parentOf(scope);
    const state = m.nodes.get(scope);
    if (!state || state.k === "handling" || isPseudo(scope)) continue;
    const model = m.model(scope);
    const h = matchHandler("scope" in model ? model.scope : undefined, code);
    if (h < 0) continue;
    cancelUnder(m, scope, false);
    m.nodes.set(scope, { k: "handling" });
    const handler = `${scope}.f${h}`;
    m.openScope(handler, { "inst:fault": { code, message } });
    m.note("waiting", `fault ${code} at ${path} handled at ${scope}`);
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
  cancelUnder(m, "0", true);
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

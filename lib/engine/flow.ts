/**
 * Control flow: starting containers and hearing their children complete. Faults and cancelation
 * are in unwind.ts.
 */
import { DocketError, ExpressionError } from "../errors.js";
import type { ForeachNode, JsonObject, RaceNode, Scope, WhileNode } from "../language/model.js";
import { startLeaf } from "./activities.js";
import { collectIteration, completeForeach, initialCollected } from "./collect.js";
import { type Machine, type Op, opNode, STEP_BUDGET, STEP_RESERVE } from "./machine.js";
import type { NodeState } from "./types.js";
import {
  cancelUnder,
  childrenAt,
  endInstance,
  lastSegment,
  parentOf,
  raise,
  startSequence,
} from "./unwind.js";

function declared(scope: Scope | undefined): JsonObject | undefined {
  if (!scope?.properties.length) return undefined;
  const values: JsonObject = {};
  for (const property of scope.properties) values[property.name] = property.value;
  return values;
}

/**
 * Runs the agenda to quiescence, then what waits for that (`m.later`), until both are empty. An
 * expression error faults the node it came from, whether it failed starting a node, hearing a
 * child, or applying a message there (an `output` mapping, an await's condition).
 */
export function run(m: Machine): void {
  for (let op = nextOp(m); op; op = nextOp(m)) {
    const at = opNode(op);
    if (!m.takeStep()) {
      overrun(m, op);
      continue;
    }
    try {
      if (op.op === "start") startNode(m, op.path);
      else if (op.op === "done") childDone(m, op.parent, op.child);
      else op.effect();
    } catch (error) {
      if (!(error instanceof DocketError)) throw error;
      raise(m, at, error.code, error.message);
    }
  }
  if (!m.finished && m.nodes.get("0") === undefined) endInstance(m, "completed");
}

function nextOp(m: Machine): Op | undefined {
  return m.agenda.shift() ?? m.later.pop();
}

/**
 * The step budget ran out on `op`: `StepLimit` is raised at its node like any fault, and its
 * handler (and what follows it) gets a reserve of steps, drawn once. When the reserve runs out
 * too, the instance faults outright: a handler that loops without waiting cannot keep the
 * transition going. A node hearing its child complete is running inside itself, so its own
 * handlers count, as they do when the budget runs out starting that child: a loop's StepLimit
 * handler catches it whichever step the budget ran out on.
 */
function overrun(m: Machine, op: Op): void {
  const at = opNode(op);
  const message = `more than ${STEP_BUDGET} steps in one transition: a loop that never waits (give it a condition that ends, or an action, delay or await inside)`;
  if (m.drawReserve()) raise(m, at, "StepLimit", message, op.op === "done" ? at : undefined);
  else
    endInstance(m, "faulted", {
      code: "StepLimit",
      message: `${message}; and ${STEP_RESERVE} more in what handled StepLimit`,
      node: at,
    });
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
    case "all":
    case "race": {
      const values = declared(node.scope);
      if (values) m.openScope(path, values);
      if (!node.children.length) {
        m.complete(path);
        return;
      }
      if (node.kind === "race") {
        const state: NodeState = { k: "race" };
        m.nodes.set(path, state);
        startRaceBranch(m, path, node, state, 0);
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

/**
 * Starts branch `i` of a race, and the next one only once everything started so far has run until
 * it completed or waits (`m.later`): a branch that completes without waiting wins before a later
 * one starts. A branch that completes, or a fault that leaves its branch, replaces the race's
 * `state` (with none, or a handler's), and no further branch starts.
 */
function startRaceBranch(m: Machine, path: string, node: RaceNode, state: NodeState, i: number): void {
  m.start(`${path}.${i}`);
  if (i + 1 >= node.children.length) return;
  m.later.push({
    op: "apply",
    path: `${path}.${i + 1}`, // where a StepLimit on this step is raised, as on starting it
    effect: () => {
      if (m.nodes.get(path) === state) startRaceBranch(m, path, node, state, i + 1);
    },
  });
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
    completeForeach(m, path);
    return;
  }
  if (!node.parallel) {
    m.nodes.set(path, { k: "foreach", n: 0, i: 0, items, ...initialCollected(m, node, items.length) });
    iterateForeach(m, path, node, 1);
    return;
  }
  m.nodes.set(path, { k: "pforeach", open: items.length, ...initialCollected(m, node, items.length) });
  for (let k = 0; k < items.length; k++) {
    const branch = `${path}.b${k}`;
    m.openScope(branch, iterationScope(node, items, k + 1));
    // A branch without children ends here, so its collect is evaluated here.
    if (!node.children.length && !collectIteration(m, path, branch, k)) return;
    startSequence(m, branch, 0);
  }
}

/** Starts iteration `n` of a sequential foreach, whose state holds the items (and what was collected). */
function iterateForeach(m: Machine, path: string, node: ForeachNode, n: number): void {
  const state = m.nodes.get(path) as Extract<NodeState, { k: "foreach" }>;
  m.closeScope(path);
  m.openScope(path, iterationScope(node, state.items, n));
  m.nodes.set(path, { ...state, n, i: 0 });
  if (node.children.length) m.start(`${path}.0`);
  else m.agenda.push({ op: "done", parent: path, child: `${path}.-1` });
}

function childDone(m: Machine, parent: string, child: string): void {
  const state = m.nodes.get(parent);
  if (!state) return;
  const next = Number(lastSegment(child)) + 1;
  switch (state.k) {
    case "seq":
      if (next >= childrenAt(m, parent).length && !branchCollected(m, parent)) return;
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
      } else if (!collectIteration(m, parent, parent, state.n - 1)) return;
      else if (state.n < state.items.length) iterateForeach(m, parent, node, state.n + 1);
      else completeForeach(m, parent);
      return;
    }
    case "pforeach":
      if (state.open <= 1) completeForeach(m, parent);
      else m.nodes.set(parent, { ...state, open: state.open - 1 });
      return;
    case "all":
      if (state.open <= 1) m.complete(parent);
      else m.nodes.set(parent, { ...state, open: state.open - 1 });
      return;
    case "race":
      // The first branch to complete wins: the others are canceled as a fault would cancel them.
      cancelUnder(m, parent, false, `branch ${child} won race ${parent}`);
      m.complete(parent);
      return;
    case "switch":
    case "handling":
      m.complete(parent);
      return;
    default:
      return;
  }
}

/**
 * A parallel foreach's branch (`<foreach>.b<k>`) has run its last child: its collect is evaluated
 * now, while its scope is still open. False when that faulted the foreach.
 */
function branchCollected(m: Machine, path: string): boolean {
  const branch = /\.b(\d+)$/.exec(path);
  return !branch || collectIteration(m, parentOf(path), path, Number(branch[1]));
}

/**
 * A foreach's `collect`: a value evaluated at the end of each iteration, in that iteration's
 * scope, kept in the foreach's state at the item's index, and written as a list to `into` when
 * the foreach completes. The list lives in the snapshot, so a parallel foreach's branches can
 * finish in any order across transitions and the list still comes out in item order.
 */
import { DocketError } from "../errors.js";
import type { ForeachNode, Json } from "../language/model.js";
import type { Machine } from "./machine.js";
import type { NodeState } from "./types.js";
import { raise } from "./unwind.js";

type ForeachState = Extract<NodeState, { k: "foreach" | "pforeach" }>;

/**
 * The list to fill in place: one this transition made, or else a copy of the snapshot's, made once
 * per transition (copying on every iteration would make a 100,000-item foreach quadratic). A list
 * that came in with the snapshot is never filled, so the input is never mutated.
 */
function writable(m: Machine, list: readonly Json[]): Json[] {
  if (m.madeLists?.has(list)) return list as Json[];
  return madeHere(m, [...list]);
}

/** Marks a list as this transition's own, to be filled in place. */
function madeHere(m: Machine, list: Json[]): Json[] {
  m.madeLists ??= new WeakSet();
  m.madeLists.add(list);
  return list;
}

function foreachState(m: Machine, path: string): ForeachState | undefined {
  const state = m.nodes.get(path);
  return state?.k === "foreach" || state?.k === "pforeach" ? state : undefined;
}

/** The list a foreach starts with: empty, or (parallel) a slot per item. */
export function initialCollected(m: Machine, node: ForeachNode, items: number): { collected?: Json[] } {
  if (!node.collect) return {};
  return { collected: madeHere(m, node.parallel ? new Array<Json>(items).fill(null) : []) };
}

/**
 * Evaluates the foreach's `collect` for the iteration whose scope is at `scope` and keeps the value
 * at `index`. An expression error faults the foreach (not the iteration): false then, and the
 * caller must stop, since the fault canceled the foreach.
 */
export function collectIteration(m: Machine, foreach: string, scope: string, index: number): boolean {
  const node = m.model(foreach) as ForeachNode;
  if (!node.collect) return true;
  let value: Json;
  try {
    value = m.evaluate(node.collect.value, scope);
  } catch (error) {
    if (!(error instanceof DocketError)) throw error;
    raise(m, foreach, error.code, `foreach collect: ${error.message}`);
    return false;
  }
  const state = foreachState(m, foreach);
  if (!state) return true;
  const list = writable(m, state.collected ?? []);
  list[index] = value;
  m.nodes.set(foreach, { ...state, collected: list });
  return true;
}

/** Completes a foreach, writing its collected list to `into` by the scoping rule from where it stands. */
export function completeForeach(m: Machine, path: string): void {
  const node = m.model(path) as ForeachNode;
  const collected = foreachState(m, path)?.collected ?? [];
  m.closeScope(path); // the last iteration's scope: `into` lands outside the foreach
  if (node.collect) m.write(path, node.collect.into, collected as Json[]);
  m.complete(path);
}

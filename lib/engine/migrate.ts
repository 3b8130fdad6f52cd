/**
 * Moving a running instance to another version of its process (`docket migrate`): pure, like the
 * interpreter. Every active node must map to a node of the same kind in the new version: by an
 * explicit `old=new` (stable ids or paths), else by its stable id (`id` attribute or key), else by
 * its path when the node there is not another activity's by id. A node keeps its container: a
 * sequence's running child may move within it (what the new version inserts before it counts as
 * done, what it adds after it runs), but not into another container. What is in flight is kept:
 * open tasks, timers, subscriptions and child instances keep their ids, and messages for a node
 * that moved are taken to its new path (`moved`). Scopes keep their context; properties the new
 * version declares are added with their defaults. Anything else is refused, with every problem.
 */
import type { Activity, Definition, FlowNode, JsonObject } from "../language/model.js";
import { scopeOf } from "../language/model.js";
import { indexDefinition } from "../language/validate.js";
import type { ActionState, Command, NodeState, Snapshot, TaskCommand } from "./types.js";

export interface MigrationPlan {
  readonly instance: string;
  /** Active nodes whose path changes (the others stay where they are). */
  readonly moves: readonly { readonly from: string; readonly to: string; readonly kind: string }[];
  /** Properties the new version declares, added with their defaults: `<scope path>.<name>`. */
  readonly added: readonly string[];
  /** Why it cannot move; empty when it can. */
  readonly problems: readonly string[];
}

export interface Migration {
  readonly plan: MigrationPlan;
  /** What the move undoes: timers the new version's actions no longer have. */
  readonly commands?: readonly Command[];
  /** The instance on the new version; absent when there are problems. */
  readonly snapshot?: Snapshot;
}

type Mapped = { readonly path: string; readonly node: FlowNode } | { readonly problem: string };
const describe = (node: FlowNode) => `${node.kind}${node.ref ? ` "${node.ref}"` : ""}`;
const parentOf = (id: string) => id.slice(0, id.lastIndexOf("."));
const lastSegment = (id: string) => id.slice(id.lastIndexOf(".") + 1);

/** Whether two nodes at one path are the same activity: a path alone cannot tell an inserted one. */
function sameActivity(a: FlowNode, b: FlowNode): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "action" && b.kind === "action") return a.participant === b.participant;
  if (a.kind === "await" && b.kind === "await") return a.event === b.event;
  if (a.kind === "call" && b.kind === "call") return JSON.stringify(a.process) === JSON.stringify(b.process);
  // A switch's case has no id: it is the same one when it tests the same.
  if (a.kind === "case" && b.kind === "case")
    return (
      JSON.stringify(a.conditions.map((c) => c.source)) === JSON.stringify(b.conditions.map((c) => c.source))
    );
  return true;
}

/** Maps the old version's static ids to the new one's: explicit, then by stable id, then by path. */
function staticMapper(from: Definition, to: Definition, map: Readonly<Record<string, string>>) {
  const oldIndex = indexDefinition(from);
  const newIndex = indexDefinition(to);
  const refs = (index: Map<string, FlowNode>) =>
    new Map([...index.values()].flatMap((n) => (n.ref ? [[n.ref, n.id] as const] : [])));
  const oldRefs = refs(oldIndex);
  const newRefs = refs(newIndex);
  const problems: string[] = [];
  const explicit = new Map<string, string>();
  for (const [a, b] of Object.entries(map)) {
    const old = oldRefs.get(a) ?? (oldIndex.has(a) ? a : undefined);
    const next = newRefs.get(b) ?? (newIndex.has(b) ? b : undefined);
    if (old === undefined)
      problems.push(`map ${a}=${b}: ${a} is neither an id nor a path in the instance's version`);
    if (next === undefined)
      problems.push(`map ${a}=${b}: ${b} is neither an id nor a path in the new version`);
    if (old !== undefined && next !== undefined) explicit.set(old, next);
  }
  /**
   * Explicitly, by stable id, or at its index within its (mapped) container when the node there is
   * recognisably the same activity: so a container that moved takes its children along.
   */
  const mapStatic = (id: string, parentNew: string): string | undefined => {
    const chosen = explicit.get(id);
    if (chosen !== undefined) return chosen;
    const was = oldIndex.get(id);
    const byRef = was?.ref === undefined ? undefined : newRefs.get(was.ref);
    if (byRef !== undefined) return byRef;
    const relative = `${parentNew}.${lastSegment(id)}`;
    const there = newIndex.get(relative);
    return there && was && (there.ref === undefined || there.ref === was.ref) && sameActivity(was, there)
      ? relative
      : undefined;
  };
  return { oldIndex, newIndex, mapStatic, problems };
}

type Mapper = ReturnType<typeof staticMapper>;

/** A runtime path in the new version: each step down must stay inside the mapped container. */
function mapRuntime(m: Mapper, path: string): Mapped {
  const segments = path.split(".");
  let oldStatic = "0";
  let newStatic = "0";
  let runtime = "0";
  for (const segment of segments.slice(1)) {
    if (segment.startsWith("b")) {
      runtime += `.${segment}`; // a parallel foreach's branch: static paths leave it out
      continue;
    }
    if (segment.startsWith("f")) {
      const h = Number(segment.slice(1));
      const scope = m.newIndex.get(newStatic);
      if (!scope || !scopeOf(scope)?.handlers[h])
        return {
          problem: `${path}: the new version's ${newStatic} has no fault handler ${h + 1} to go on in`,
        };
      oldStatic += `.${segment}`;
      newStatic += `.${segment}`;
      runtime += `.${segment}`;
      continue;
    }
    oldStatic += `.${segment}`;
    const old = m.oldIndex.get(oldStatic) as FlowNode;
    const target = m.mapStatic(oldStatic, newStatic);
    const node = target === undefined ? undefined : m.newIndex.get(target);
    if (target === undefined || !node)
      return {
        problem: `${path} (${describe(old)}) has no counterpart in the new version: map it (old=new)`,
      };
    if (node.kind !== old.kind)
      return {
        problem: `${path} (${describe(old)}) maps to ${target}, a ${node.kind}: an active node keeps its kind`,
      };
    if (parentOf(target) !== newStatic)
      return {
        problem: `${path} (${describe(old)}) maps to ${target}, outside the container it runs in (${newStatic})`,
      };
    newStatic = target;
    runtime += `.${lastSegment(target)}`;
  }
  // A fault handler's body stands for the scope node that holds it.
  const node = m.newIndex.get(newStatic) ?? m.newIndex.get(newStatic.replace(/\.f\d+$/, ""));
  return { path: runtime, node: node as FlowNode };
}

/** The state at the new path: a container's running child counted in the new version. */
/** A sequence-like state's running child, at its index in the new version. */
function runningChild(m: Mapper, path: string, state: NodeState): NodeState | string {
  if (state.k !== "seq") return state;
  const child = mapRuntime(m, `${path}.${state.i}`);
  return "problem" in child ? child.problem : { ...state, i: Number(lastSegment(child.path)) };
}

function movedState(
  m: Mapper,
  path: string,
  state: NodeState,
  node: FlowNode,
  old: FlowNode,
): NodeState | string {
  const looping = state.k === "foreach" || state.k === "pforeach";
  if (looping && node.kind === "foreach" && (state.k === "pforeach") !== Boolean(node.parallel))
    return `${path} (foreach) changes between in order and parallel: not while it runs`;
  if (state.k === "seq") return runningChild(m, path, state);
  if (state.k === "while" || state.k === "foreach") {
    const child = mapRuntime(m, `${path}.${state.i}`);
    if ("problem" in child) return child.problem;
    return { ...state, i: Number(lastSegment(child.path)) };
  }
  if (state.k === "all" || state.k === "race") {
    const before = (old as { children: readonly Activity[] }).children.length;
    const after = (node as { children: readonly Activity[] }).children.length;
    if (before !== after)
      return `${path} (${describe(old)}) runs ${before} branches; the new version's has ${after}: not while it runs`;
  }
  if (state.k === "await" && old.kind === "await" && node.kind === "await" && old.event !== node.event)
    return `${path} waits for ${old.event}; the new version's await waits for ${node.event}: not while it waits`;
  return state;
}

interface Moved {
  readonly nodes: [string, NodeState][];
  readonly paths: Map<string, string>;
  readonly moves: MigrationPlan["moves"][number][];
}

function moveNodes(m: Mapper, snapshot: Snapshot, problems: string[]): Moved {
  const moved: Moved = { nodes: [], paths: new Map(), moves: [] };
  for (const [path, state] of snapshot.nodes) {
    const mapped = mapRuntime(m, path);
    if ("problem" in mapped) {
      problems.push(mapped.problem);
      continue;
    }
    // A fault handler's body or a parallel foreach's branch is no node of the definition: only
    // its running child is counted anew.
    const pseudo = /\.[bf]\d+$/.test(path);
    const old = m.oldIndex.get(path.replace(/\.b\d+/g, "")) ?? mapped.node;
    const next = pseudo ? runningChild(m, path, state) : movedState(m, path, state, mapped.node, old);
    if (typeof next === "string") problems.push(next);
    else moved.nodes.push([mapped.path, next]);
    moved.paths.set(path, mapped.path);
    if (mapped.path !== path)
      moved.moves.push({ from: path, to: mapped.path, kind: pseudo ? "sequence" : mapped.node.kind });
  }
  return moved;
}

/**
 * Scopes at their new paths, with the properties the new version adds: to the scopes there are,
 * and as a scope of its own for an active node the new version gives a context it had not.
 */
function moveScopes(m: Mapper, snapshot: Snapshot, moved: Moved, added: string[]): Snapshot["scopes"] {
  const withDefaults = (to: string, context: JsonObject) => {
    const node = m.newIndex.get(to.replace(/\.b\d+/g, ""));
    const next = { ...context };
    for (const property of (node && scopeOf(node)?.properties) ?? [])
      if (!(property.name in next)) {
        next[property.name] = property.value;
        added.push(`${to}.${property.name}`);
      }
    return next;
  };
  const scopes = snapshot.scopes.map(([path, context]) => {
    const to = path === "0" ? "0" : (moved.paths.get(path) ?? path);
    return [to, withDefaults(to, context)] as const;
  });
  const have = new Set(scopes.map(([path]) => path));
  for (const [path] of moved.nodes) {
    const node = m.newIndex.get(path.replace(/\.b\d+/g, ""));
    if (!have.has(path) && !/\.[bf]\d+$/.test(path) && scopeOf(node as FlowNode)?.properties.length)
      scopes.push([path, withDefaults(path, {})] as const);
  }
  return scopes;
}

/**
 * A held task (not sent yet) goes out as the new version's: its path, participant, and an attempt
 * after any the path has had (so its id is new).
 */
function moveHeld(
  task: TaskCommand,
  to: string,
  node: FlowNode | undefined,
  attempts: Record<string, number>,
): TaskCommand {
  if (to === task.task.node && (node?.kind !== "action" || node.participant === task.task.participant))
    return task;
  const participant = node?.kind === "action" ? node.participant : task.task.participant;
  const attempt = to === task.task.node ? task.task.attempt : (attempts[to] ?? 0) + 1;
  if (to !== task.task.node) attempts[to] = attempt;
  const id = `${task.task.instance}/${to}/${attempt}`;
  return { ...task, task: { ...task.task, id, node: to, participant, attempt } };
}

/** Plans the move of `snapshot` from `from` to `to`, and makes it when nothing blocks it. */
export function migrate(
  snapshot: Snapshot,
  from: Definition,
  to: Definition,
  version: string,
  map: Readonly<Record<string, string>> = {},
): Migration {
  const m = staticMapper(from, to, map);
  const problems = [...m.problems];
  if (snapshot.status !== "running" && snapshot.status !== "suspended")
    problems.push(
      `instance ${snapshot.id} is ${snapshot.status}: only running or suspended instances migrate`,
    );
  const moved = moveNodes(m, snapshot, problems);
  const added: string[] = [];
  const scopes = moveScopes(m, snapshot, moved, added);
  // A container's running child is mapped with the container and again as itself: one report each.
  const plan = { instance: snapshot.id, moves: moved.moves, added, problems: [...new Set(problems)] };
  if (plan.problems.length) return { plan };
  const retarget = (path: string) => moved.paths.get(path) ?? path;
  const attempts = movedAttempts(snapshot, moved);
  const heldIds = new Map<string, TaskCommand>();
  const held = snapshot.held.map((task) => {
    const next = retarget(task.task.node);
    const moved = moveHeld(task, next, m.newIndex.get(next.replace(/\.b\d+/g, "")), attempts);
    heldIds.set(task.task.id, moved);
    return moved;
  });
  const commands: Command[] = [];
  const nodes = moved.nodes.map(([path, state]): [string, NodeState] => {
    if (state.k !== "action") return [path, state];
    const rewritten = heldIds.get(state.task);
    const renamed = rewritten
      ? { ...state, task: rewritten.task.id, attempt: rewritten.task.attempt }
      : state;
    return [path, unwantedTimers(renamed, m.newIndex.get(path.replace(/\.b\d+/g, "")), commands)];
  });
  // Moves made before, taken on to where their nodes are now.
  const earlier = (snapshot.moved ?? []).map(([old, next]) => [old, retarget(next)] as const);
  const now = moved.moves.map(({ from: old, to: next }) => [old, next] as const);
  const all = [...earlier, ...now].filter(([old, next]) => old !== next);
  return {
    plan,
    commands,
    snapshot: {
      ...snapshot,
      version,
      nodes,
      scopes,
      held,
      attempts,
      incidents: snapshot.incidents.map((incident) => ({ ...incident, node: retarget(incident.node) })),
      ...(all.length ? { moved: all } : {}),
    },
  };
}

/**
 * Attempt counters at the new paths, kept at the old ones too: what the new version runs at a
 * path a moved node left gets task ids of its own, never one a task sent before had.
 */
function movedAttempts(snapshot: Snapshot, moved: Moved): Record<string, number> {
  const attempts: Record<string, number> = { ...snapshot.attempts };
  const raise = (path: string, n: number) => {
    attempts[path] = Math.max(attempts[path] ?? 0, n);
  };
  for (const [path, state] of snapshot.nodes) if (state.k === "action") raise(path, state.attempt);
  for (const [path, n] of Object.entries(snapshot.attempts)) raise(path, n);
  for (const { from, to } of moved.moves) {
    for (const [path, n] of Object.entries(attempts))
      if (path === from || path.startsWith(`${from}.`)) raise(`${to}${path.slice(from.length)}`, n);
  }
  return attempts;
}

/** A timeout or heartbeat the new version's action no longer has is canceled with its timer. */
function unwantedTimers(state: ActionState, node: FlowNode | undefined, commands: Command[]): ActionState {
  if (node?.kind !== "action") return state;
  let next = state;
  if (state.beat && node.heartbeat === undefined) {
    commands.push({ type: "cancel-timer", timer: state.beat });
    const { beat: _beat, ...rest } = next;
    next = rest;
  }
  if (state.timer && state.wait === "reply" && node.timeout === undefined) {
    commands.push({ type: "cancel-timer", timer: state.timer });
    const { timer: _timer, ...rest } = next;
    next = rest;
  }
  return next;
}

/** A message's node as the instance knows it now (after migrations moved it). */
export function currentPath(snapshot: Snapshot, path: string): string {
  if (!snapshot.moved) return path;
  for (const [old, next] of snapshot.moved) if (old === path) return next;
  return path;
}

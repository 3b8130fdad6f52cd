/**
 * A definition as a graph (nodes, edges, the joins where branches meet) and an instance's state of
 * each node. One walk of the definition serves the Mermaid text (diagram.ts) and the console, which
 * lays the graph out in the browser; pure, so the console's bundle imports it as it is.
 */

import type { Note, Snapshot } from "../engine/types.js";
import {
  type Activity,
  childrenOf,
  type Definition,
  type FlowNode,
  type SourcePos,
  scopeOf,
} from "../language/model.js";
import { staticPath } from "../language/validate.js";
import type { HistoryRecord } from "../ports.js";

export interface GraphNode {
  /** The node's static path (`0.2.1`), or `<path>/join` for the join after a node's branches. */
  readonly id: string;
  readonly kind: FlowNode["kind"] | "join";
  readonly label: string;
  readonly pos?: SourcePos;
}

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly label?: string;
  /** Not the normal flow: a loop's repeat, a fault handler's entry, a switch with no case true. */
  readonly dashed?: boolean;
}

export interface Graph {
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

/**
 * What a node came to in an instance: done; active (a node holding others at work); waiting (on
 * the world: a task's reply, a timer, an event, a child instance); faulted (raised a fault, or has
 * an incident); canceled (stopped while active); a node absent from the map was not reached.
 */
export type NodeState = "done" | "active" | "waiting" | "faulted" | "canceled";

export interface InstanceGraph extends Graph {
  readonly states: Readonly<Record<string, NodeState>>;
}

export function nodeLabel(node: FlowNode): string {
  switch (node.kind) {
    case "process":
      return "process";
    case "action":
      return `action: ${node.participant}`;
    case "call":
      return `call: ${"property" in node.process ? `$${node.process.property}` : node.process.name}`;
    case "delay":
      return node.duration !== undefined ? `delay ${node.duration}s` : `delay until ${node.until?.source}`;
    case "await":
      return `await: ${node.event}`;
    case "fault":
      return `fault: ${node.code}`;
    case "assign":
      return `assign ${node.property}`;
    case "foreach":
      return `foreach${node.parallel ? " (parallel)" : ""}`;
    case "case":
      return "case";
    default:
      return node.kind;
  }
}

class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  readonly edges: GraphEdge[] = [];

  edge(from: string, to: string, extra: { label?: string; dashed?: boolean } = {}): void {
    this.edges.push({ from, to, ...extra });
  }

  /** Adds `children` one after another from `from`; returns the id the last one exits by. */
  chain(
    from: string,
    children: readonly Activity[],
    first: { label?: string; dashed?: boolean } = {},
  ): string {
    let exit = from;
    for (const [i, child] of children.entries()) {
      this.edge(exit, child.id, i === 0 ? first : {});
      exit = this.walk(child);
    }
    return exit;
  }

  /** Branches from `node` that meet again at a join; returns the join's id. */
  branches(node: FlowNode, arms: readonly { entry: FlowNode; label?: string }[], joinLabel: string): string {
    const join = `${node.id}/join`;
    this.nodes.push({ id: join, kind: "join", label: joinLabel });
    for (const arm of arms) {
      this.edge(node.id, arm.entry.id, arm.label === undefined ? {} : { label: arm.label });
      this.edge(this.walk(arm.entry), join);
    }
    return join;
  }

  /** Adds a node and what it holds; returns the id that what follows it connects from. */
  walk(node: FlowNode): string {
    this.nodes.push({
      id: node.id,
      kind: node.kind,
      label: nodeLabel(node),
      ...(node.pos ? { pos: node.pos } : {}),
    });
    const children: readonly Activity[] = childrenOf(node);
    let exit = node.id;
    if (node.kind === "switch") {
      const cases = node.cases.map((c) => ({
        entry: c,
        label: c.conditions.map((x) => x.source).join(" or "),
      }));
      exit = this.branches(node, cases, "join");
      this.edge(node.id, exit, { label: "no case holds", dashed: true });
    } else if (node.kind === "all" || node.kind === "race") {
      exit = this.branches(
        node,
        children.map((entry) => ({ entry })),
        node.kind === "race" ? "first wins" : "join",
      );
      if (!children.length) this.edge(node.id, exit);
    } else if (node.kind === "foreach" && node.parallel) {
      for (const child of children) {
        this.edge(node.id, child.id);
        this.walk(child);
      }
    } else {
      const last = this.chain(exit, children);
      if (node.kind === "while" || node.kind === "foreach") {
        if (children.length) this.edge(last, exit, { label: "repeat", dashed: true });
      } else exit = last;
    }
    for (const handler of scopeOf(node)?.handlers ?? []) {
      const label = handler.codes ? `fault ${handler.codes.join(", ")}` : "any fault";
      this.chain(node.id, handler.children, { label, dashed: true });
    }
    return exit;
  }
}

export function definitionGraph(definition: Definition): Graph {
  const builder = new GraphBuilder();
  builder.walk(definition.root);
  return { nodes: builder.nodes, edges: builder.edges };
}

/** What a history note says of a node: a fault a handler caught, or a node canceled. */
function noteState(note: Note): NodeState | undefined {
  if (note.node === undefined) return undefined;
  if (note.kind === "canceled") return "canceled";
  return note.kind === "waiting" ? "faulted" : undefined;
}

/** Kinds whose active state waits on the world rather than on the nodes they hold. */
const WAITING_KINDS = new Set(["action", "call", "delay", "await"]);

/**
 * The states of an instance's nodes by static path, the latest winning: a node the history shows
 * a command for is done; one canceled while active (a race's losing branch, what a fault handler
 * or the instance's end stopped: the history's `canceled` notes) is canceled; one that raised a
 * fault (handled, in the history's notes, or the instance's own fault) or has an open incident is
 * faulted; one active in the snapshot is waiting or active.
 */
export function nodeStates(
  definition: Definition,
  snapshot: Snapshot,
  history: readonly HistoryRecord[],
): Record<string, NodeState> {
  const graph = definitionGraph(definition);
  const out: Record<string, NodeState> = {};
  for (const record of history) {
    for (const command of record.commands) {
      const node =
        "node" in command
          ? command.node
          : command.type === "task"
            ? command.task.node
            : command.type === "start-child"
              ? command.parent.node
              : undefined;
      if (typeof node === "string") out[staticPath(node)] = "done";
    }
    for (const note of record.notes) {
      const state = noteState(note);
      if (state && note.node) out[staticPath(note.node)] = state;
    }
  }
  if (snapshot.status === "completed") out["0"] = "done";
  const kinds = new Map(graph.nodes.map((n) => [n.id, n.kind]));
  for (const [path] of snapshot.nodes) {
    const at = staticPath(path);
    out[at] = WAITING_KINDS.has(kinds.get(at) ?? "") ? "waiting" : "active";
  }
  for (const incident of snapshot.incidents) out[staticPath(incident.node)] = "faulted";
  if (snapshot.fault) out[staticPath(snapshot.fault.node)] = "faulted";
  // An instance that ended faulted or canceled did not finish its process, whatever it ran.
  if (snapshot.status === "faulted" || snapshot.status === "canceled")
    out[definition.root.id] ??= snapshot.status;
  summarize(definition.root, out);
  fill(definition.root, out, false);
  return out;
}

/** Kinds whose children run one after another (a handler's too); the others branch or choose. */
const SEQUENTIAL = new Set(["process", "sequence", "case", "while", "foreach"]);

/** What a node holds in its flow: its children, or a switch's cases. */
const flowOf = (node: FlowNode): readonly FlowNode[] =>
  node.kind === "switch" ? node.cases : childrenOf(node);

/**
 * Whether a node or anything it holds (its fault handlers included) has a state, once what it
 * holds is summarized: a held node with a state of its own then stands for all beneath it, so one
 * level is looked at, not the whole subtree (which made the summary quadratic in the depth).
 */
function reached(node: FlowNode, states: Record<string, NodeState>): boolean {
  if (states[node.id]) return true;
  return [...flowOf(node), ...handlersOf(node)].some((child) => states[child.id] !== undefined);
}

/** A node's fault handlers' activities. */
const handlersOf = (node: FlowNode): readonly FlowNode[] =>
  (scopeOf(node)?.handlers ?? []).flatMap((handler) => handler.children);

/**
 * Gives a node that holds others, and has no state of its own, the outcome of what it holds
 * (children first): done, unless one of them was canceled or faulted and none of its own fault
 * handlers ran; a race whose winner is done is done, its losers canceled. Only leaves carry
 * traces (commands, notes), so an interrupted sequence or `all` is known by its children.
 */
function summarize(node: FlowNode, states: Record<string, NodeState>): void {
  const flow = flowOf(node);
  for (const child of [...flow, ...handlersOf(node)]) summarize(child, states);
  if (states[node.id] || !reached(node, states)) return;
  const outcomes = flow.map((child) => states[child.id]);
  const handled = handlersOf(node).some((child) => reached(child, states));
  const won = node.kind === "race" && outcomes.includes("done");
  states[node.id] =
    handled || won
      ? "done"
      : outcomes.includes("canceled")
        ? "canceled"
        : outcomes.includes("faulted")
          ? "faulted"
          : "done";
}

/**
 * Marks done what ran without leaving a trace of its own (a node the summary cannot see into):
 * what comes before a reached sibling (an assign), what a finished sequence ran after its last
 * trace, every branch of a finished `all`, and the join of finished branches. A node that faulted
 * or was canceled keeps that state, so what followed it stays not reached. What left no trace and
 * may not have run stays not reached: a switch's case of assigns only (which case held is not
 * recorded), a loop's body of assigns only (it may have run no time).
 */
function fill(node: FlowNode, states: Record<string, NodeState>, finished: boolean): void {
  if (!states[node.id] && finished) states[node.id] = "done";
  const done = states[node.id] === "done";
  if (done && ["all", "race", "switch"].includes(node.kind) && reached(node, states))
    states[`${node.id}/join`] = "done";
  const children = flowOf(node);
  const inOrder = SEQUENTIAL.has(node.kind) && !(node.kind === "foreach" && node.parallel);
  // Summarized, so a child with anything reached beneath it has a state; filling one child sets
  // states only beneath it, so the last reached child is found once, before the loop.
  let lastReached = -1;
  children.forEach((child, i) => {
    if (states[child.id] !== undefined) lastReached = i;
  });
  children.forEach((child, i) => {
    const later = i < lastReached;
    const previousDone = i === 0 || states[children[i - 1]?.id ?? ""] === "done";
    // A loop's body may have run no time at all: only a later sibling's trace tells.
    const ranThrough = done && previousDone && node.kind !== "while" && node.kind !== "foreach";
    const branchOfAll = done && node.kind === "all";
    fill(child, states, ((inOrder && (later || ranThrough)) || branchOfAll) && !states[child.id]);
  });
  for (const child of handlersOf(node)) fill(child, states, false);
}

export function instanceGraph(
  definition: Definition,
  snapshot: Snapshot,
  history: readonly HistoryRecord[],
): InstanceGraph {
  return { ...definitionGraph(definition), states: nodeStates(definition, snapshot, history) };
}

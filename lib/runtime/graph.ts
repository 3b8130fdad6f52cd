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
  snapshot: Snapshot,
  history: readonly HistoryRecord[],
  graph: Graph,
): Record<string, NodeState> {
  const out: Record<string, NodeState> = {};
  for (const record of history) {
    for (const command of record.commands) {
      const node = "node" in command ? command.node : command.type === "task" ? command.task.node : undefined;
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
  return out;
}

export function instanceGraph(
  definition: Definition,
  snapshot: Snapshot,
  history: readonly HistoryRecord[],
): InstanceGraph {
  const graph = definitionGraph(definition);
  return { ...graph, states: nodeStates(snapshot, history, graph) };
}

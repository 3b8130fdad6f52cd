/**
 * Mermaid flowcharts of a definition; with an instance, each node coloured by its state (done,
 * active, faulted, canceled, not reached). `docket diagram` and the API's /diagram serve it.
 */

import type { Note, Snapshot } from "../engine/types.js";
import { type Activity, childrenOf, type Definition, type FlowNode, scopeOf } from "../language/model.js";
import { staticPath } from "../language/validate.js";
import type { HistoryRecord } from "../ports.js";

export interface InstanceView {
  readonly snapshot: Snapshot;
  readonly history: readonly HistoryRecord[];
}

const id = (path: string) => `n${path.replaceAll(".", "_")}`;
const quote = (text: string) => `"${text.replaceAll('"', "#quot;").slice(0, 60)}"`;

function label(node: FlowNode): string {
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

function shape(node: FlowNode): string {
  const text = quote(label(node));
  if (node.kind === "switch") return `{${text}}`;
  if (node.kind === "process") return `([${text}])`;
  if (node.kind === "action" || node.kind === "call") return `[${text}]`;
  return `(${text})`;
}

/** Draws `children` one after another from `from`; returns the id the last one exits by. */
function chain(from: string, children: readonly Activity[], lines: string[], edge = "-->"): string {
  let exit = from;
  for (const [i, child] of children.entries()) {
    lines.push(`  ${exit} ${i === 0 ? edge : "-->"} ${id(child.id)}`);
    exit = walk(child, lines);
  }
  return exit;
}

/** Draws branches from `node` that meet again at a join node; returns the join's id. */
function branches(
  node: FlowNode,
  arms: readonly { readonly entry: FlowNode; readonly edge: string }[],
  joinLabel: string,
  lines: string[],
): string {
  const join = `${id(node.id)}_join`;
  lines.push(`  ${join}((${quote(joinLabel)}))`);
  for (const arm of arms) {
    lines.push(`  ${id(node.id)} ${arm.edge} ${id(arm.entry.id)}`);
    lines.push(`  ${walk(arm.entry, lines)} --> ${join}`);
  }
  return join;
}

/** Draws a node and what it holds; returns the id that what follows it connects from. */
function walk(node: FlowNode, lines: string[]): string {
  lines.push(`  ${id(node.id)}${shape(node)}`);
  const children: readonly Activity[] = childrenOf(node);
  let exit = id(node.id);
  if (node.kind === "switch") {
    const cases = node.cases.map((c) => ({
      entry: c,
      edge: `-->|${quote(c.conditions.map((x) => x.source).join(" or "))}|`,
    }));
    exit = branches(node, cases, "join", lines);
    lines.push(`  ${id(node.id)} -.->|"no case holds"| ${exit}`); // a switch with no case true goes on
  } else if (node.kind === "all" || node.kind === "race") {
    const arms = children.map((child) => ({ entry: child, edge: "-->" }));
    exit = branches(node, arms, node.kind === "race" ? "first wins" : "join", lines);
    if (!arms.length) lines.push(`  ${id(node.id)} --> ${exit}`);
  } else if (node.kind === "foreach" && node.parallel) {
    for (const child of children) {
      lines.push(`  ${id(node.id)} --> ${id(child.id)}`);
      walk(child, lines);
    }
  } else {
    const last = chain(exit, children, lines);
    if (node.kind === "while" || node.kind === "foreach") {
      if (children.length) lines.push(`  ${last} -.->|repeat| ${exit}`);
    } else exit = last;
  }
  for (const handler of scopeOf(node)?.handlers ?? []) {
    const label = quote(handler.codes ? `fault ${handler.codes.join(", ")}` : "any fault");
    chain(id(node.id), handler.children, lines, `-.->|${label}|`);
  }
  return exit;
}

type NodeColour = "done" | "active" | "faulted" | "canceled";

/** What a history note says of a node: a fault a handler caught, or a node canceled. */
function noteColour(note: Note): NodeColour | undefined {
  if (note.node === undefined) return undefined;
  if (note.kind === "canceled") return "canceled";
  return note.kind === "waiting" ? "faulted" : undefined;
}

/**
 * The states of an instance's nodes by static path, the latest winning: a node the history shows
 * a command for is done; one canceled while active (a race's losing branch, what a fault handler
 * or the instance's end stopped: the history's `canceled` notes) is canceled; one that raised a
 * fault (handled, in the history's notes, or the instance's own fault) or has an open incident is
 * faulted; one active in the snapshot is active.
 */
function states(view: InstanceView): Map<string, NodeColour> {
  const out = new Map<string, NodeColour>();
  for (const record of view.history) {
    for (const command of record.commands) {
      const node = "node" in command ? command.node : command.type === "task" ? command.task.node : undefined;
      if (typeof node === "string") out.set(staticPath(node), "done");
    }
    for (const note of record.notes) {
      const colour = noteColour(note);
      if (colour && note.node) out.set(staticPath(note.node), colour);
    }
  }
  if (view.snapshot.status === "completed") out.set("0", "done");
  for (const [path] of view.snapshot.nodes) out.set(staticPath(path), "active");
  for (const incident of view.snapshot.incidents) out.set(staticPath(incident.node), "faulted");
  if (view.snapshot.fault) out.set(staticPath(view.snapshot.fault.node), "faulted");
  return out;
}

export function diagram(definition: Definition, view?: InstanceView): string {
  const lines = ["flowchart TD"];
  walk(definition.root, lines);
  if (view) {
    lines.push(
      "  classDef done fill:#c8e6c9,stroke:#2e7d32",
      "  classDef active fill:#bbdefb,stroke:#1565c0",
      "  classDef faulted fill:#ffcdd2,stroke:#c62828",
      "  classDef canceled fill:#e0e0e0,stroke:#757575,color:#616161",
    );
    for (const [path, state] of states(view)) lines.push(`  class ${id(path)} ${state}`);
  }
  return `${lines.join("\n")}\n`;
}

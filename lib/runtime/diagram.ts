/**
 * Mermaid flowcharts of a definition; with an instance, each node coloured by its state (done,
 * active, faulted, not reached). `docket diagram` and the API's /diagram serve it.
 */

import type { Snapshot } from "../engine/types.js";
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

function walk(node: FlowNode, lines: string[]): void {
  lines.push(`  ${id(node.id)}${shape(node)}`);
  const children: readonly Activity[] = childrenOf(node);
  if (node.kind === "switch") {
    for (const c of node.cases) {
      lines.push(
        `  ${id(node.id)} -->|${quote(c.conditions.map((x) => x.source).join(" or "))}| ${id(c.id)}`,
      );
      walk(c, lines);
    }
  } else if (node.kind === "all" || (node.kind === "foreach" && node.parallel)) {
    for (const child of children) lines.push(`  ${id(node.id)} --> ${id(child.id)}`);
  } else if (children[0]) {
    lines.push(`  ${id(node.id)} --> ${id(children[0].id)}`);
    for (let i = 1; i < children.length; i++)
      lines.push(`  ${id((children[i - 1] as Activity).id)} --> ${id((children[i] as Activity).id)}`);
    if (node.kind === "while" || node.kind === "foreach")
      lines.push(`  ${id((children[children.length - 1] as Activity).id)} -.->|repeat| ${id(node.id)}`);
  }
  for (const child of children) walk(child, lines);
  for (const handler of scopeOf(node)?.handlers ?? []) {
    const first = handler.children[0];
    if (!first) continue;
    lines.push(
      `  ${id(node.id)} -.->|${quote(handler.codes ? `fault ${handler.codes.join(", ")}` : "any fault")}| ${id(first.id)}`,
    );
    for (let i = 1; i < handler.children.length; i++)
      lines.push(
        `  ${id((handler.children[i - 1] as Activity).id)} --> ${id((handler.children[i] as Activity).id)}`,
      );
    for (const child of handler.children) walk(child, lines);
  }
}

/** The states of an instance's nodes by static path. */
function states(view: InstanceView): Map<string, "done" | "active" | "faulted"> {
  const out = new Map<string, "done" | "active" | "faulted">();
  for (const record of view.history) {
    for (const command of record.commands) {
      const node = "node" in command ? command.node : command.type === "task" ? command.task.node : undefined;
      if (typeof node === "string") out.set(staticPath(node), "done");
    }
  }
  if (view.snapshot.status === "completed") out.set("0", "done");
  for (const [path] of view.snapshot.nodes) out.set(staticPath(path), "active");
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
    );
    for (const [path, state] of states(view)) lines.push(`  class ${id(path)} ${state}`);
  }
  return `${lines.join("\n")}\n`;
}

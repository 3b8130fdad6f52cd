/**
 * Mermaid flowcharts of a definition; with an instance, each node coloured by its state (done,
 * active, waiting, faulted, canceled, not reached). `docket diagram` and the API's /diagram serve
 * it; the graph and the states are graph.ts's, which the console draws too.
 */

import type { Snapshot } from "../engine/types.js";
import type { Definition } from "../language/model.js";
import type { HistoryRecord } from "../ports.js";
import { definitionGraph, type GraphNode, nodeStates } from "./graph.js";

export interface InstanceView {
  readonly snapshot: Snapshot;
  readonly history: readonly HistoryRecord[];
}

const id = (path: string) => `n${path.replaceAll(".", "_").replace("/join", "_join")}`;
const quote = (text: string) => `"${text.replaceAll('"', "#quot;").slice(0, 60)}"`;

function shape(node: GraphNode): string {
  const text = quote(node.label);
  if (node.kind === "join") return `((${text}))`;
  if (node.kind === "switch") return `{${text}}`;
  if (node.kind === "process") return `([${text}])`;
  if (node.kind === "action" || node.kind === "call") return `[${text}]`;
  return `(${text})`;
}

const CLASSES = [
  "  classDef done fill:#c8e6c9,stroke:#2e7d32",
  "  classDef active fill:#bbdefb,stroke:#1565c0",
  "  classDef waiting fill:#fff3c4,stroke:#b26a00",
  "  classDef faulted fill:#ffcdd2,stroke:#c62828",
  "  classDef canceled fill:#e0e0e0,stroke:#757575,color:#616161",
];

export function diagram(definition: Definition, view?: InstanceView): string {
  const graph = definitionGraph(definition);
  const lines = ["flowchart TD"];
  for (const node of graph.nodes) lines.push(`  ${id(node.id)}${shape(node)}`);
  for (const edge of graph.edges) {
    const arrow = edge.dashed ? "-.->" : "-->";
    const label = edge.label === undefined ? "" : `|${quote(edge.label)}|`;
    lines.push(`  ${id(edge.from)} ${arrow}${label} ${id(edge.to)}`);
  }
  if (view) {
    lines.push(...CLASSES);
    const states = nodeStates(definition, view.snapshot, view.history);
    for (const [path, state] of Object.entries(states)) lines.push(`  class ${id(path)} ${state}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Interpreter throughput: transitions per second of the pure `transition()` (each one returns a
 * fresh snapshot, so the state copy is included) on three workloads, and the same workloads on
 * each peer (workflow-es, AWS's durable execution SDK) in the same process. Ratios compare whole
 * workflows completed per second.
 */
import { transition } from "../lib/engine/index.js";
import type { Message, Snapshot, TaskCommand } from "../lib/engine/types.js";
import { readDefinition } from "../lib/language/index.js";
import type { Definition } from "../lib/language/model.js";
import { compare, formatRate, printRow, type Row, type Side } from "./harness.js";
import type { Peer } from "./peer.js";

const actions = (n: number) =>
  Array.from({ length: n }, (_, i) => `  - action: { participant: p${i % 10} }`).join("\n");

export const WORKLOADS = {
  sequence: readDefinition(`process: sequence100\ndo:\n${actions(100)}\n`, { format: "yaml" }),
  while: readDefinition(
    "process: while1000\ncontext: { i: 0 }\ndo:\n  - while:\n      condition: context.i < 1000\n      do:\n        - action: { participant: work }\n",
    { format: "yaml" },
  ),
  all: readDefinition(
    `process: all10\ndo:\n  - all:\n      do:\n${actions(10).replaceAll("  - ", "          - ")}\n`,
    { format: "yaml" },
  ),
} as const;

/** Runs one instance of a workload to completion, answering every task; returns the transitions applied. */
export function runDocket(definition: Definition, instance = "bench"): number {
  let result = transition(definition, undefined, { type: "launch", instance }, 0);
  let snapshot: Snapshot = result.snapshot;
  let transitions = 1;
  const open: TaskCommand[] = [];
  for (;;) {
    for (const command of result.commands) if (command.type === "task") open.push(command);
    const task = open.shift();
    if (!task) break;
    const i = typeof task.fields.i === "number" ? task.fields.i : 0;
    const reply: Message = { type: "reply", task: task.task, status: "done", fields: { i: i + 1 } };
    result = transition(definition, snapshot, reply, transitions);
    snapshot = result.snapshot;
    transitions++;
  }
  if (snapshot.status !== "completed") throw new Error(`${definition.name} ended ${snapshot.status}`);
  return transitions;
}

/**
 * Each workload on docket against each peer, both sides measured by `compare` with one plan.
 * Rates are whole workflows per second; docket's transitions per second are noted beside.
 */
export async function benchInterpreter(budgetMs: number, peers: readonly Peer[]): Promise<InterpreterResult> {
  const rows: Row[] = [];
  const sequenceTransitions: number[] = [];
  for (const peer of peers) {
    for (const name of ["sequence", "all", "while"] as const) {
      const definition = WORKLOADS[name];
      let transitions = 0;
      const docket: Side = {
        name: "docket",
        call: () => (transitions = runDocket(definition)),
        opsPerCall: 1,
      };
      const other: Side = { name: peer.name, call: () => peer.run(name), opsPerCall: 1 };
      const { a, b, plan } = await compare(docket, other, budgetMs);
      const perSecond = a.opsPerSecond * transitions;
      if (name === "sequence") sequenceTransitions.push(perSecond);
      const row: Row = {
        workload: LABELS[name],
        subject: a,
        peer: b,
        plan,
        note: `docket ${formatRate(perSecond)} transitions (${transitions} a run)`,
      };
      printRow(row);
      rows.push(row);
    }
  }
  return { rows, sequenceTransitions };
}

export interface InterpreterResult {
  readonly rows: readonly Row[];
  /** docket's transitions per second on the 100-action sequence, one per peer compared. */
  readonly sequenceTransitions: readonly number[];
}

const LABELS = {
  sequence: "100-action sequence",
  all: "10-branch all",
  while: "1,000-iteration while",
} as const;

/**
 * Interpreter throughput: transitions per second of the pure `transition()` (each one returns a
 * fresh snapshot, so the state copy is included) on three workloads, and the same workloads on
 * workflow-es in the same process. Ratios compare whole workflows completed per second.
 */
import { transition } from "../lib/engine/index.js";
import type { Message, Snapshot, TaskCommand } from "../lib/engine/types.js";
import { readDefinition } from "../lib/language/index.js";
import type { Definition } from "../lib/language/model.js";
import { formatRate, type Measurement, measure, measureAsync, report } from "./harness.js";
import { workflowEs } from "./workflow-es.js";

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

export async function benchInterpreter(
  budgetMs: number,
): Promise<Record<string, { rate: number; ratio: number }>> {
  const es = workflowEs();
  const out: Record<string, { rate: number; ratio: number }> = {};
  for (const name of Object.keys(WORKLOADS) as (keyof typeof WORKLOADS)[]) {
    const definition = WORKLOADS[name];
    const perRun = runDocket(definition);
    const docket: Measurement = measure("docket", () => runDocket(definition), 1, budgetMs);
    let esRounds = 0;
    const baseline = await measureAsync(
      "workflow-es",
      async () => {
        esRounds = await es.run(name);
      },
      1,
      budgetMs,
    );
    const rate = docket.opsPerSecond * perRun;
    const ratio = report(`${name} (${perRun} transitions/run)`, docket, baseline);
    console.log(
      `${"".padEnd(34)} docket ${formatRate(rate)} transitions; workflow-es ${formatRate(baseline.opsPerSecond * esRounds)} rounds`,
    );
    out[name] = { rate, ratio };
  }
  return out;
}

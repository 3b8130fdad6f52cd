/**
 * One group of benchmarks in a process of its own, started by bench/run.ts: a group's heap and
 * its JIT's type feedback are not another group's (the embedded engine runs `transition()` on
 * other definitions, which would make the interpreter's own measurement slower). Prints its lines
 * and sends its rows to the parent.
 */
import { awsDurable } from "./aws-durable.js";
import { benchCel } from "./cel.js";
import { benchEmbedded } from "./embedded.js";
import type { Row } from "./harness.js";
import { benchInterpreter } from "./interpreter.js";
import type { Peer } from "./peer.js";
import { benchRouting } from "./routing.js";
import { workflowEs } from "./workflow-es.js";

export type Group = "cel" | "embedded" | "routing" | "aws-durable" | "workflow-es";

export interface GroupResult {
  readonly rows: readonly Row[];
  /** docket's transitions per second on the 100-action sequence (interpreter groups). */
  readonly sequenceTransitions: readonly number[];
}

async function interpreter(budgetMs: number, peer: Peer): Promise<GroupResult> {
  try {
    return await benchInterpreter(budgetMs, [peer]);
  } finally {
    await peer.close();
  }
}

export async function runGroup(group: Group, budgetMs: number): Promise<GroupResult> {
  switch (group) {
    case "cel":
      return { rows: await benchCel(budgetMs), sequenceTransitions: [] };
    case "embedded":
      return { rows: await benchEmbedded(budgetMs), sequenceTransitions: [] };
    case "routing":
      return { rows: await benchRouting(), sequenceTransitions: [] };
    case "aws-durable":
      return interpreter(budgetMs, await awsDurable());
    case "workflow-es":
      return interpreter(budgetMs, workflowEs());
  }
}

if (process.send) {
  const result = await runGroup(process.argv[2] as Group, Number(process.argv[3]));
  process.send(result, () => process.exit(0));
}

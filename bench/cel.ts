/**
 * Chooses the CEL evaluator: @marcbachmann/cel-js against @bufbuild/cel on the expressions a
 * process definition typically holds, compiled once and evaluated many times, and compiled cold.
 */
import { parse as bufParse, plan as bufPlan, celEnv } from "@bufbuild/cel";
import { Environment } from "@marcbachmann/cel-js";
import { compare, printRow, type Row, type Side } from "./harness.js";

const expressions = [
  'context["prop1"] > 0 && context.total >= 100',
  "context.items.exists(i, i.qty > 2)",
  'context.name.startsWith("ord") ? context.total * 2 : 0',
  "size(context.items) == 3 || inst.iteration > 5",
];
const variables = {
  context: { prop1: 1n, total: 120n, name: "order-1", items: [{ qty: 1n }, { qty: 3n }, { qty: 2n }] },
  inst: { iteration: 2n },
};

export async function benchCel(budgetMs: number): Promise<Row[]> {
  const env = new Environment({ unlistedVariablesAreDyn: true });
  const marc = expressions.map((source) => env.parse(source));
  const bufEnv = celEnv({});
  const buf = expressions.map((source) => bufPlan(bufEnv, bufParse(source)));
  for (const [i, fn] of marc.entries()) {
    const a = String(fn(variables));
    const b = String(buf[i]?.(variables));
    if (a !== b) throw new Error(`evaluators disagree on ${expressions[i]}: ${a} vs ${b}`);
  }
  const n = expressions.length;
  const rows: Row[] = [];
  const pairs: [string, Side, Side][] = [
    [
      "CEL evaluate (compiled once)",
      { name: "cel-js", call: () => marc.map((fn) => fn(variables)), opsPerCall: n },
      { name: "bufbuild", call: () => buf.map((fn) => fn(variables)), opsPerCall: n },
    ],
    [
      "CEL compile + evaluate (cold)",
      { name: "cel-js", call: () => expressions.map((e) => env.evaluate(e, variables)), opsPerCall: n },
      {
        name: "bufbuild",
        call: () => expressions.map((e) => bufPlan(bufEnv, bufParse(e))(variables)),
        opsPerCall: n,
      },
    ],
  ];
  for (const [workload, subject, peer] of pairs) {
    const { a, b, plan } = await compare(subject, peer, budgetMs);
    const row: Row = { workload, subject: a, peer: b, plan };
    printRow(row);
    rows.push(row);
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchCel(1000);

/**
 * Chooses the CEL evaluator: @marcbachmann/cel-js against @bufbuild/cel on the expressions a
 * process definition typically holds, compiled once and evaluated many times, and compiled cold.
 */
import { parse as bufParse, plan as bufPlan, celEnv } from "@bufbuild/cel";
import { Environment } from "@marcbachmann/cel-js";
import { measure, report } from "./harness.js";

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

export function benchCel(budgetMs: number): void {
  const env = new Environment({ unlistedVariablesAreDyn: true });
  const marc = expressions.map((source) => env.parse(source));
  const bufEnv = celEnv({});
  const buf = expressions.map((source) => bufPlan(bufEnv, bufParse(source)));
  for (const [i, fn] of marc.entries()) {
    const a = String(fn(variables));
    const b = String(buf[i]?.(variables));
    if (a !== b) throw new Error(`evaluators disagree on ${expressions[i]}: ${a} vs ${b}`);
  }
  report(
    "CEL evaluate (compiled once)",
    measure(
      "cel-js",
      () => {
        for (const fn of marc) fn(variables);
      },
      marc.length,
      budgetMs,
    ),
    measure(
      "bufbuild",
      () => {
        for (const fn of buf) fn(variables);
      },
      buf.length,
      budgetMs,
    ),
  );
  report(
    "CEL compile + evaluate (cold)",
    measure(
      "cel-js",
      () => {
        for (const source of expressions) env.evaluate(source, variables);
      },
      expressions.length,
      budgetMs,
    ),
    measure(
      "bufbuild",
      () => {
        for (const source of expressions) bufPlan(bufEnv, bufParse(source))(variables);
      },
      expressions.length,
      budgetMs,
    ),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) benchCel(1000);

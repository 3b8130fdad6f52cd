/** `npm run bench`: every benchmark, each against a baseline measured in this same process. */
import { benchCel } from "./cel.js";
import { benchEmbedded } from "./embedded.js";
import { benchInterpreter } from "./interpreter.js";

const budgetMs = Number(process.env.BENCH_MS ?? 2000);
console.log(`docket benchmarks (${budgetMs} ms per measurement, node ${process.version})\n`);
console.log("Expressions: evaluations/s, @marcbachmann/cel-js against @bufbuild/cel");
benchCel(budgetMs);
console.log("\nInterpreter: workflows/s, docket's transition() against workflow-es (in-memory)");
const results = await benchInterpreter(budgetMs);
console.log("\nEmbedded engine: durable steps/s against the raw better-sqlite3 floor");
const embedded = await benchEmbedded();
const targets = [
  results.sequence && results.sequence.rate >= 500_000 ? "ok" : "MISSED",
  Object.values(results).every((r) => r.ratio >= 10) ? "ok" : "MISSED",
];
console.log(
  `\ntargets: >= 500,000 transitions/s on the sequence: ${targets[0]}; >= 10x workflow-es on each: ${targets[1]}; ` +
    `>= 50% of the SQLite floor: ${embedded >= 0.5 ? "ok" : "MISSED"}`,
);

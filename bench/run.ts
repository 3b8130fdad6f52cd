/**
 * `npm run bench`: every benchmark, each group in a process of its own (bench/group.ts), each side
 * of a ratio measured in the same process by the same procedure (bench/harness.ts). Prints each
 * line as it is measured, then the table the README's Benchmarks section shows and whether the
 * targets are met.
 */
import { fork } from "node:child_process";
import { availableParallelism, loadavg } from "node:os";
import type { Group, GroupResult } from "./group.js";
import { formatRate, markdownTable, type Row, ratio } from "./harness.js";

const budgetMs = Number(process.env.BENCH_MS ?? 2000);
const started = performance.now();

/** Runs a group in a child process (with tsx's loader, as this one) and resolves to what it sends. */
function inChild(group: Group): Promise<GroupResult> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL("./group.ts", import.meta.url), [group, String(budgetMs)]);
    let result: GroupResult | undefined;
    child.on("message", (message) => {
      result = message as GroupResult;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      result ? resolve(result) : reject(new Error(`the ${group} benchmarks exited ${code} without results`)),
    );
  });
}

// The load average says how much else ran: on a shared machine every rate is lower, ratios less so.
const load = () => loadavg()[0]?.toFixed(1);
console.log(
  `docket benchmarks: ${budgetMs} ms a measurement, node ${process.version}, ${availableParallelism()} CPUs, load ${load()}\n`,
);
console.log("Expressions: evaluations/s, @marcbachmann/cel-js against @bufbuild/cel");
const cel = await inChild("cel");
console.log("\nEmbedded engine: durable steps/s against the raw better-sqlite3 floor");
const embedded = await inChild("embedded");
console.log("\nEmbedded engine: keyed events/s as instances wait, against 1,000 waiting");
const routing = await inChild("routing");
console.log("\nInterpreter: workflows/s, docket's transition() against each peer");
const peers = [await inChild("aws-durable"), await inChild("workflow-es")];

const interpreterRows = peers.flatMap((p) => p.rows);
const sequence = Math.min(...peers.flatMap((p) => p.sequenceTransitions));
// The target is the engine as a server runs it, many instances at once; one alone is reported beside.
const floorShare = ratio(embedded.rows.at(-1) as Row);
const alone = ratio(embedded.rows[0] as Row);
const weakest = Math.min(...interpreterRows.map(ratio));
const isRouting = (row: Row) => row.workload.startsWith("event routing");
const routingFlat = Math.min(...routing.rows.filter(isRouting).map(ratio));
const tablesFlat = Math.min(...routing.rows.filter((row) => !isRouting(row)).map(ratio));
const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
console.log(`\n${markdownTable([...interpreterRows, ...embedded.rows, ...routing.rows, ...cel.rows])}\n`);
console.log(
  `targets: docket >= 10x each peer on each workload (weakest ${weakest.toFixed(1)}x): ${verdict(weakest >= 10)}; ` +
    `>= 1M transitions/s on the sequence (${formatRate(sequence)}): ${verdict(sequence >= 1e6)}; ` +
    `embedded >= 75% of the SQLite floor under load (${(floorShare * 100).toFixed(0)}%; one instance alone ${(alone * 100).toFixed(0)}%): ${verdict(floorShare >= 0.75)}; ` +
    `routing flat, largest/smallest >= 0.8 (${routingFlat.toFixed(2)}): ${verdict(routingFlat >= 0.8)}; ` +
    `listing, history and timer lookups flat, >= 0.8 (${tablesFlat.toFixed(2)}): ${verdict(tablesFlat >= 0.8)}`,
);
console.log(`(${((performance.now() - started) / 60_000).toFixed(1)} minutes; load ${load()})`);

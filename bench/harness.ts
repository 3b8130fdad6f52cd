/**
 * The one measurement procedure of every ratio: both sides of a comparison are measured by the same
 * code with the same plan (the same warm-up, the same number of slices, each rate the median slice),
 * their slices alternating so that a burst of load on a shared machine falls on both.
 */
import { performance } from "node:perf_hooks";

export interface Side {
  readonly name: string;
  /** One call: a whole workflow, a batch of evaluations, a run of durable steps. */
  readonly call: () => unknown;
  /** Operations one call performs: the rate is in these. */
  readonly opsPerCall: number;
}

export interface Measurement {
  readonly name: string;
  readonly opsPerSecond: number;
  readonly calls: number;
}

/**
 * How both sides of a ratio are measured, chosen from the slower side's first call, the same plan
 * for both sides. A side's rate is the median of its slices: steadier than the mean when a slice
 * is disturbed, less flattering than the best.
 * - "time" (a call within the budget): each side warms up until `budget / 4` has passed since its
 *   first call began, then runs SLICES slices of `budget / SLICES` ms each, as many calls as fit
 *   and at least one. Both sides get the same time; a slice of a side slower than a slice is its
 *   one call.
 * - "count" (a call over the budget): slices are counted in calls, the same for both sides: the
 *   first call is the warm-up, then as many one-call slices as fit in SLICES budgets (at least
 *   one). The fast side gets exactly as many calls as the slow one, so no more warm-up: were it
 *   timed by the clock instead, its JIT would have compiled for longer than the slow side's.
 * - "single" (a call over SINGLE_AFTER budgets: workflow-es's 1,000-iteration while takes minutes):
 *   both sides are measured on their first call alone, cold, as a second call would double the
 *   slow side's minutes. Cold costs the fast side most (its first call ends before its JIT has
 *   compiled much; the slow side's call warms up within itself), so the ratio understates it.
 */
export type PlanKind = "time" | "count" | "single";

interface Plan {
  readonly kind: PlanKind;
  /** Slices after the first call (none for "single": the first call is the slice). */
  readonly slices: number;
  readonly sliceMs: number;
  readonly warmUpMs: number;
}

export const SLICES = 5;
export const SINGLE_AFTER = 10;

interface Timed {
  readonly calls: number;
  readonly ms: number;
}

/** Runs `side` `calls` times and until `minMs` has passed; awaits only a call that returned a promise. */
async function run(side: Side, calls: number, minMs: number): Promise<Timed> {
  let done = 0;
  const start = performance.now();
  let elapsed = 0;
  while (done < calls || elapsed < minMs) {
    const result = side.call();
    if (result instanceof Promise) await result;
    done++;
    elapsed = performance.now() - start;
  }
  return { calls: done, ms: elapsed };
}

/** The middle value (the mean of the two middle ones of an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function planFor(slowestMs: number, budgetMs: number): Plan {
  if (slowestMs <= budgetMs)
    return { kind: "time", slices: SLICES, sliceMs: budgetMs / SLICES, warmUpMs: budgetMs / 4 };
  if (slowestMs <= SINGLE_AFTER * budgetMs) {
    const slices = Math.min(SLICES, Math.max(1, Math.floor((SLICES * budgetMs) / slowestMs)));
    return { kind: "count", slices, sliceMs: 0, warmUpMs: 0 };
  }
  return { kind: "single", slices: 0, sliceMs: 0, warmUpMs: 0 };
}

/** Measures both sides with one plan; returns their rates and the plan used. */
export async function compare(
  a: Side,
  b: Side,
  budgetMs: number,
): Promise<{ a: Measurement; b: Measurement; plan: PlanKind }> {
  const sides = [a, b] as const;
  const first = [await run(a, 1, 0), await run(b, 1, 0)];
  const plan = planFor(Math.max(...first.map((t) => t.ms)), budgetMs);
  const slices: Timed[][] = plan.kind === "single" ? first.map((t) => [t]) : [[], []];
  for (const [i, side] of sides.entries()) await run(side, 0, plan.warmUpMs - (first[i]?.ms ?? 0));
  // Slices alternate between the sides, so a burst of load on the machine falls on both. (No forced
  // collection between slices: tried, it halved workflow-es's rate for the slices after it.)
  for (let slice = 0; slice < plan.slices; slice++)
    for (const [i, side] of sides.entries()) slices[i]?.push(await run(side, 1, plan.sliceMs));
  const measured = sides.map((side, i) => {
    const own = slices[i] ?? [];
    return {
      name: side.name,
      opsPerSecond: median(own.map((t) => (t.calls * side.opsPerCall * 1000) / t.ms)),
      calls: own.reduce((sum, t) => sum + t.calls, 0),
    };
  });
  return { a: measured[0] as Measurement, b: measured[1] as Measurement, plan: plan.kind };
}

export function formatRate(opsPerSecond: number): string {
  if (opsPerSecond >= 1e6) return `${(opsPerSecond / 1e6).toFixed(2)}M/s`;
  if (opsPerSecond >= 100) return `${Math.round(opsPerSecond).toLocaleString("en")}/s`;
  return `${opsPerSecond.toPrecision(3)}/s`;
}

/** One line of the results table. */
export interface Row {
  readonly workload: string;
  readonly subject: Measurement;
  readonly peer: Measurement;
  readonly plan: PlanKind;
  /** Extra words for the line (transitions per second, row sizes). */
  readonly note?: string;
}

export function ratio(row: Row): number {
  return row.subject.opsPerSecond / row.peer.opsPerSecond;
}

export function printRow(row: Row): void {
  console.log(
    `${row.workload.padEnd(30)} ${row.subject.name} ${formatRate(row.subject.opsPerSecond).padStart(11)}  ` +
      `${row.peer.name} ${formatRate(row.peer.opsPerSecond).padStart(11)}  ratio ${formatRatio(ratio(row))}  (${row.plan}, ${row.subject.calls}/${row.peer.calls} calls)` +
      (row.note ? `\n${"".padEnd(30)} ${row.note}` : ""),
  );
}

export function formatRatio(value: number): string {
  if (value >= 100) return `${Math.round(value).toLocaleString("en")}x`;
  return `${value.toFixed(value >= 10 ? 1 : 2)}x`;
}

/** The rows as a Markdown table, as the README shows them. */
export function markdownTable(rows: readonly Row[]): string {
  const lines = ["| workload | docket | peer | peer rate | ratio |", "| --- | ---: | --- | ---: | ---: |"];
  for (const row of rows)
    lines.push(
      `| ${row.workload} | ${formatRate(row.subject.opsPerSecond)} | ${row.peer.name} | ${formatRate(row.peer.opsPerSecond)} | ${formatRatio(ratio(row))} |`,
    );
  return lines.join("\n");
}

/** A tiny benchmark harness: runs a function in batches until a time budget is spent and reports ops/s. */
import { performance } from "node:perf_hooks";

export interface Measurement {
  readonly name: string;
  readonly opsPerSecond: number;
  readonly samples: number;
}

const SLICES = 5;

/**
 * Calls `fn` (which performs `opsPerCall` operations) repeatedly for about `budgetMs` after a
 * warm-up, in slices, and reports the best slice: on a shared machine the best slice is the
 * least disturbed one, which makes ratios between runs steadier.
 */
export function measure(name: string, fn: () => void, opsPerCall = 1, budgetMs = 1000): Measurement {
  const warmUntil = performance.now() + budgetMs / 4;
  while (performance.now() < warmUntil) fn();
  let best = 0;
  let samples = 0;
  for (let slice = 0; slice < SLICES; slice++) {
    let calls = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < budgetMs / SLICES) {
      fn();
      calls++;
      elapsed = performance.now() - start;
    }
    samples += calls;
    best = Math.max(best, (calls * opsPerCall * 1000) / elapsed);
  }
  return { name, opsPerSecond: best, samples };
}

/**
 * Like `measure`, for async work. A call slower than the whole budget is measured once, without a
 * warm-up (workflow-es's 1,000-iteration while takes minutes: its pointer list grows each round).
 */
export async function measureAsync(
  name: string,
  fn: () => Promise<void>,
  opsPerCall = 1,
  budgetMs = 1000,
): Promise<Measurement> {
  const first = performance.now();
  await fn();
  const once = performance.now() - first;
  if (once >= budgetMs) return { name, opsPerSecond: (opsPerCall * 1000) / once, samples: 1 };
  let best = 0;
  let samples = 0;
  for (let slice = 0; slice < SLICES; slice++) {
    let calls = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < budgetMs / SLICES) {
      await fn();
      calls++;
      elapsed = performance.now() - start;
    }
    samples += calls;
    best = Math.max(best, (calls * opsPerCall * 1000) / elapsed);
  }
  return { name, opsPerSecond: best, samples };
}

export function formatRate(opsPerSecond: number): string {
  if (opsPerSecond >= 1e6) return `${(opsPerSecond / 1e6).toFixed(2)}M/s`;
  if (opsPerSecond >= 100) return `${Math.round(opsPerSecond).toLocaleString("en")}/s`;
  return `${opsPerSecond.toPrecision(3)}/s`;
}

export function report(title: string, subject: Measurement, baseline: Measurement): number {
  const ratio = subject.opsPerSecond / baseline.opsPerSecond;
  console.log(
    `${title.padEnd(34)} ${subject.name} ${formatRate(subject.opsPerSecond).padStart(11)}  ` +
      `${baseline.name} ${formatRate(baseline.opsPerSecond).padStart(11)}  ratio ${ratio.toFixed(1)}x`,
  );
  return ratio;
}

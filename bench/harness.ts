/** A tiny benchmark harness: runs a function in batches until a time budget is spent and reports ops/s. */
import { performance } from "node:perf_hooks";

export interface Measurement {
  readonly name: string;
  readonly opsPerSecond: number;
  readonly samples: number;
}

/** Calls `fn` (which performs `opsPerCall` operations) repeatedly for about `budgetMs`, after a warm-up. */
export function measure(name: string, fn: () => void, opsPerCall = 1, budgetMs = 1000): Measurement {
  const warmUntil = performance.now() + budgetMs / 4;
  while (performance.now() < warmUntil) fn();
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < budgetMs) {
    fn();
    calls++;
    elapsed = performance.now() - start;
  }
  return { name, opsPerSecond: (calls * opsPerCall * 1000) / elapsed, samples: calls };
}

/** Like `measure`, for async work. */
export async function measureAsync(
  name: string,
  fn: () => Promise<void>,
  opsPerCall = 1,
  budgetMs = 1000,
): Promise<Measurement> {
  await fn();
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < budgetMs) {
    await fn();
    calls++;
    elapsed = performance.now() - start;
  }
  return { name, opsPerSecond: (calls * opsPerCall * 1000) / elapsed, samples: calls };
}

export function formatRate(opsPerSecond: number): string {
  return opsPerSecond >= 1e6
    ? `${(opsPerSecond / 1e6).toFixed(2)}M/s`
    : `${Math.round(opsPerSecond).toLocaleString("en")}/s`;
}

export function report(title: string, subject: Measurement, baseline: Measurement): number {
  const ratio = subject.opsPerSecond / baseline.opsPerSecond;
  console.log(
    `${title.padEnd(34)} ${subject.name} ${formatRate(subject.opsPerSecond).padStart(11)}  ` +
      `${baseline.name} ${formatRate(baseline.opsPerSecond).padStart(11)}  ratio ${ratio.toFixed(1)}x`,
  );
  return ratio;
}

/**
 * The embedded tables that grow with use, read as operators and the engine read them, at each size
 * of bench/routing.ts's fleets: a page of the instance list (the newest, and one far down by its
 * cursor), a page of an instance's history (from the start, and after a cursor), and the timer
 * loop's lookups (the next due time; the timers due now, none) with a timer for every instance.
 * Each is a rate of lookups a second over a fixed time; flat is the same rate at every size.
 */
import type { EmbeddedEngine } from "../lib/embedded/engine.js";

const MEASURE_MS = 300;
const HOUR = 3_600_000;

export interface TableRates {
  readonly [lookup: string]: number;
}

/** Calls `fn` (with a counter, to vary what it looks up) for MEASURE_MS after a warm-up; calls a second. */
async function rate(fn: (i: number) => Promise<unknown> | unknown): Promise<number> {
  for (let i = 0; i < 50; i++) await fn(i);
  const started = performance.now();
  let calls = 0;
  while (performance.now() - started < MEASURE_MS) await fn(calls++);
  return calls / ((performance.now() - started) / 1000);
}

/**
 * A timer for each of `count` instances, due from an hour on so that none is due while measured:
 * written straight into the table (what is measured is the lookups, not the timers' making).
 */
function addTimers(engine: EmbeddedEngine, count: number, now: number): void {
  const insert = engine.db.prepare(
    "INSERT OR IGNORE INTO timers (id, instance, node, due) VALUES (?, ?, 'n', ?)",
  );
  engine.db.transaction(() => {
    for (let i = 0; i < count; i++) insert.run(`bench-timer-${i}`, `keyed-${i}`, now + HOUR + i * 1000);
  })();
}

/** The lookup rates of an engine whose `size` instances (ids keyed-0…) have stepped a few times. */
export async function tableRates(engine: EmbeddedEngine, size: number): Promise<TableRates> {
  // A cursor halfway down the list: a page from it is an index range like the first.
  const half = `keyed-${size >> 1}`;
  const cursor = `${(await engine.snapshot(half))?.createdAt}#${half}`;
  const now = Date.now();
  addTimers(engine, size, now);
  const id = (i: number) => `keyed-${(i * 7919) % size}`;
  return {
    "list, first page": await rate(() => engine.store.list({ limit: 100 })),
    "list, a page down": await rate(() => engine.store.list({ limit: 100, after: cursor })),
    "history, first page": await rate((i) => engine.store.history(id(i), { limit: 20 })),
    "history, after a cursor": await rate((i) => engine.store.history(id(i), { after: 1, limit: 20 })),
    "timers, next due": await rate(() => engine.queues.nextDue()),
    "timers, due now (none)": await rate(() => engine.queues.fireDue(now)),
  };
}

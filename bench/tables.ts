/**
 * The embedded tables that grow with use, read as operators and the engine read them, at each size
 * of bench/routing.ts's fleets: a page of the instance list (the newest, and one far down by its
 * cursor), a page of an instance's history (from the start, and after a cursor), and the timer
 * loop's lookups (the next due time; the timers due now, none) with a timer for every instance.
 * Each is a rate of lookups a second; flat is the same rate at every size.
 *
 * A lookup's rate at a size is the median of SLICES slices, the slices of the sizes taken in turn
 * (a burst of load on the machine falls on every size, not on one). The instances whose history
 * is read are a sample launched for it, with the same history at every size: the fleets' own
 * instances took different numbers of events (each of 1,000 took several, most of 100,000 none),
 * and their records differ in number and length.
 */
import type { EmbeddedEngine } from "../lib/embedded/engine.js";
import { median } from "./harness.js";

const SLICES = 5;
const SLICE_MS = 80;
const HOUR = 3_600_000;
/** Instances whose history is read, and the records each is given (more than a page of 20 from either start). */
const SAMPLE = 100;
const RECORDS = 50;

export interface TableRates {
  readonly [lookup: string]: number;
}

/** An engine of bench/routing.ts with `size` instances (ids keyed-0…), each stepped at least once. */
export interface Sized {
  readonly engine: EmbeddedEngine;
  readonly size: number;
}

type Lookup = (i: number) => Promise<unknown> | unknown;

/** Calls `fn` (with a counter, to vary what it looks up) for SLICE_MS; calls a second. */
async function slice(fn: Lookup): Promise<number> {
  const started = performance.now();
  let calls = 0;
  while (performance.now() - started < SLICE_MS) await fn(calls++);
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

/**
 * The sample whose history is read: new instances whose ids sort beside ones spread over the table
 * (so their records are spread over the history's index as any instance's), each launched and
 * given RECORDS records more, the same history at every size.
 */
async function historySample(engine: EmbeddedEngine, size: number, now: number): Promise<string[]> {
  const ids = Array.from({ length: SAMPLE }, (_, i) => `keyed-${(i * 7919) % size}.sample`);
  await Promise.all(
    ids.map((id, i) => engine.launch({ process: "keyed", id, fields: { key: `sample-${i}` } })),
  );
  await engine.idle();
  const record = {
    at: now,
    message: { type: "operator", action: "pause" } as const,
    commands: [],
    notes: [],
  };
  // Through the store's own append, in one transaction of its own: the engine's writer is idle (the
  // launches above have settled and nothing else writes), and the checkpoint worker never waits on
  // a lock. The records go round the sample, so each instance's are spread over pages as a real
  // history's are (written a step at a time among other instances' steps).
  engine.db.exec("BEGIN IMMEDIATE");
  try {
    for (let i = 0; i < RECORDS; i++) for (const id of ids) await engine.store.note(id, record);
    engine.db.exec("COMMIT");
  } catch (error) {
    engine.db.exec("ROLLBACK");
    throw error;
  }
  return ids;
}

/** The lookups of one engine, by name. */
async function lookups({ engine, size }: Sized): Promise<Record<string, Lookup>> {
  // A cursor halfway down the list: a page from it is an index range like the first.
  const half = `keyed-${size >> 1}`;
  const cursor = `${(await engine.snapshot(half))?.createdAt}#${half}`;
  const now = Date.now();
  addTimers(engine, size, now);
  const sample = await historySample(engine, size, now);
  const id = (i: number) => sample[i % SAMPLE] as string;
  return {
    "list, first page": () => engine.store.list({ limit: 100 }),
    "list, a page down": () => engine.store.list({ limit: 100, after: cursor }),
    "history, first page": (i) => engine.store.history(id(i), { limit: 20 }),
    "history, after a cursor": (i) => engine.store.history(id(i), { after: 20, limit: 20 }),
    "timers, next due": () => engine.queues.nextDue(),
    "timers, due now (none)": () => engine.queues.fireDue(now),
  };
}

/** The lookup rates of each engine, in the order given. */
export async function tableRates(engines: readonly Sized[]): Promise<TableRates[]> {
  const all: Record<string, Lookup>[] = [];
  for (const sized of engines) all.push(await lookups(sized));
  const rates = engines.map(() => ({}) as Record<string, number>);
  for (const name of Object.keys(all[0] ?? {})) {
    const slices: number[][] = engines.map(() => []);
    // A warm-up of each, then the slices in turn, starting from a different size each time.
    for (const own of all) for (let i = 0; i < 50; i++) await own[name]?.(i);
    for (let s = 0; s < SLICES; s++)
      for (let j = 0; j < engines.length; j++) {
        const k = (s + j) % engines.length;
        slices[k]?.push(await slice(all[k]?.[name] as Lookup));
      }
    for (const [k, own] of slices.entries()) (rates[k] as Record<string, number>)[name] = median(own);
  }
  return rates;
}

/**
 * Event routing on the embedded engine as it fills: keyed events per second with 1,000, 10,000 and
 * 100,000 instances waiting (each on its own key of one event name), the ratio of the largest to
 * the smallest (flat routing: about 1), and the database bytes and process memory each waiting
 * instance costs. Each size is an engine of its own in this process; an event is published,
 * routed to its one await and applied (the instance steps and subscribes again, on the key the
 * event named), so a rate is end to end, as `docket serve` would see it without HTTP. A line
 * besides: one unkeyed event waking 1,000 awaits.
 *
 * BENCH_ROUTING_MAX sets the largest size (default 100,000; the middle one is a tenth of it), for
 * a smoke run. The instances are set up through the engine (launched, each applied to its await):
 * what is measured is what the engine wrote, not a bulk path's imitation of it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { loadConfig } from "../lib/embedded/config.js";
import { EmbeddedEngine } from "../lib/embedded/engine.js";
import { rootContext } from "../lib/engine/types.js";
import { formatRate, type Measurement, median, type Row } from "./harness.js";
import { tableRates } from "./tables.js";

const SMALLEST = 1000;
const UNKEYED_WAITING = 1000;
/**
 * Events a round; the rate of a size is its median round, the rounds of the sizes taken in turn.
 * Every event goes to a key no event was sent to before (see `keyed`), so there can be as many
 * rounds as a steady median needs whatever the smallest size. A round of 200 (40 to 60 ms) was
 * as long as a collection or a log restart, and its rate moved by half from round to round.
 */
const EVENTS_PER_ROUND = 400;
const ROUNDS = 15;
/**
 * Rounds of each size before those counted, taken in turn as they are: each engine's first rounds
 * after its set-up ran at half its rate or less (its caches cold, the file just written), the
 * largest's most, and would have counted against it.
 */
const WARM_UP_ROUNDS = 3;
const LAUNCH_BATCH = 1000;

// Each instance waits again after each event, so the number waiting stays the size throughout. It
// waits on the key the event names next: a key sent twice would find its first event still
// buffered when it subscribed again (read, then passed over), work a size with more keys than
// events sent would not do.
const keyed = `process: keyed
do:
  - while:
      condition: context.key != ""
      do:
        - await: { event: go, key: context.key, into: got }
        - assign: { property: key, value: context.got.next }
`;
const unkeyed = `process: unkeyed\ndo:\n  - while:\n      condition: context.key != ""\n      do: [ { await: { event: tick } } ]\n`;

/** The key instance `i` waits on after `events` events: its launch key first. */
const keyOf = (i: number, events: number) => (events === 0 ? `k${i}` : `k${i}.${events}`);

/**
 * Where the `sent`th event of a fleet of `waiting` goes: a stride coprime with the sizes visits
 * instances all over the table, each once a pass; `events` is how many it took before.
 */
const target = (sent: number, waiting: number) => ({
  instance: (sent * 7919) % waiting,
  events: Math.floor(sent / waiting),
});

async function openEngine(dir: string): Promise<EmbeddedEngine> {
  const config = {
    ...loadConfig(undefined, dir),
    database: join(dir, "routing.sqlite"),
    definitions: join(dir, "none"),
  };
  const engine = await EmbeddedEngine.open({ config, participants: false, schedules: false });
  await engine.definitions.register("keyed.yaml", keyed);
  await engine.definitions.register("unkeyed.yaml", unkeyed);
  return engine;
}

async function launchWaiting(engine: EmbeddedEngine, process: string, count: number): Promise<void> {
  for (let start = 0; start < count; start += LAUNCH_BATCH) {
    const ids = Array.from({ length: Math.min(LAUNCH_BATCH, count - start) }, (_, i) => start + i);
    await Promise.all(
      ids.map((i) => engine.launch({ process, id: `${process}-${i}`, fields: { key: `k${i}` } })),
    );
    await engine.idle();
  }
}

function databaseBytes(engine: EmbeddedEngine): number {
  engine.db.pragma("wal_checkpoint(TRUNCATE)");
  const pages = engine.db.pragma("page_count", { simple: true }) as number;
  const free = engine.db.pragma("freelist_count", { simple: true }) as number;
  return (pages - free) * (engine.db.pragma("page_size", { simple: true }) as number);
}

/** An engine with `waiting` instances waiting, what they cost, and its rate of each round so far. */
interface Fleet {
  readonly waiting: number;
  readonly engine: EmbeddedEngine;
  readonly dir: string;
  readonly bytesPerInstance: number;
  readonly memoryPerInstance: number;
  readonly setupSeconds: number;
  readonly rates: number[];
  sent: number;
}

// A collection before each memory reading, so the difference is what the instances keep, not garbage.
setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;
const memory = () => {
  collect();
  return process.memoryUsage().rss;
};

async function setUp(waiting: number): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), "docket-routing-"));
  const engine = await openEngine(dir);
  const bytesBefore = databaseBytes(engine);
  const memoryBefore = memory();
  const started = performance.now();
  await launchWaiting(engine, "keyed", waiting);
  return {
    waiting,
    engine,
    dir,
    setupSeconds: (performance.now() - started) / 1000,
    bytesPerInstance: (databaseBytes(engine) - bytesBefore) / waiting,
    memoryPerInstance: (memory() - memoryBefore) / waiting,
    rates: [],
    sent: 0,
  };
}

async function tearDown(fleet: Fleet): Promise<void> {
  await fleet.engine.close();
  rmSync(fleet.dir, { recursive: true, force: true });
}

/** One round of keyed events, keys spread over every waiting instance; records its rate when counted. */
async function round(fleet: Fleet, counted: boolean): Promise<void> {
  const started = performance.now();
  for (let i = 0; i < EVENTS_PER_ROUND; i++) {
    const { instance, events } = target(fleet.sent++, fleet.waiting);
    const next = keyOf(instance, events + 1);
    await fleet.engine.publish({ name: "go", key: keyOf(instance, events), data: { i, next } });
  }
  await fleet.engine.idle();
  if (counted) fleet.rates.push(EVENTS_PER_ROUND / ((performance.now() - started) / 1000));
  await checkWoken(fleet);
}

/**
 * The last event sent was taken: its instance waits on the key it named. An event that found no
 * await would only be buffered, and the rate would measure nothing.
 */
async function checkWoken(fleet: Fleet): Promise<void> {
  const { instance, events } = target(fleet.sent - 1, fleet.waiting);
  const expected = keyOf(instance, events + 1);
  const snapshot = await fleet.engine.snapshot(`keyed-${instance}`);
  const key = snapshot && rootContext(snapshot).key;
  if (key !== expected)
    throw new Error(`keyed-${instance} waits on ${String(key)}, not ${expected}: the events were not routed`);
}

const measurement = (fleet: Fleet): Measurement => ({
  name: `${fleet.waiting.toLocaleString("en")} waiting`,
  opsPerSecond: median(fleet.rates),
  calls: fleet.rates.length,
});

/** One unkeyed event waking UNKEYED_WAITING awaits (beside the keyed ones already waiting): awaits woken a second. */
async function unkeyedFanOut(engine: EmbeddedEngine): Promise<number> {
  await launchWaiting(engine, "unkeyed", UNKEYED_WAITING);
  const rates: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const started = performance.now();
    await engine.publish({ name: "tick", data: { i } });
    await engine.idle();
    rates.push(UNKEYED_WAITING / ((performance.now() - started) / 1000));
  }
  return median(rates);
}

const perInstance = (fleet: Fleet) =>
  `${fleet.waiting.toLocaleString("en")} waiting: ${Math.round(fleet.bytesPerInstance)} B of database, ` +
  `${(fleet.memoryPerInstance / 1024).toFixed(2)} KiB of process memory (RSS growth) an instance; set up in ${fleet.setupSeconds.toFixed(1)} s`;

/** The table lookups at each size (bench/tables.ts): a line each, and a row of the largest against the smallest. */
async function benchTables(fleets: readonly Fleet[]): Promise<Row[]> {
  const rates = await tableRates(fleets.map((fleet) => ({ engine: fleet.engine, size: fleet.waiting })));
  const smallest = fleets[0] as Fleet;
  const largest = fleets.at(-1) as Fleet;
  return Object.keys(rates[0] ?? {}).map((lookup) => {
    const at = rates.map((r) => r[lookup] as number);
    const sizes = fleets.map((f, i) => `${formatRate(at[i] as number)} at ${f.waiting.toLocaleString("en")}`);
    console.log(`${lookup.padEnd(30)} ${sizes.join(", ")} lookups/s`);
    const measured = (fleet: Fleet, opsPerSecond: number): Measurement => ({
      name: `${fleet.waiting.toLocaleString("en")} instances`,
      opsPerSecond,
      calls: 1,
    });
    return {
      workload: `${lookup}, ${largest.waiting.toLocaleString("en")} instances`,
      subject: measured(largest, at.at(-1) as number),
      peer: measured(smallest, at[0] as number),
      plan: "count",
    };
  });
}

/**
 * Returns a row per size above the smallest, each against the smallest (the ratio: flat is 1).
 * Every size is set up first, then the rounds alternate between them, so a burst of load on a
 * shared machine falls on every size, not on one.
 */
export async function benchRouting(
  largest = Number(process.env.BENCH_ROUTING_MAX ?? 100_000),
): Promise<Row[]> {
  const sizes = [...new Set([SMALLEST, Math.max(SMALLEST, largest / 10), largest])];
  // A first engine not counted: the JIT's warm-up and the heap's first growth would otherwise fall
  // on the smallest size's rate and memory.
  const warmUp = await setUp(SMALLEST);
  await round(warmUp, false);
  await tearDown(warmUp);
  const fleets: Fleet[] = [];
  try {
    for (const waiting of sizes) fleets.push(await setUp(waiting));
    for (let i = 0; i < WARM_UP_ROUNDS + ROUNDS; i++)
      for (let j = 0; j < fleets.length; j++)
        await round(fleets[(i + j) % fleets.length] as Fleet, i >= WARM_UP_ROUNDS);
    for (const fleet of fleets) {
      console.log(
        `${"event routing (keyed)".padEnd(30)} ${fleet.waiting.toLocaleString("en").padStart(7)} waiting ${formatRate(median(fleet.rates)).padStart(11)} events/s`,
      );
      console.log(`${"".padEnd(30)} ${perInstance(fleet)}`);
    }
    const smallest = measurement(fleets[0] as Fleet);
    const top = measurement(fleets.at(-1) as Fleet);
    console.log(
      `${"".padEnd(30)} largest/smallest ${(top.opsPerSecond / smallest.opsPerSecond).toFixed(2)} (target >= 0.8)`,
    );
    const woken = await unkeyedFanOut((fleets.at(-1) as Fleet).engine);
    console.log(
      `${"event routing (unkeyed)".padEnd(30)} one event waking ${UNKEYED_WAITING.toLocaleString("en")} awaits beside ${largest.toLocaleString("en")} keyed: ${formatRate(woken)} awaits woken`,
    );
    const tables = await benchTables(fleets);
    const routing: Row[] = fleets.slice(1).map((fleet) => ({
      workload: `event routing, ${fleet.waiting.toLocaleString("en")} waiting`,
      subject: measurement(fleet),
      peer: smallest,
      plan: "count",
      note: perInstance(fleet),
    }));
    return [...routing, ...tables];
  } finally {
    for (const fleet of fleets) await tearDown(fleet);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchRouting();

/**
 * The crash soak: a mix of processes (parallel branches, foreach, an await, a delay, a subprocess,
 * retries, a timeout) driven to their end on the embedded adapters, with faults injected at chosen
 * port calls: a failure (the message is retried) or a kill (the process is gone: its memory is
 * dropped, the database reopened, uncommitted work lost). Every run is compared with a fault-free
 * run: same end state, no transition applied twice, no task dispatched twice.
 *
 * Two modes: `embedded` commits each message's state, sends and ack in one SQLite transaction (the
 * embedded engine); `outbox` commits each write alone and relies on the outbox and redelivery (the
 * AWS engine's way, here on SQLite so that a thousand schedules run in seconds).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { type Db, openDatabase } from "../../lib/embedded/database.js";
import { SqliteDefinitionStore } from "../../lib/embedded/definitions.js";
import { EmbeddedQueues } from "../../lib/embedded/queues.js";
import { SqliteInstanceStore } from "../../lib/embedded/store.js";
import { SqliteSubscriptionIndex } from "../../lib/embedded/subscriptions.js";
import { rootContext } from "../../lib/engine/index.js";
import type { Message, TaskCommand } from "../../lib/engine/types.js";
import { DocketError, InfrastructureError } from "../../lib/errors.js";
import { type Fault, FaultInjector, InjectedCrash } from "../../lib/runtime/faults.js";
import { Runtime } from "../../lib/runtime/runtime.js";
import type { WireReply } from "../../lib/runtime/wire.js";

export type Mode = "embedded" | "outbox";

export const DEFINITIONS: Readonly<Record<string, string>> = {
  "fan.yaml": `context: { items: [1, 2, 3] }
do:
  - all: { do: [ { action: pa }, { action: pb } ] }
  - foreach: { select: context.items, parallel: true, do: [ { action: item } ] }
`,
  "waits.yaml": `context: { ref: "" }
do:
  - action: prepare
  - await: { event: paid, key: context.ref, into: payment, timeout: PT1H }
  - delay: PT30S
  - action: ship
`,
  "parent.yaml": `context: { receipt: 0 }
do:
  - call: { process: child, input: '{"amount": 5}', output: '{"receipt": result.charge}' }
  - action: close
`,
  "child.yaml": `context: { amount: 0 }
do: [ { action: charge } ]
`,
  "held.yaml": `do: [ { action: held }, { action: after } ]
`,
  "flaky.yaml": `do:
  - action: { participant: flaky, retry: 2, backoff: PT10S }
  - action: { participant: slow, timeout: PT1M, retry: 2 }
`,
};

const LAUNCHES = [
  { process: "fan", id: "fan-1" },
  { process: "waits", id: "waits-1", fields: { ref: "R-1" } },
  { process: "parent", id: "parent-1" },
  { process: "flaky", id: "flaky-1" },
  { process: "held", id: "held-1" },
];

/** Operator commands sent right after the launches: held-1 is paused, then resumed. */
const OPERATOR: readonly { instance: string; message: Message }[] = [
  { instance: "held-1", message: { type: "operator", action: "pause" } },
  { instance: "held-1", message: { type: "operator", action: "resume" } },
];

/** A small seeded generator, so a failing delivery schedule can be replayed from its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type InboxItem = NonNullable<ReturnType<EmbeddedQueues["peek"]>>;

/**
 * Delivery faults: the next message is any of the first few queued (reordered across and within
 * instances), and a quarter of them are delivered again (later for messages with an identity:
 * replies, events, timer fires, child completions; at once for operator commands, whose order is
 * the operator's meaning, as the FIFO inbox keeps it).
 */
function chaoticDelivery(
  db: Db,
  next: () => number,
): { item: InboxItem; again: "later" | "now" | "no" } | undefined {
  const rows = db.prepare("SELECT id, instance, message FROM inbox ORDER BY id LIMIT 6").all() as {
    id: number;
    instance: string;
    message: string;
  }[];
  const items = rows.map((r) => ({
    id: r.id,
    instance: r.instance,
    message: JSON.parse(r.message) as Message,
  }));
  let item = items[Math.floor(next() * items.length)];
  if (!item) return undefined;
  const first = items.find((i) => i.instance === item?.instance) as InboxItem;
  if (first.message.type === "operator" || item.message.type === "operator") item = first;
  const duplicate = next() < 0.25;
  return { item, again: !duplicate ? "no" : item.message.type === "operator" ? "now" : "later" };
}

/** A participant's answer, decided by the task alone: `flaky` errs on its first attempt, `slow` never answers its first. */
function answerOf(task: TaskCommand): WireReply | undefined {
  const { participant, attempt } = task.task;
  if (participant === "slow" && attempt === 1) return undefined;
  if (participant === "flaky" && attempt === 1)
    return { task: task.task, status: "error", error: { code: "Busy", message: "try again" } };
  const key = participant === "item" ? `item_${task.task.node.replaceAll(".", "_")}` : participant;
  return { task: task.task, status: "done", fields: { [key]: attempt } };
}

/** One incarnation of the process: what a kill throws away. */
interface Incarnation {
  readonly db: Db;
  readonly store: SqliteInstanceStore;
  readonly queues: EmbeddedQueues;
  readonly runtime: Runtime;
}

export interface Outcome {
  /** Per instance: status and root context. */
  readonly instances: Record<string, { status: string; context: unknown }>;
  /** Problems found: a transition applied twice, a task dispatched twice. */
  readonly problems: string[];
  readonly calls: number;
  readonly fired: readonly string[];
  readonly restarts: number;
}

export async function runMix(mode: Mode, faults: readonly Fault[], deliverySeed?: number): Promise<Outcome> {
  const next = deliverySeed === undefined ? undefined : random(deliverySeed);
  const dir = mkdtempSync(join(tmpdir(), "docket-soak-"));
  const path = join(dir, "soak.sqlite");
  const injector = new FaultInjector(faults);
  let now = Date.UTC(2026, 0, 1);
  const clock = { now: () => now };
  const seed = openDatabase(path);
  const definitions = new SqliteDefinitionStore(seed);
  for (const [key, source] of Object.entries(DEFINITIONS)) await definitions.register(key, source);
  seed.close();

  const boot = (): Incarnation => {
    const db = openDatabase(path);
    const store = new SqliteInstanceStore(db);
    const queues = new EmbeddedQueues(db, clock.now);
    const runtime = new Runtime({
      store: injector.wrap(store, "store"),
      dispatcher: injector.wrap(queues, "dispatcher"),
      subscriptions: injector.wrap(new SqliteSubscriptionIndex(db), "subscriptions"),
      definitions: injector.wrap(new SqliteDefinitionStore(db), "definitions"),
      clock,
      newId: () => "unused",
      sendsCommitWithState: mode === "embedded",
    });
    return { db, store, queues, runtime };
  };
  let proc = boot();
  let restarts = 0;
  /** Runs one unit of work: in one transaction (embedded), or write by write (outbox). */
  const attempt = async (work: (p: Incarnation) => Promise<void>): Promise<boolean> => {
    const p = proc;
    const atomic = mode === "embedded";
    if (atomic) p.db.exec("BEGIN IMMEDIATE");
    try {
      await work(p);
      if (atomic) p.db.exec("COMMIT");
      return true;
    } catch (error) {
      if (error instanceof InjectedCrash) {
        // The process dies: whatever was not committed is gone, and so is its memory.
        p.db.close();
        proc = boot();
        restarts++;
        return false;
      }
      if (atomic && p.db.inTransaction) p.db.exec("ROLLBACK");
      p.store.forget();
      if (error instanceof DocketError && !(error instanceof InfrastructureError)) throw error;
      return false;
    }
  };

  const pending: ((p: Incarnation) => Promise<unknown>)[] = [
    ...LAUNCHES.map((launch) => (p: Incarnation) => p.runtime.launch(launch)),
    ...OPERATOR.map(
      ({ instance, message }) =>
        (p: Incarnation) =>
          p.queues.enqueue(instance, message),
    ),
  ];
  const unanswered = new Set<string>();
  let published = false;
  for (let round = 0; round < 3000; round++) {
    const send = pending[0];
    if (send) {
      if (await attempt((p) => send(p).then(() => undefined))) pending.shift();
      continue;
    }
    if (!published) {
      published = await attempt((p) =>
        p.runtime
          .publish({ name: "paid", key: "R-1", data: { amount: 7 }, id: "payment-1" })
          .then(() => undefined),
      );
      continue;
    }
    const delivery = next ? chaoticDelivery(proc.db, next) : undefined;
    const item = delivery?.item ?? proc.queues.peek();
    if (item) {
      await attempt(async (p) => {
        await p.runtime.apply(item.instance, item.message);
        if (delivery?.again === "now") await p.runtime.apply(item.instance, item.message);
        if (delivery?.again !== "later") p.queues.ack(item.id);
      });
      continue;
    }
    const open = proc.queues.openTasks().find((t) => !unanswered.has(t.id));
    if (open) {
      const reply = answerOf(open.task);
      if (!reply) unanswered.add(open.id);
      else
        await attempt(async (p) => {
          await p.runtime.reply(reply);
          p.queues.closeTask(open.id);
        });
      continue;
    }
    const due = proc.queues.nextDue();
    if (due === undefined) break;
    now = Math.max(now, due);
    proc.queues.fireDue(now);
  }
  const outcome = inspect(proc.db, injector, restarts);
  proc.db.close();
  rmSync(dir, { recursive: true, force: true });
  return outcome;
}

/** The end state, and what the history says about duplicates. */
function inspect(db: Db, injector: FaultInjector, restarts: number): Outcome {
  const instances: Outcome["instances"] = {};
  const rows = db.prepare("SELECT id, status, snapshot FROM instances ORDER BY id").all() as {
    id: string;
    status: string;
    snapshot: string;
  }[];
  for (const row of rows)
    instances[row.id] = { status: row.status, context: rootContext(JSON.parse(row.snapshot)) };
  const problems: string[] = [];
  const history = db.prepare("SELECT instance, record FROM history ORDER BY instance, seq").all() as {
    instance: string;
    record: string;
  }[];
  const applied = new Set<string>();
  const dispatched = new Set<string>();
  for (const { instance, record } of history) {
    const r = JSON.parse(record) as {
      message: Message;
      commands: { type: string; task?: { id: string } }[];
      notes: { kind: string }[];
    };
    if (r.notes.some((n) => n.kind === "ignored" || n.kind === "rejected")) continue;
    const key = `${instance} ${JSON.stringify(r.message)}`;
    if (applied.has(key)) problems.push(`applied twice: ${key}`);
    applied.add(key);
    for (const c of r.commands)
      if (c.type === "task" && c.task) {
        if (dispatched.has(c.task.id)) problems.push(`task ${c.task.id} dispatched twice`);
        dispatched.add(c.task.id);
      }
  }
  return { instances, problems, calls: injector.calls, fired: injector.fired, restarts };
}

/** Faults for fast-check: one to four, at calls up to `maxCall`, failures and kills before and after. */
export function faultSchedules(maxCall: number) {
  return fc.array(
    fc.record({
      call: fc.integer({ min: 1, max: maxCall }),
      moment: fc.constantFrom("before" as const, "after" as const),
      kind: fc.constantFrom("fail" as const, "kill" as const),
    }),
    { minLength: 1, maxLength: 4 },
  );
}

/** Every single fault: each call of the fault-free run, before and after, failed and killed. */
export function everySingleFault(calls: number, every = 1): Fault[][] {
  const schedules: Fault[][] = [];
  for (let call = 1; call <= calls; call += every)
    for (const moment of ["before", "after"] as const)
      for (const kind of ["fail", "kill"] as const) schedules.push([{ call, moment, kind }]);
  return schedules;
}

/** JSON with the keys of every object sorted: the order keys were added in is not state. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Compares a run with the fault-free one; returns what differs (nothing when it holds). */
export function differences(reference: Outcome, run: Outcome): string[] {
  const found = [...run.problems];
  const want = canonical(reference.instances);
  const got = canonical(run.instances);
  if (want !== got) found.push(`end state differs:\n  want ${want}\n  got  ${got}`);
  return found;
}

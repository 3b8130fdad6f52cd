/**
 * Schedules on the embedded engine: their state in SQLite, their fires the engine's own timers
 * (the timers table), each fire applied in the pump's transaction like any inbox message, so the
 * launch, the next fire's timer and what the fire did commit together or not at all.
 *
 * The schedules in force are docket.config.yaml's and those of each process's latest version.
 * They are brought in line when the engine opens, when a definition is registered, and every
 * minute (so a `latest` moved back by a rollback takes its schedules with it).
 */
import type { TimerMessage } from "../engine/types.js";
import type { Definition } from "../language/model.js";
import type { FireOutcome, ScheduleState, ScheduleStore } from "../ports.js";
import type { Runtime } from "../runtime/runtime.js";
import { declaredSchedules, Scheduler } from "../runtime/schedules.js";
import type { DocketConfig } from "./config.js";
import type { Db } from "./database.js";
import type { SqliteDefinitionStore } from "./definitions.js";

export class SqliteScheduleStore implements ScheduleStore {
  private readonly statements;

  constructor(db: Db) {
    db.exec("CREATE TABLE IF NOT EXISTS schedules (name TEXT PRIMARY KEY, state TEXT NOT NULL)");
    this.statements = {
      all: db.prepare<[], { state: string }>("SELECT state FROM schedules ORDER BY name"),
      get: db.prepare<[string], { state: string }>("SELECT state FROM schedules WHERE name = ?"),
      put: db.prepare(
        "INSERT INTO schedules (name, state) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET state = excluded.state",
      ),
      remove: db.prepare("DELETE FROM schedules WHERE name = ?"),
    };
  }

  async list(): Promise<ScheduleState[]> {
    return this.statements.all.all().map((row) => JSON.parse(row.state) as ScheduleState);
  }

  async get(name: string): Promise<ScheduleState | undefined> {
    const row = this.statements.get.get(name);
    return row ? (JSON.parse(row.state) as ScheduleState) : undefined;
  }

  async plan(state: Pick<ScheduleState, "schedule" | "hash" | "planned">): Promise<void> {
    const stored = await this.get(state.schedule.name);
    this.put({ ...stored, ...state });
  }

  async recordFire(name: string, outcome: FireOutcome): Promise<void> {
    const stored = await this.get(name);
    if (!stored || (stored.last && stored.last.fire > outcome.fire)) return;
    const launched =
      outcome.result === "launched" && outcome.instance
        ? { fire: outcome.fire, instance: outcome.instance, at: outcome.at }
        : stored.launched;
    this.put({ ...stored, last: outcome, ...(launched ? { launched } : {}) });
  }

  async remove(name: string): Promise<void> {
    this.statements.remove.run(name);
  }

  private put(state: ScheduleState): void {
    this.statements.put.run(state.schedule.name, JSON.stringify(state));
  }
}

export interface EmbeddedSchedulesDeps {
  readonly db: Db;
  readonly config: DocketConfig;
  readonly definitions: SqliteDefinitionStore;
  readonly runtime: Runtime;
  /** Runs `fn` in a transaction of its own (or the pump's), as the engine's other writes. */
  readonly write: <T>(fn: () => Promise<T>) => Promise<T>;
  readonly log: (line: string) => void;
}

const RECONCILE_EVERY_MS = 60 * 1000;

export class EmbeddedSchedules {
  readonly scheduler: Scheduler;
  private readonly latest;
  private interval?: NodeJS.Timeout;
  private readonly reported = new Set<string>();

  constructor(private readonly deps: EmbeddedSchedulesDeps) {
    this.scheduler = new Scheduler({
      store: new SqliteScheduleStore(deps.db),
      runtime: deps.runtime,
      chain: true,
      log: deps.log,
    });
    this.latest = deps.db.prepare<[], { name: string; hash: string }>(
      "SELECT name, hash FROM latest ORDER BY name",
    );
  }

  /** Brings the schedules in force in line (see the module's comment), in a transaction. */
  async reconcile(): Promise<void> {
    await this.deps.write(async () => {
      const definitions: Pick<Definition, "name" | "schedules">[] = [];
      for (const { name, hash } of this.latest.all()) {
        const definition = await this.deps.definitions.byHash(hash);
        if (definition?.schedules) definitions.push({ name, schedules: definition.schedules });
      }
      const { schedules, conflicts } = declaredSchedules(this.deps.config.schedules ?? [], definitions);
      for (const conflict of conflicts) if (!this.reported.has(conflict)) this.deps.log(conflict);
      for (const conflict of conflicts) this.reported.add(conflict);
      await this.scheduler.reconcile(schedules);
    });
  }

  /** A schedule's timer fired (a timer message for SCHEDULE_TIMER_INSTANCE), inside the pump's transaction. */
  fire(message: TimerMessage): Promise<unknown> {
    return this.scheduler.fire(message);
  }

  /** Reconciles every minute until stopped (what a rollback of `latest` changed is then in force). */
  start(): void {
    this.interval = setInterval(() => {
      this.reconcile().catch((error) =>
        this.deps.log(`schedules: ${error instanceof Error ? error.message : String(error)}`),
      );
    }, RECONCILE_EVERY_MS);
    this.interval.unref();
  }

  stop(): void {
    clearInterval(this.interval);
  }
}

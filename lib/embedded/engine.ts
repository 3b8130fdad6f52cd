/**
 * The embedded engine: the runtime over SQLite and in-process loops, with nothing to install
 * beyond `npm install`. An instance survives a restart: the inbox, timers and tasks are tables.
 */
import { randomUUID } from "node:crypto";
import type { OperatorMessage, Snapshot } from "../engine/types.js";
import { DocketError, EngineError, InfrastructureError, MessageError } from "../errors.js";
import type { JsonObject } from "../language/model.js";
import type { Clock, Registration } from "../ports.js";
import { type LaunchRequest, type PublishRequest, Runtime } from "../runtime/runtime.js";
import { type DocketConfig, participantFor } from "./config.js";
import { type Db, openDatabase } from "./database.js";
import { SqliteDefinitionStore } from "./definitions.js";
import { registerFolder, watchFolder } from "./folder.js";
import { runParticipant, toWire, type WireReply } from "./participants.js";
import { EmbeddedQueues } from "./queues.js";
import { SqliteInstanceStore } from "./store.js";
import { SqliteSubscriptionIndex } from "./subscriptions.js";

export interface EngineOptions {
  readonly config: DocketConfig;
  readonly clock?: Clock;
  /** Register definition files as they change (serve); default false. */
  readonly watch?: boolean;
  /** Run engine-side participants (modules, commands, HTTP); default true. */
  readonly participants?: boolean;
  readonly log?: (line: string) => void;
}

export class EmbeddedEngine {
  readonly db: Db;
  readonly store: SqliteInstanceStore;
  readonly definitions: SqliteDefinitionStore;
  readonly queues: EmbeddedQueues;
  readonly runtime: Runtime;
  readonly clock: Clock;
  private pumping?: Promise<void>;
  private inFlight = 0;
  private timer?: NodeJS.Timeout;
  private stopWatching?: () => void;
  private closed = false;
  private retryDelay = 0;
  private lock: Promise<void> = Promise.resolve();
  /** Set while the pump applies a message inside its transaction. */
  private section?: { done: Promise<void> };
  private readonly idleWaiters: (() => void)[] = [];

  private constructor(readonly options: EngineOptions) {
    this.clock = options.clock ?? { now: () => Date.now() };
    this.db = openDatabase(options.config.database);
    this.store = new SqliteInstanceStore(this.db);
    this.definitions = new SqliteDefinitionStore(this.db);
    this.queues = new EmbeddedQueues(this.db, () => this.clock.now());
    this.runtime = new Runtime({
      store: this.store,
      dispatcher: this.queues,
      subscriptions: new SqliteSubscriptionIndex(this.db),
      definitions: this.definitions,
      clock: this.clock,
      newId: () => randomUUID(),
      // The pump commits each message's state and sends in one SQLite transaction.
      sendsCommitWithState: true,
    });
    this.queues.on("inbox", () => this.kick());
    this.queues.on("timers", () => this.scheduleTimers());
    if (options.participants !== false) this.queues.on("task", (task) => this.runTask(task));
  }

  /** Opens the database, registers the definitions folder and resumes where the last run stopped. */
  static async open(options: EngineOptions): Promise<EmbeddedEngine> {
    const engine = new EmbeddedEngine(options);
    for (const registration of await registerFolder(options.config.definitions, engine.definitions))
      engine.report(registration);
    if (options.watch)
      engine.stopWatching = watchFolder(options.config.definitions, engine.definitions, (r) =>
        engine.report(r),
      );
    if (options.participants !== false)
      for (const open of engine.queues.openTasks()) engine.runTask(open.task);
    engine.scheduleTimers();
    engine.kick();
    return engine;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private report(registration: Registration): void {
    if (registration.ok) this.log(`registered ${registration.name} (${registration.hash})`);
    else this.log(`rejected ${registration.name}:\n  ${registration.problems.join("\n  ")}`);
  }

  // ---- loops ----------------------------------------------------------------------------------

  /** Drains the inbox, one message at a time, in order. */
  private kick(): void {
    if (this.pumping || this.closed) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
      if (this.queues.depth > 0 && !this.closed) this.kick();
      else this.settle();
    });
  }

  /**
   * Runs `fn` alone on the database: the pump holds this while it applies a message, so a write
   * from outside (an HTTP reply, a launch) never joins the pump's open transaction, and is
   * committed before the caller is told it was taken.
   */
  /**
   * A write from outside the pump (a reply, a launch, an event, an operator command). While the
   * pump holds its transaction, the write joins it (one commit instead of two); otherwise it gets
   * a transaction of its own. Either way the caller hears back only once it is committed.
   */
  private write<T>(fn: () => Promise<T>): Promise<T> {
    if (this.section) {
      return fn().then(async (value) => {
        // Whatever transaction is open now may hold this write: wait until it has committed.
        while (this.section) await this.section.done;
        return value;
      });
    }
    return this.serialized(async () => {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        return await fn();
      } finally {
        if (this.db.inTransaction) this.db.exec("COMMIT");
      }
    });
  }

  private serialized<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async pump(): Promise<void> {
    for (let item = this.queues.peek(); item && !this.closed; item = this.queues.peek()) {
      const current = item;
      await this.serialized(() => this.applyOne(current));
      if (this.retryDelay) await new Promise((resolve) => setTimeout(resolve, this.retryDelay));
    }
  }

  /**
   * One SQLite transaction per message: the state, history, new tasks and the ack commit together.
   * It is committed on failure too: each write in it is valid alone, and what the failure left
   * undone is redone on redelivery.
   */
  private async applyOne(item: NonNullable<ReturnType<EmbeddedQueues["peek"]>>): Promise<void> {
    const own = !this.db.inTransaction;
    if (own) this.db.exec("BEGIN IMMEDIATE");
    let finish: () => void = () => {};
    this.section = { done: new Promise<void>((resolve) => (finish = resolve)) };
    try {
      await this.runtime.apply(item.instance, item.message);
      this.queues.ack(item.id);
      this.retryDelay = 0;
    } catch (error) {
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      if (error instanceof DocketError && !(error instanceof InfrastructureError)) {
        // The message itself cannot be applied: keep it aside with the reason, never block the rest.
        this.log(`dead-lettered a ${item.message.type} message for ${item.instance}: ${reason}`);
        this.queues.deadLetter(item, reason);
        return;
      }
      // A failure of the machinery: the message stays first in the inbox and is retried.
      this.retryDelay = Math.min(Math.max(this.retryDelay * 2, 50), 5000);
      this.log(
        `retrying a ${item.message.type} message for ${item.instance} in ${this.retryDelay} ms: ${reason}`,
      );
    } finally {
      if (own && this.db.inTransaction) this.db.exec("COMMIT");
      this.section = undefined;
      finish();
    }
  }

  private scheduleTimers(): void {
    clearTimeout(this.timer);
    const due = this.queues.nextDue();
    if (due === undefined || this.closed) return;
    const delay = Math.min(Math.max(0, due - this.clock.now()), 2 ** 31 - 1);
    this.timer = setTimeout(() => {
      this.queues.fireDue(this.clock.now());
      this.scheduleTimers();
      this.kick();
    }, delay);
  }

  private runTask(task: Parameters<typeof toWire>[0]): void {
    const spec = participantFor(this.options.config, task.task.participant);
    if (spec.kind === "external" || spec.kind === "aws") return;
    this.inFlight++;
    void runParticipant(spec, toWire(task, "local"))
      .then((reply) => (reply && !this.closed ? this.reply(reply) : undefined))
      .catch((error) =>
        this.log(
          `participant ${task.task.participant} failed: ${error instanceof Error ? error.message : String(error)}`,
        ),
      )
      .finally(() => {
        this.inFlight--;
        this.settle();
      });
  }

  private settle(): void {
    if (this.pumping || this.inFlight > 0 || this.queues.depth > 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Resolves when no message is queued and no participant is working (timers and external tasks may remain). */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.settle();
    });
  }

  // ---- operations -----------------------------------------------------------------------------

  launch(request: LaunchRequest): Promise<string> {
    return this.write(() => this.runtime.launch(request));
  }

  publish(request: PublishRequest): Promise<string> {
    return this.write(() => this.runtime.publish(request));
  }

  /** Takes a participant's reply; marks its task answered. */
  reply(reply: WireReply | unknown): Promise<void> {
    // The reply and its task's closing commit together, before the caller hears it was taken.
    return this.write(async () => {
      await this.runtime.reply(reply);
      this.queues.closeTask((reply as WireReply).task.id);
    });
  }

  async operate(
    instance: string,
    action: OperatorMessage["action"],
    options: { node?: string; fields?: JsonObject; reason?: string } = {},
  ): Promise<void> {
    if (!(await this.store.load(instance))) throw new EngineError("NoInstance", `no instance ${instance}`);
    if (
      options.fields !== undefined &&
      (options.fields === null || typeof options.fields !== "object" || Array.isArray(options.fields))
    ) {
      throw new MessageError([{ path: "fields", message: "must be an object" }]);
    }
    await this.write(() => this.queues.enqueue(instance, { type: "operator", action, ...options }));
  }

  async snapshot(instance: string): Promise<Snapshot | undefined> {
    return (await this.store.load(instance))?.snapshot;
  }

  /** Waits until the instance is finished or nothing more happens without outside help. */
  async settleInstance(instance: string): Promise<Snapshot | undefined> {
    await this.idle();
    return this.snapshot(instance);
  }

  /** Stops the loops, waits for the message being applied, and closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.stopWatching?.();
    this.queues.removeAllListeners();
    await this.pumping;
    this.db.close();
  }
}

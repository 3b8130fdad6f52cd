/**
 * The embedded engine: the runtime over SQLite and in-process loops, with nothing to install
 * beyond `npm install`. An instance survives a restart: the inbox, timers and tasks are tables.
 */
import { randomUUID } from "node:crypto";
import type { Message, OperatorMessage, ReplyMessage, Snapshot } from "../engine/types.js";
import { DocketError, EngineError, InfrastructureError, MessageError } from "../errors.js";
import type { JsonObject } from "../language/model.js";
import type { Clock, Registration } from "../ports.js";
import type { FaultInjector } from "../runtime/faults.js";
import { unusedName } from "../runtime/registration.js";
import { type LaunchRequest, type PublishRequest, Runtime } from "../runtime/runtime.js";
import { SCHEDULE_TIMER_INSTANCE } from "../runtime/schedules.js";
import { type Checkpointer, startCheckpointer } from "./checkpoints.js";
import { type DocketConfig, participantFor } from "./config.js";
import { type Db, openDatabase } from "./database.js";
import { SqliteDefinitionStore } from "./definitions.js";
import { registerFolder, watchFolder } from "./folder.js";
import { runParticipant, toWire, type WireReply } from "./participants.js";
import { EmbeddedQueues, type InboxItem } from "./queues.js";
import { EmbeddedSchedules } from "./schedules.js";
import { SqliteInstanceStore } from "./store.js";
import { SqliteSubscriptionIndex } from "./subscriptions.js";
import { Writer } from "./writer.js";

/** A reply checked, as the message its instance applies. */
type TakenReply = ReturnType<Runtime["replyMessage"]>;

export interface EngineOptions {
  readonly config: DocketConfig;
  readonly clock?: Clock;
  /** Register definition files as they change (serve); default false. */
  readonly watch?: boolean;
  /** Run engine-side participants (modules, commands, HTTP); default true. */
  readonly participants?: boolean;
  /** Launch the scheduled processes (docket.config.yaml's and definitions'); default true (`docket run`: false). */
  readonly schedules?: boolean;
  readonly log?: (line: string) => void;
  /** Wraps the advance loop's ports to inject faults (the soak and its tests); never in production. */
  readonly faults?: FaultInjector;
  /** The interpreter's rules new steps are applied under; default the newest (an older one: upgrade tests). */
  readonly semantics?: number;
}

export class EmbeddedEngine {
  readonly db: Db;
  readonly store: SqliteInstanceStore;
  readonly definitions: SqliteDefinitionStore;
  readonly queues: EmbeddedQueues;
  readonly runtime: Runtime;
  readonly clock: Clock;
  /** Scheduled launches (config and definitions): their fires are timers like an instance's. */
  readonly schedules: EmbeddedSchedules;
  /** Every change to the database goes through it: transactions of many writes and messages a commit. */
  private readonly writer: Writer;
  private readonly checkpointer: Checkpointer;
  private inFlight = 0;
  private timer?: NodeJS.Timeout;
  private stopWatching?: () => void;
  private closed = false;
  private retryDelay = 0;
  private readonly idleWaiters: (() => void)[] = [];

  private constructor(readonly options: EngineOptions) {
    this.clock = options.clock ?? { now: () => Date.now() };
    this.db = openDatabase(options.config.database);
    this.checkpointer = startCheckpointer(this.db, (line) => this.log(line));
    this.store = new SqliteInstanceStore(this.db);
    this.definitions = new SqliteDefinitionStore(this.db, (fn) => this.write(fn));
    this.queues = new EmbeddedQueues(this.db, () => this.clock.now());
    this.writer = new Writer({
      db: this.db,
      signals: this.queues,
      log: (line) => this.log(line),
      peek: () => this.queues.peek(),
      apply: (item) => this.applyMessage(item),
      failed: (item, error) => this.setAside(item, error),
      committed: () => {
        this.retryDelay = 0;
      },
      forget: () => {
        this.store.forget();
        this.queues.recheck();
      },
      gap: () => this.checkpointer.gap(),
      began: () => this.queues.recheck(),
      idle: () => this.settle(),
    });
    const wrap = <T extends object>(port: T, name: Parameters<FaultInjector["wrap"]>[1]): T =>
      options.faults ? options.faults.wrap(port, name) : port;
    this.runtime = new Runtime({
      store: wrap(this.store, "store"),
      dispatcher: wrap(this.queues, "dispatcher"),
      subscriptions: wrap(new SqliteSubscriptionIndex(this.db), "subscriptions"),
      definitions: wrap(this.definitions, "definitions"),
      clock: this.clock,
      newId: () => randomUUID(),
      // The pump commits each message's state and sends in one SQLite transaction.
      sendsCommitWithState: true,
      // Told of each step, for `docket serve`'s change feed (the console's live view).
      observer: { stepObserved: (step) => this.queues.emit("step", step) },
      ...(options.semantics === undefined ? {} : { semantics: options.semantics }),
    });
    this.schedules = new EmbeddedSchedules({
      db: this.db,
      config: options.config,
      definitions: this.definitions,
      runtime: this.runtime,
      write: (fn) => this.write(fn),
      log: (line) => this.log(line),
    });
    // Each console open on `docket serve` listens for steps: no limit to warn at.
    this.queues.setMaxListeners(0);
    this.queues.on("inbox", () => this.writer.kick());
    this.queues.on("timers", () => this.scheduleTimers());
    if (options.participants !== false) this.queues.on("task", (task) => this.runTask(task));
  }

  /** Opens the database, registers the definitions folder and resumes where the last run stopped. */
  static async open(options: EngineOptions): Promise<EmbeddedEngine> {
    const engine = new EmbeddedEngine(options);
    for (const registration of await registerFolder(options.config.definitions, engine.definitions))
      engine.report(registration);
    if (options.watch)
      engine.stopWatching = watchFolder(options.config.definitions, engine.definitions, (r) => {
        engine.report(r);
        if (r.ok && options.schedules !== false)
          engine.schedules.reconcile().catch((error) => engine.log(`schedules: ${String(error)}`));
      });
    // Before the timers and the inbox resume: fires missed while it was down are judged first.
    if (options.schedules !== false) {
      await engine.schedules.reconcile();
      engine.schedules.start();
    }
    if (options.participants !== false)
      for (const open of engine.queues.openTasks()) engine.runTask(open.task);
    engine.scheduleTimers();
    engine.writer.start();
    return engine;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private report(registration: Registration): void {
    if (registration.ok)
      this.log(`registered ${registration.name} (${registration.hash})${unusedName(registration.declared)}`);
    else this.log(`rejected ${registration.name}:\n  ${registration.problems.join("\n  ")}`);
  }

  // ---- loops ----------------------------------------------------------------------------------

  /**
   * A write from outside (a reply, a launch, an event, an operator command, a definition): the
   * caller hears back once the transaction holding it has committed (lib/embedded/writer.ts).
   */
  private write<T>(fn: () => Promise<T>, otherwise?: (error: unknown) => Promise<T>): Promise<T> {
    return this.writer.write(fn, otherwise);
  }

  /** A queued message applied and taken out of the inbox, inside the writer's transaction. */
  private async applyMessage(item: InboxItem): Promise<void> {
    if (item.instance === SCHEDULE_TIMER_INSTANCE && item.message.type === "timer")
      await this.schedules.fire(item.message);
    else await this.runtime.apply(item.instance, item.message);
    this.queues.ack(item.id);
  }

  /** A message that failed alone, rolled back: set aside, or retried after a while (returned, ms). */
  private setAside(item: InboxItem, error: unknown): number {
    if (error instanceof DocketError && !(error instanceof InfrastructureError)) {
      const reason = `${error.code}: ${error.message}`;
      // The message itself cannot be applied: keep it aside with the reason, never block the rest.
      this.log(`dead-lettered a ${item.message.type} message for ${item.instance}: ${reason}`);
      this.queues.deadLetter(item, reason);
      return 0;
    }
    // A failure of the machinery: the message stays first in the inbox and is retried.
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.retryDelay = Math.min(Math.max(this.retryDelay * 2, 50), 5000);
    this.log(
      `retrying a ${item.message.type} message for ${item.instance} in ${this.retryDelay} ms: ${reason}`,
    );
    return this.retryDelay;
  }

  private scheduleTimers(): void {
    clearTimeout(this.timer);
    const due = this.queues.nextDue();
    if (due === undefined || this.closed) return;
    const delay = Math.min(Math.max(0, due - this.clock.now()), 2 ** 31 - 1);
    this.timer = setTimeout(() => {
      // Through the writer: a timer moved to the inbox in a transaction that rolls back stays a timer.
      this.write(async () => this.queues.fireDue(this.clock.now())).then(
        () => this.scheduleTimers(),
        (error) => {
          if (this.closed) return;
          // A second later, not at once: a failure that lasts (a full disk) must not spin.
          this.log(`timers: ${error instanceof Error ? error.message : String(error)}`);
          this.timer = setTimeout(() => this.scheduleTimers(), 1000);
        },
      );
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
    // Asked only when someone waits: the inbox's check is a query.
    if (!this.idleWaiters.length || this.writer.busy || this.inFlight > 0 || this.queues.queued) return;
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

  /**
   * Takes a participant's reply and marks its task answered (a heartbeat answers nothing), both
   * committed before the caller hears the reply was taken. The reply is applied in that write when
   * nothing is queued (so no message of its instance, nor any other, is older) and messages are
   * being applied, with no inbox row; else, or when applying it fails (undone), it is queued, to be
   * applied, retried or set aside from the inbox as any message is.
   */
  reply(reply: WireReply | unknown): Promise<void> {
    let applying: TakenReply | undefined;
    return this.write(
      async () => {
        // Checked in the write, as it is applied: the caller's objects are not copied deeply.
        const taken = this.runtime.replyMessage(reply);
        if (!this.writer.applyingMessages || this.queues.queued) return this.queueReply(taken);
        applying = taken;
        await this.runtime.apply(taken.instance, taken.message);
        this.answered(taken.message);
      },
      // Queued when applying it failed; failing to check or to queue it refuses the write.
      async (error) => {
        if (!applying) throw error;
        await this.queueReply(applying);
      },
    );
  }

  private async queueReply({ instance, message }: TakenReply): Promise<void> {
    // Through the runtime's dispatcher: the port the soak's faults wrap, as a queued reply's was.
    await this.runtime.deps.dispatcher.enqueue(instance, message);
    this.answered(message);
  }

  /** Marks a reply's task answered (a heartbeat answers nothing). */
  private answered(message: ReplyMessage): void {
    if (message.status !== "heartbeat") this.queues.closeTask(message.task.id);
  }

  /** Queues a message for an instance (an operator command), committed before it returns. */
  enqueue(instance: string, message: Message): Promise<void> {
    return this.write(() => this.queues.enqueue(instance, message));
  }

  /** Queues an operator command for an instance, as `docket serve`'s API does (without its checks). */
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
    await this.enqueue(instance, { type: "operator", action, ...options });
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
    this.schedules.stop();
    this.stopWatching?.();
    this.queues.removeAllListeners();
    try {
      await this.writer.close();
    } finally {
      await this.checkpointer.stop();
      this.db.close();
    }
  }
}

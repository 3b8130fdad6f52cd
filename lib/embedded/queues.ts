/**
 * The embedded Dispatcher: the inbox, timers and tasks are SQLite tables, so nothing queued is lost
 * when the process dies; in-process signals wake the loops that drain them.
 */
import { EventEmitter } from "node:events";
import type { Message, TaskCommand } from "../engine/types.js";
import type { JsonObject } from "../language/model.js";
import type { Dispatcher } from "../ports.js";
import type { Db } from "./database.js";
import type { HeldSignals } from "./writer.js";

export interface InboxItem {
  readonly id: number;
  readonly instance: string;
  readonly message: Message;
}

export interface OpenTask {
  readonly id: string;
  readonly participant: string;
  readonly task: TaskCommand;
}

/**
 * Signals: `inbox` (a message was queued), `task` (a new task), `timers` (the timer set changed),
 * `lifecycle`, `step`. While a transaction is open they are held (HeldSignals), and told once it has
 * committed: a listener never runs a task, or shows a step, that a rollback undid.
 */
export class EmbeddedQueues extends EventEmitter implements Dispatcher, HeldSignals {
  private readonly statements;
  private held?: [string | symbol, unknown[]][];
  /**
   * False once a look found the inbox empty, until this connection queues a message or `recheck`
   * is called (a transaction begins, or one was undone): the writer asks several times a step,
   * and an answer known needs no query.
   */
  private inboxMayHold = true;

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {
    super();
    this.statements = {
      enqueue: db.prepare("INSERT INTO inbox (instance, message) VALUES (?, ?)"),
      next: db.prepare<[], { id: number; instance: string; message: string }>(
        "SELECT * FROM inbox ORDER BY id LIMIT 1",
      ),
      ack: db.prepare("DELETE FROM inbox WHERE id = ?"),
      // Whether any message waits, not how many: COUNT(*) would read the whole inbox on every check.
      queued: db.prepare<[], { n: number }>("SELECT EXISTS (SELECT 1 FROM inbox) AS n"),
      sendTask: db.prepare(
        "INSERT OR IGNORE INTO tasks (id, instance, participant, task, state, created_at) VALUES (?, ?, ?, ?, 'open', ?)",
      ),
      startTimer: db.prepare("INSERT OR IGNORE INTO timers (id, instance, node, due) VALUES (?, ?, ?, ?)"),
      cancelTimer: db.prepare("DELETE FROM timers WHERE id = ?"),
      nextDue: db.prepare<[], { due: number | null }>("SELECT MIN(due) AS due FROM timers"),
      dueTimers: db.prepare<[number], { id: string; instance: string; node: string }>(
        "SELECT id, instance, node FROM timers WHERE due <= ? ORDER BY due, id",
      ),
      openTasks: db.prepare<[], { id: string; participant: string; task: string }>(
        "SELECT id, participant, task FROM tasks WHERE state = 'open' ORDER BY created_at, rowid",
      ),
      claim: db.prepare<[string, number], { id: string; task: string }>(
        "SELECT id, task FROM tasks WHERE participant = ? AND state = 'open' AND leased_until <= ? ORDER BY created_at, rowid LIMIT 1",
      ),
      lease: db.prepare("UPDATE tasks SET leased_until = ? WHERE id = ?"),
      close: db.prepare("UPDATE tasks SET state = 'replied' WHERE id = ?"),
      state: db.prepare<[string], { state: string }>("SELECT state FROM tasks WHERE id = ?"),
      dead: db.prepare(
        "CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, instance TEXT, message TEXT NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL)",
      ),
    };
    this.statements.dead.run();
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (!this.held) return super.emit(event, ...args);
    this.held.push([event, args]);
    return this.listenerCount(event) > 0;
  }

  hold(): void {
    this.held = [];
  }

  get heldCount(): number {
    return this.held?.length ?? 0;
  }

  dropFrom(mark: number): void {
    this.held?.splice(mark);
  }

  /** Tells the held signals; a listener that throws keeps none of the others from hearing theirs. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    let failure: { error: unknown } | undefined;
    for (const [event, args] of held) {
      try {
        super.emit(event, ...args);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }

  async sendTask(task: TaskCommand): Promise<void> {
    const inserted = this.statements.sendTask.run(
      task.task.id,
      task.task.instance,
      task.task.participant,
      JSON.stringify(task),
      this.now(),
    );
    if (inserted.changes) this.emit("task", task);
  }

  async startTimer(timer: { timer: string; instance: string; node: string; due: number }): Promise<void> {
    this.statements.startTimer.run(timer.timer, timer.instance, timer.node, timer.due);
    this.emit("timers");
  }

  async cancelTimer(timer: string): Promise<void> {
    this.statements.cancelTimer.run(timer);
    this.emit("timers");
  }

  async enqueue(instance: string, message: Message): Promise<void> {
    this.statements.enqueue.run(instance, JSON.stringify(message));
    this.inboxMayHold = true;
    this.emit("inbox");
  }

  async publish(event: string, detail: JsonObject): Promise<void> {
    this.emit("lifecycle", event, detail);
  }

  /** Looks at the inbox again: another connection may have written it, or a rollback brought a message back. */
  recheck(): void {
    this.inboxMayHold = true;
  }

  /** The oldest queued message, left in the inbox until `ack`. */
  peek(): InboxItem | undefined {
    if (!this.inboxMayHold) return undefined;
    const row = this.statements.next.get();
    if (!row) this.inboxMayHold = false;
    return row
      ? { id: row.id, instance: row.instance, message: JSON.parse(row.message) as Message }
      : undefined;
  }

  ack(id: number): void {
    this.statements.ack.run(id);
  }

  /** Moves a message that cannot be applied out of the inbox, keeping it and the reason. */
  deadLetter(item: { id: number; instance: string; message: unknown }, reason: string): void {
    this.db.transaction(() => {
      this.db
        .prepare("INSERT INTO dead_letters (instance, message, reason, at) VALUES (?, ?, ?, ?)")
        .run(item.instance, JSON.stringify(item.message), reason, this.now());
      this.statements.ack.run(item.id);
    })();
  }

  /** Why the last message set aside for `instance` was (the code and message of its error), if one was. */
  deadLetterReason(instance: string): string | undefined {
    return this.db
      .prepare<[string], { reason: string }>(
        "SELECT reason FROM dead_letters WHERE instance = ? ORDER BY id DESC LIMIT 1",
      )
      .get(instance)?.reason;
  }

  /** Whether a message waits in the inbox. */
  get queued(): boolean {
    if (!this.inboxMayHold) return false;
    const queued = this.statements.queued.get()?.n === 1;
    if (!queued) this.inboxMayHold = false;
    return queued;
  }

  nextDue(): number | undefined {
    return this.statements.nextDue.get()?.due ?? undefined;
  }

  /** Moves every timer due by `now` into the inbox as timer messages, atomically. */
  fireDue(now: number): number {
    return this.db.transaction(() => {
      const due = this.statements.dueTimers.all(now);
      for (const timer of due) {
        this.statements.enqueue.run(
          timer.instance,
          JSON.stringify({ type: "timer", node: timer.node, timer: timer.id }),
        );
        this.inboxMayHold = true;
        this.statements.cancelTimer.run(timer.id);
      }
      return due.length;
    })();
  }

  openTasks(): OpenTask[] {
    return this.statements.openTasks.all().map((row) => ({
      id: row.id,
      participant: row.participant,
      task: JSON.parse(row.task) as TaskCommand,
    }));
  }

  /** Leases the oldest open task of a participant for `leaseMs` (an external worker's long-poll). */
  claim(participant: string, leaseMs: number): TaskCommand | undefined {
    return this.db.transaction(() => {
      const now = this.now();
      const row = this.statements.claim.get(participant, now);
      if (!row) return undefined;
      this.statements.lease.run(now + leaseMs, row.id);
      return JSON.parse(row.task) as TaskCommand;
    })();
  }

  /** Leases an open task until `leaseMs` from now (0: free for the next claim); the lease's end. */
  extendLease(id: string, leaseMs: number): number {
    const until = this.now() + leaseMs;
    this.statements.lease.run(until, id);
    return until;
  }

  /** Whether a task was sent ("open") and answered ("replied"); undefined when there is no such task. */
  taskState(id: string): "open" | "replied" | undefined {
    return this.statements.state.get(id)?.state as "open" | "replied" | undefined;
  }

  /** Marks a task answered, so it is not run again after a restart. */
  closeTask(id: string): void {
    this.statements.close.run(id);
  }
}

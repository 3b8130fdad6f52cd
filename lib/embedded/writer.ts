/**
 * The embedded engine's one writer. Every change to the database runs in this loop's
 * transactions: the outside writes (a launch, a reply, an event, an operator command, a
 * definition, timers coming due) and the application of each queued message. A transaction takes
 * whatever is waiting, writes and messages from the inbox's head in turn, up to a bound in number
 * and time, and commits them together: group commit. A step is as durable as before (no caller
 * hears its write was taken before the commit that holds it), but under load a commit, the larger
 * part of a step's cost, is shared by many steps, and a reply is applied in the commit that takes it.
 *
 * Each write and each message runs in a savepoint of its own: one that fails is undone alone. A
 * failed write is refused to its caller, or, when it has another way (a reply that could not be
 * applied is queued), that runs in the same savepoint; a failed message is set aside or left to be
 * retried (the engine decides which), and no message is applied until the retry is due, while
 * writes go on.
 * What the steps tell listeners (a task to run, a step for the console) is held until the commit,
 * and dropped with a step undone: nothing runs a task that was never stored.
 */
import { InfrastructureError } from "../errors.js";
import type { Db } from "./database.js";
import type { InboxItem } from "./queues.js";

/** At most this many writes and messages a commit, and this long a transaction (ms): a caller waits little for its commit. */
const BATCH_STEPS = 64;
const BATCH_MS = 10;
/** How long queued messages wait after a commit failed, before they are tried again. */
const COMMIT_RETRY_MS = 1000;

/** Signals held while a transaction is open: released when it commits, dropped with what is undone. */
export interface HeldSignals {
  hold(): void;
  /** How many are held: a mark to drop back to. */
  readonly heldCount: number;
  dropFrom(mark: number): void;
  release(): void;
}

export interface WriterDeps {
  readonly db: Db;
  readonly signals: HeldSignals;
  /** The oldest queued message, left queued. */
  readonly peek: () => InboxItem | undefined;
  /** Applies a queued message and takes it out of the inbox, inside the open transaction. */
  readonly apply: (item: InboxItem) => Promise<void>;
  /**
   * A message failed and was undone: sets it aside, or leaves it to be retried; returns how long to
   * wait before applying messages again (ms, 0 for not at all). Runs inside the transaction.
   */
  readonly failed: (item: InboxItem, error: unknown) => number;
  /** A message was committed: the retry backoff starts over. */
  readonly committed: () => void;
  /** Forgets what is cached from the database: after a rollback it may not be what is stored. */
  readonly forget: () => void;
  /**
   * Before each transaction: a promise to wait on first, when something else needs the database
   * with no write open (the checkpoint worker starting the log over), else undefined.
   */
  readonly gap?: () => Promise<unknown> | undefined;
  /** A transaction has begun (what was known of the inbox before it may have changed). */
  readonly began?: () => void;
  /** The loop has nothing left to do. */
  readonly idle: () => void;
  readonly log: (line: string) => void;
}

interface Write {
  readonly run: () => Promise<unknown>;
  /** Run in its stead when `run` fails (with its error), once what `run` wrote is undone (in the same savepoint). */
  readonly otherwise?: (error: unknown) => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** Undoes a step; `keep` leaves its savepoint open (throws when SQLite ended the transaction itself). */
type Undo = (options?: { keep?: boolean }) => void;

/** A write run in the open transaction, with what it returned (told its caller at the commit). */
interface Held {
  readonly write: Write;
  readonly value: unknown;
}

export class Writer {
  private readonly writes: Write[] = [];
  private running?: Promise<void>;
  /** Set by start() while the loop runs writes only, and by a retry come due: it goes round once more. */
  private restart = false;
  /** When queued messages may be applied again after one failed (performance.now()); writes go on meanwhile. */
  private retryAt = 0;
  private retryTimer?: NodeJS.Timeout;
  /** Whether queued messages are applied: not until the engine has resumed (writes are, from the start). */
  private applying = false;
  private closed = false;

  constructor(private readonly deps: WriterDeps) {}

  /**
   * Runs `run` in a transaction; resolves with its value once that transaction has committed.
   * When `run` fails and `otherwise` is given, what `run` wrote is undone and `otherwise` runs
   * instead, told the error (a reply that cannot be applied is queued); the write fails when that
   * throws.
   */
  write<T>(run: () => Promise<T>, otherwise?: (error: unknown) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new InfrastructureError("the embedded engine is closed"));
    return new Promise<T>((resolve, reject) => {
      this.writes.push({ run, otherwise, resolve: resolve as (value: unknown) => void, reject });
      this.kick();
    });
  }

  /** Starts applying queued messages (the engine has resumed), or applies the ones just queued. */
  start(): void {
    this.applying = true;
    this.restart = this.running !== undefined;
    this.kick();
  }

  /** Whether queued messages are applied now (the engine has resumed, and no retry is waited for). */
  get applyingMessages(): boolean {
    return this.messagesDue();
  }

  get busy(): boolean {
    return this.running !== undefined || this.writes.length > 0;
  }

  kick(): void {
    if (this.closed) return;
    // A running loop looks at the writes and the inbox before it stops (every message is queued by
    // a write or a message it applies), so a kick then has nothing to add.
    if (this.running) return;
    // Started on the event loop's next turn: the writes of every request and reply that arrived in
    // this turn are then waiting, to share one commit; and `running` is set before the loop runs
    // anything, so a write queued from inside the loop (a task's listener replying) finds it running.
    this.restart = false;
    this.running = new Promise((resolve) => setImmediate(resolve))
      .then(() => this.loop())
      .catch((error) => {
        // Never expected (each step's failure is handled in it): logged, and tried again later.
        this.deps.log(`the writer stopped on ${error instanceof Error ? error.message : String(error)}`);
        this.retryLater(COMMIT_RETRY_MS);
      })
      .finally(() => {
        this.running = undefined;
        if ((this.writes.length || this.restart) && !this.closed) this.kick();
        else this.deps.idle();
      });
  }

  /** Stops after the transaction under way; writes still waiting are refused. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.running;
    for (const write of this.writes.splice(0))
      write.reject(new InfrastructureError("the embedded engine closed before the write was committed"));
  }

  private messagesDue(): boolean {
    return this.applying && performance.now() >= this.retryAt;
  }

  private async loop(): Promise<void> {
    while (!this.closed && (await this.transaction()));
    if (this.closed || !this.applying || this.retryAt === 0) return;
    const wait = this.retryAt - performance.now();
    if (wait > 0) this.retryLater(wait);
    else {
      // The retry came due while the last transaction ran: once more round, to apply it.
      this.retryAt = 0;
      this.restart = true;
    }
  }

  private retryLater(ms: number): void {
    this.retryAt = performance.now() + ms;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.kick(), ms);
  }

  /**
   * One transaction: waiting writes and queued messages in turn, committed together. Returns
   * whether it took anything (a write, or a message applied or set aside), so the loop goes on.
   */
  private async transaction(): Promise<boolean> {
    // Nothing waiting: no transaction (an empty commit still costs one).
    if (!this.writes.length && !(this.messagesDue() && this.deps.peek())) return false;
    const gap = this.deps.gap?.();
    if (gap) {
      await gap;
      if (this.closed) return false;
    }
    const held: Held[] = [];
    if (!this.begin()) return false;
    const { signals, db } = this.deps;
    signals.hold();
    let applied = 0;
    let steps = 0;
    try {
      const started = performance.now();
      for (; steps < BATCH_STEPS && performance.now() - started < BATCH_MS; steps++) {
        const item = this.messagesDue() ? this.deps.peek() : undefined;
        const write = this.writes.shift();
        if (!item && !write) break;
        if (item) applied += await this.applyOne(item);
        if (write) await this.runOne(write, held);
      }
      db.exec("COMMIT");
    } catch (error) {
      // The commit itself failed (a full disk): nothing of the transaction is taken.
      if (db.inTransaction) db.exec("ROLLBACK");
      this.deps.forget();
      signals.dropFrom(0);
      signals.release();
      for (const { write } of held) write.reject(error);
      this.retryLater(COMMIT_RETRY_MS);
      return false;
    }
    if (applied) this.deps.committed();
    for (const { write, value } of held) write.resolve(value);
    try {
      signals.release();
    } catch (error) {
      // A listener's failure is its own: what it was told of is committed all the same.
      this.deps.log(`a listener failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    return steps > 0;
  }

  /**
   * Opens the transaction. When the database stays locked (another process writing to the file
   * for longer than its busy timeout), the waiting writes are refused with the reason, as a write
   * of their own would be, and messages wait a while: nothing blocks for good.
   */
  private begin(): boolean {
    try {
      this.deps.db.exec("BEGIN IMMEDIATE");
      this.deps.began?.();
      return true;
    } catch (error) {
      for (const write of this.writes.splice(0)) write.reject(error);
      this.retryLater(COMMIT_RETRY_MS);
      return false;
    }
  }

  /** Runs a write in a savepoint; when it fails, undoes it alone and refuses it. */
  private async runOne(write: Write, held: Held[]): Promise<void> {
    const undo = this.savepoint();
    try {
      const value = await this.runOrOtherwise(write, undo);
      this.deps.db.exec("RELEASE step");
      held.push({ write, value });
    } catch (error) {
      try {
        undo();
      } finally {
        write.reject(error);
      }
    }
  }

  /**
   * A write's `run`, or, when it fails, its `otherwise` in the same savepoint once `run` is undone:
   * no savepoint of its own for what is tried first (a statement pair a reply, 3% of a step).
   */
  private async runOrOtherwise(write: Write, undo: Undo): Promise<unknown> {
    if (!write.otherwise) return write.run();
    try {
      return await write.run();
    } catch (error) {
      undo({ keep: true });
      return write.otherwise(error);
    }
  }

  /** Applies a message in a savepoint (1); when it fails, undoes it alone and hands it to `failed` (0). */
  private async applyOne(item: InboxItem): Promise<number> {
    const undo = this.savepoint();
    try {
      await this.deps.apply(item);
      this.deps.db.exec("RELEASE step");
      return 1;
    } catch (error) {
      undo();
      const wait = this.deps.failed(item, error);
      if (wait > 0) this.retryLater(wait);
      return 0;
    }
  }

  /**
   * Opens a savepoint for one step; returns what undoes the step (its rows, cache and signals),
   * leaving the savepoint open when asked to `keep` it for what runs next.
   */
  private savepoint(): Undo {
    const { db, signals } = this.deps;
    const mark = signals.heldCount;
    db.exec("SAVEPOINT step");
    return ({ keep = false } = {}) => {
      // SQLite rolls a whole transaction back by itself after some failures (a full disk): then
      // there is no savepoint to go back to, and nothing of the transaction stands, so it ends.
      const standing = db.inTransaction;
      if (standing) {
        db.exec("ROLLBACK TO step");
        if (!keep) db.exec("RELEASE step");
      }
      signals.dropFrom(mark);
      this.deps.forget();
      if (!standing) throw new InfrastructureError("SQLite rolled the transaction back");
    };
  }
}

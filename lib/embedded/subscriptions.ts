/** Await subscriptions on (event, key) and the event buffer, on SQLite. */
import type { ExternalEvent, Subscription, SubscriptionIndex, SubscriptionPage } from "../ports.js";
import type { Db } from "./database.js";

interface EventRow {
  id: string;
  name: string;
  key: string | null;
  data: string;
  at: number;
}

interface SubscriptionRow {
  id: string;
  instance: string;
  node: string;
  event: string;
  key: string | null;
}

const toEvent = (row: EventRow): ExternalEvent => ({
  id: row.id,
  name: row.name,
  ...(row.key === null ? {} : { key: row.key }),
  data: JSON.parse(row.data),
  at: row.at,
});

const toSubscription = (row: SubscriptionRow): Subscription => ({
  subscription: row.id,
  instance: row.instance,
  node: row.node,
  event: row.event,
  ...(row.key === null ? {} : { key: row.key }),
});

/** Buffered events older than the window dropped per event recorded: more than one, so the buffer shrinks under any load. */
export const PRUNE_BATCH = 8;

/**
 * Every lookup here is one index range whatever the number of subscriptions and buffered events: a
 * keyed event reads its key's subscriptions and the unkeyed ones as two ranges of
 * subscriptions_by_event (merged by rowid, the order of subscribing), never `key IS NULL OR key =
 * ?`, which SQLite answers by reading every subscription of the name.
 */
export class SqliteSubscriptionIndex implements SubscriptionIndex {
  private readonly statements;

  constructor(db: Db) {
    this.statements = {
      subscribe: db.prepare(
        "INSERT OR IGNORE INTO subscriptions (id, instance, node, event, key) VALUES (?, ?, ?, ?, ?)",
      ),
      bufferedWithKey: db.prepare<[string, string, number], EventRow>(
        "SELECT * FROM events WHERE name = ? AND key = ? AND at > ? ORDER BY at, id",
      ),
      // An unkeyed await takes every event of the name, keyed or not.
      bufferedAnyKey: db.prepare<[string, number], EventRow>(
        "SELECT * FROM events WHERE name = ? AND at > ? ORDER BY at, id",
      ),
      unsubscribe: db.prepare("DELETE FROM subscriptions WHERE id = ?"),
      unsubscribeInstance: db.prepare("DELETE FROM subscriptions WHERE instance = ?"),
      // A few of the first recorded at a time, those of them out of the window: no scan of the
      // buffer, no index of its own, and no pause when a burst of events leaves the window
      // together. Events are recorded in time order (the writer's clock, one at a time) but after
      // the clock is set back, when those recorded before wait longer to go: the buffer then holds
      // the window and the step back. Reads take only those within the window, so nothing else
      // changes.
      prune: db.prepare(
        `DELETE FROM events WHERE rowid IN (SELECT rowid FROM events ORDER BY rowid LIMIT ${PRUNE_BATCH}) AND at <= ?`,
      ),
      record: db.prepare("INSERT OR IGNORE INTO events (id, name, key, data, at) VALUES (?, ?, ?, ?, ?)"),
      withKey: db.prepare<[string, string], SubscriptionRow & { rowid: number }>(
        "SELECT rowid, * FROM subscriptions WHERE event = ? AND key = ? ORDER BY rowid",
      ),
      withoutKey: db.prepare<[string], SubscriptionRow & { rowid: number }>(
        "SELECT rowid, * FROM subscriptions WHERE event = ? AND key IS NULL ORDER BY rowid",
      ),
    };
  }

  async subscribe(subscription: Subscription, since: number): Promise<ExternalEvent[]> {
    const key = subscription.key ?? null;
    this.statements.subscribe.run(
      subscription.subscription,
      subscription.instance,
      subscription.node,
      subscription.event,
      key,
    );
    const rows =
      key === null
        ? this.statements.bufferedAnyKey.all(subscription.event, since)
        : this.statements.bufferedWithKey.all(subscription.event, key, since);
    return rows.map(toEvent);
  }

  async unsubscribe(subscription: string): Promise<void> {
    this.statements.unsubscribe.run(subscription);
  }

  async unsubscribeInstance(instance: string): Promise<void> {
    this.statements.unsubscribeInstance.run(instance);
  }

  async record(event: ExternalEvent, since: number): Promise<void> {
    this.statements.prune.run(since);
    this.statements.record.run(event.id, event.name, event.key ?? null, JSON.stringify(event.data), event.at);
  }

  /** Every match in one page, in the order the awaits subscribed: the embedded engine has no invocation to outlast. */
  async matching(event: ExternalEvent): Promise<SubscriptionPage> {
    const unkeyed = this.statements.withoutKey.all(event.name);
    const rows =
      event.key === undefined
        ? unkeyed
        : byRowid(this.statements.withKey.all(event.name, event.key), unkeyed);
    return { subscriptions: rows.map(toSubscription) };
  }
}

/** Merges two lists each in rowid order into one. */
function byRowid<T extends { rowid: number }>(a: readonly T[], b: readonly T[]): T[] {
  if (!a.length || !b.length) return a.length ? [...a] : [...b];
  const merged: T[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length)
    merged.push((a[i] as T).rowid < (b[j] as T).rowid ? (a[i++] as T) : (b[j++] as T));
  while (i < a.length) merged.push(a[i++] as T);
  while (j < b.length) merged.push(b[j++] as T);
  return merged;
}

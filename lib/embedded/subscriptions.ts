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

export class SqliteSubscriptionIndex implements SubscriptionIndex {
  private readonly statements;

  constructor(db: Db) {
    this.statements = {
      subscribe: db.prepare(
        "INSERT OR IGNORE INTO subscriptions (id, instance, node, event, key) VALUES (?, ?, ?, ?, ?)",
      ),
      buffered: db.prepare<{ name: string; since: number; key: string | null }, EventRow>(
        "SELECT * FROM events WHERE name = @name AND at > @since AND (@key IS NULL OR key = @key) ORDER BY at, id",
      ),
      unsubscribe: db.prepare("DELETE FROM subscriptions WHERE id = ?"),
      unsubscribeInstance: db.prepare("DELETE FROM subscriptions WHERE instance = ?"),
      prune: db.prepare("DELETE FROM events WHERE at <= ?"),
      record: db.prepare("INSERT OR IGNORE INTO events (id, name, key, data, at) VALUES (?, ?, ?, ?, ?)"),
      matching: db.prepare<[string, string | null], SubscriptionRow>(
        "SELECT * FROM subscriptions WHERE event = ? AND (key IS NULL OR key = ?) ORDER BY rowid",
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
    return this.statements.buffered.all({ name: subscription.event, since, key }).map(toEvent);
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

  /** Every match in one page: the embedded engine has no invocation to outlast. */
  async matching(event: ExternalEvent): Promise<SubscriptionPage> {
    return { subscriptions: this.statements.matching.all(event.name, event.key ?? null).map(toSubscription) };
  }
}

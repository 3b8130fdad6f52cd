/**
 * The ports in memory: an instance store, a dispatcher whose inbox, timers and task log are arrays
 * and maps, the subscription index with its event buffer, a definition store and a virtual clock.
 * They hold no loop of their own: MemoryHost (memory-host.ts) drives the production Runtime over
 * them, so scenarios, property tests and anything else run in memory prove the same advance loop
 * that runs on SQLite and on AWS.
 */

import type { Command, InstanceStatus, Message, TaskCommand } from "../engine/types.js";
import { ConflictError } from "../errors.js";
import type { Definition, Json, JsonObject } from "../language/model.js";
import {
  type Clock,
  checkStateSize,
  type DefinitionStore,
  type Dispatcher,
  type ExternalEvent,
  type HistoryPage,
  type HistoryRecord,
  type InstanceCount,
  type InstanceFilter,
  type InstanceStore,
  type InstanceSummary,
  listCursor,
  type Registration,
  type StoredInstance,
  type Subscription,
  type SubscriptionIndex,
  type SubscriptionPage,
} from "../ports.js";
import { readRegistration } from "./registration.js";
import { onlyMatch } from "./versions.js";

/** A clock that moves only when told to. */
export class VirtualClock implements Clock {
  constructor(public current = 0) {}
  now(): number {
    return this.current;
  }
}

export class MemoryStore implements InstanceStore {
  private readonly instances = new Map<string, StoredInstance>();
  private readonly records = new Map<string, HistoryRecord[]>();

  async load(id: string): Promise<StoredInstance | undefined> {
    return this.instances.get(id);
  }

  async save(
    next: Omit<StoredInstance, "version">,
    record: HistoryRecord,
    expected: number | undefined,
  ): Promise<number> {
    const id = next.snapshot.id;
    // The hosts' limit: a scenario (docket test) must fail where they would set the message aside.
    checkStateSize(id, JSON.stringify(next.snapshot));
    const current = this.instances.get(id)?.version;
    if (current !== expected)
      throw new ConflictError(`instance ${id} is at version ${current ?? "none"}, not ${expected ?? "none"}`);
    const version = (expected ?? 0) + 1;
    this.instances.set(id, { ...next, version });
    this.append(id, record);
    return version;
  }

  async note(id: string, record: HistoryRecord, _version: number): Promise<void> {
    this.append(id, record);
  }

  async markSent(id: string, version: number): Promise<void> {
    const stored = this.instances.get(id);
    if (stored?.version === version) this.instances.set(id, { ...stored, outbox: [] });
  }

  async history(id: string, page: { after?: number; limit?: number } = {}): Promise<HistoryPage> {
    const all = this.records.get(id) ?? [];
    const after = page.after ?? 0;
    const limit = page.limit ?? 100;
    const records = all.slice(after, after + limit).map((record, i) => ({ ...record, seq: after + i + 1 }));
    return after + limit < all.length ? { records, next: after + limit } : { records };
  }

  async recentHistory(id: string, limit: number): Promise<HistoryRecord[]> {
    return (this.records.get(id) ?? []).slice(-limit).reverse();
  }

  async list(filter: InstanceFilter = {}): Promise<InstanceSummary[]> {
    const summaries = [...this.instances.values()]
      .map(({ snapshot: s }) => ({
        id: s.id,
        process: s.process,
        status: s.status,
        createdAt: s.createdAt,
        updatedAt: s.updatedAt,
      }))
      .filter((s) => filter.status === undefined || s.status === filter.status)
      .filter((s) => filter.process === undefined || s.process === filter.process)
      .filter((s) => filter.after === undefined || listCursor(s) < filter.after)
      .sort((a, b) => (listCursor(a) < listCursor(b) ? 1 : -1));
    return summaries.slice(0, filter.limit ?? 100);
  }

  async count(filter: { status: InstanceStatus; process?: string }, cap: number): Promise<InstanceCount> {
    const count = (await this.list({ ...filter, limit: cap })).length;
    return { count, more: count >= cap };
  }

  async remove(id: string): Promise<boolean> {
    this.records.delete(id);
    return this.instances.delete(id);
  }

  /** An instance as stored now (what `load` gives, without waiting). */
  stored(id: string): StoredInstance | undefined {
    return this.instances.get(id);
  }

  /** Every instance stored, in the order they were first saved. */
  all(): StoredInstance[] {
    return [...this.instances.values()];
  }

  /** Every history record of an instance, oldest first. */
  recordsOf(id: string): readonly HistoryRecord[] {
    return this.records.get(id) ?? [];
  }

  private append(id: string, record: HistoryRecord): void {
    const records = this.records.get(id) ?? [];
    records.push(record);
    this.records.set(id, records);
  }
}

export interface Timer {
  readonly timer: string;
  readonly instance: string;
  readonly node: string;
  readonly due: number;
}

export interface InboxEntry {
  readonly instance: string;
  readonly message: Message;
  /** Like an SQS message id: each enqueue is a delivery of its own. */
  readonly delivery: string;
}

export class MemoryDispatcher implements Dispatcher {
  readonly inbox: InboxEntry[] = [];
  readonly timers = new Map<string, Timer>();
  /** Every task sent, in order; a task sent again (a resent outbox) is counted apart. */
  readonly dispatched: TaskCommand[] = [];
  readonly duplicateDispatches: TaskCommand[] = [];
  readonly published: { event: string; detail: Json; at: number }[] = [];
  private readonly sentTaskIds = new Set<string>();
  private deliveries = 0;

  constructor(private readonly clock: Clock) {}

  async sendTask(command: TaskCommand): Promise<void> {
    if (this.sentTaskIds.has(command.task.id)) this.duplicateDispatches.push(command);
    else {
      this.sentTaskIds.add(command.task.id);
      this.dispatched.push(command);
    }
  }

  async check(_commands: readonly Command[]): Promise<void> {}

  async startTimer(timer: Timer): Promise<void> {
    if (!this.timers.has(timer.timer)) this.timers.set(timer.timer, timer);
  }

  async cancelTimer(timer: string): Promise<void> {
    this.timers.delete(timer);
  }

  async enqueue(instance: string, message: Message): Promise<void> {
    this.deliveries += 1;
    this.inbox.push({ instance, message, delivery: `d${this.deliveries}` });
  }

  async publish(event: string, detail: JsonObject): Promise<void> {
    this.published.push({ event, detail, at: this.clock.now() });
  }

  /** The timer due first at or before `until`, if any. */
  nextTimer(until: number): Timer | undefined {
    let next: Timer | undefined;
    for (const timer of this.timers.values())
      if (timer.due <= until && (!next || timer.due < next.due)) next = timer;
    return next;
  }
}

function matches(subscription: Subscription, event: ExternalEvent): boolean {
  return (
    event.name === subscription.event && (subscription.key === undefined || event.key === subscription.key)
  );
}

export class MemorySubscriptions implements SubscriptionIndex {
  readonly active = new Map<string, Subscription>();
  private buffer: ExternalEvent[] = [];

  async subscribe(subscription: Subscription, since: number): Promise<ExternalEvent[]> {
    this.active.set(subscription.subscription, subscription);
    return this.buffer.filter((event) => event.at > since && matches(subscription, event));
  }

  async unsubscribe(subscription: string): Promise<void> {
    this.active.delete(subscription);
  }

  async unsubscribeInstance(instance: string): Promise<void> {
    for (const [id, subscription] of this.active)
      if (subscription.instance === instance) this.active.delete(id);
  }

  async record(event: ExternalEvent, since: number): Promise<void> {
    this.buffer = this.buffer.filter((buffered) => buffered.at > since);
    this.buffer.push(event);
  }

  /** Every match in one page: memory has no invocation to outlast. */
  async matching(event: ExternalEvent): Promise<SubscriptionPage> {
    return {
      subscriptions: [...this.active.values()].filter((subscription) => matches(subscription, event)),
    };
  }
}

/**
 * Definitions held in memory: added as read (a scenario's definitions, by every name a `call` may
 * use) or registered from source like the other hosts' stores.
 */
export class MemoryDefinitions implements DefinitionStore {
  private readonly byName = new Map<string, string>();
  private readonly byHashes = new Map<string, Definition>();
  /** Every version each name was given, as the hosts keep a process's versions. */
  private readonly versions = new Map<string, Set<string>>();

  /** Adds a definition read elsewhere, known by each of `names`; returns its version. */
  add(definition: Definition, names: readonly string[] = [definition.name]): string {
    const hash = `m${this.byHashes.size + 1}`;
    for (const name of names) this.keep(hash, definition, name);
    return hash;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  async register(key: string, source: string): Promise<Registration> {
    const registration = await readRegistration(key, source);
    if (registration.ok) this.keep(registration.hash, registration.definition, registration.name);
    return registration;
  }

  async registerInline(source: string): Promise<Registration> {
    const registration = await readRegistration("subprocess.xml", source);
    if (registration.ok) this.byHashes.set(registration.hash, registration.definition);
    return registration;
  }

  async resolve(
    name: string,
    version?: string,
  ): Promise<{ hash: string; definition: Definition } | undefined> {
    const hash =
      version === undefined || version === "latest" ? this.byName.get(name) : this.versionOf(name, version);
    const definition = hash === undefined ? undefined : this.byHashes.get(hash);
    return hash === undefined || definition === undefined ? undefined : { hash, definition };
  }

  async byHash(hash: string): Promise<Definition | undefined> {
    return this.byHashes.get(hash);
  }

  /** A version of `name` named by its hash or by a prefix only one of its hashes has (AmbiguousVersion for more). */
  private versionOf(name: string, version: string): string | undefined {
    const hashes = [...(this.versions.get(name) ?? [])];
    return onlyMatch(
      name,
      version,
      hashes.filter((hash) => hash.startsWith(version)),
    );
  }

  private keep(hash: string, definition: Definition, name: string): void {
    this.byHashes.set(hash, definition);
    this.byName.set(name, hash);
    this.versions.set(name, (this.versions.get(name) ?? new Set()).add(hash));
  }
}

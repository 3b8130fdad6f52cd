/**
 * The production advance loop (Runtime) over the in-memory ports, on a virtual clock: what the
 * scenario runner and the property tests drive. It adds only what a host adds — delivering the
 * inbox in order, firing due timers, setting aside a message that cannot be applied — and performs
 * no I/O.
 */

import { nodeState, type Snapshot, type TaskCommand } from "../engine/types.js";
import { DocketError, EngineError, InfrastructureError } from "../errors.js";
import type { Json, JsonObject } from "../language/model.js";
import type { HistoryRecord } from "../ports.js";
import {
  type InboxEntry,
  MemoryDefinitions,
  MemoryDispatcher,
  MemoryStore,
  MemorySubscriptions,
  type Timer,
  VirtualClock,
} from "./memory.js";
import { Runtime } from "./runtime.js";

/** How often a message failed by the machinery is redelivered before the drain gives up. */
export const MAX_REDELIVERIES = 10;

export interface MemoryHostOptions {
  /** Start of the virtual clock, epoch ms. Default 0. */
  readonly now?: number;
  readonly definitions?: MemoryDefinitions;
  /** How long published events are kept for awaits that subscribe later. Default one hour. */
  readonly eventBufferMs?: number;
  /** Messages applied in one drain before it gives up (a runaway loop of messages). Default 100,000. */
  readonly maxMessages?: number;
}

/** A message the loop refused (a DocketError out of Runtime.apply): what a host dead-letters. */
export interface SetAside extends InboxEntry {
  readonly reason: string;
}

export class MemoryHost {
  readonly clock: VirtualClock;
  readonly store = new MemoryStore();
  readonly dispatcher: MemoryDispatcher;
  readonly subscriptions = new MemorySubscriptions();
  readonly definitions: MemoryDefinitions;
  readonly runtime: Runtime;
  readonly setAside: SetAside[] = [];
  private ids = 0;

  constructor(private readonly options: MemoryHostOptions = {}) {
    this.clock = new VirtualClock(options.now ?? 0);
    this.dispatcher = new MemoryDispatcher(this.clock);
    this.definitions = options.definitions ?? new MemoryDefinitions();
    this.runtime = new Runtime({
      store: this.store,
      dispatcher: this.dispatcher,
      subscriptions: this.subscriptions,
      definitions: this.definitions,
      clock: this.clock,
      newId: () => `m-${++this.ids}`,
      ...(options.eventBufferMs === undefined ? {} : { eventBufferMs: options.eventBufferMs }),
    });
  }

  get now(): number {
    return this.clock.now();
  }

  /** Launches an instance of a registered process and applies what follows. */
  async launch(
    process: string,
    request: { id?: string; fields?: JsonObject; version?: string } = {},
  ): Promise<string> {
    const id = await this.runtime.launch({ process, ...request });
    await this.drain();
    return id;
  }

  /** Delivers a message to an instance's inbox and applies what follows. */
  async send(instance: string, message: Parameters<MemoryDispatcher["enqueue"]>[1]): Promise<void> {
    await this.dispatcher.enqueue(instance, message);
    await this.drain();
  }

  /** Publishes an event (buffered for awaits that subscribe later) and applies what follows. */
  async publish(name: string, key?: string, data: Json = null): Promise<string> {
    const id = await this.runtime.publish({ name, ...(key === undefined ? {} : { key }), data });
    await this.drain();
    return id;
  }

  /** Applies inbox messages in order until none is left. */
  async drain(): Promise<void> {
    const limit = this.options.maxMessages ?? 100_000;
    for (let applied = 0; this.dispatcher.inbox.length; applied++) {
      if (applied >= limit)
        throw new EngineError("MessageLimit", `more than ${limit} messages without rest: a loop of messages`);
      await this.deliver(this.dispatcher.inbox.shift() as InboxEntry);
    }
  }

  /**
   * Applies one inbox entry as a host does: a message the loop refuses is set aside and the rest go
   * on; a failure of the machinery (an InfrastructureError, such as a send that failed after the
   * save) leaves the message first in the inbox, redelivered as SQS would after its visibility
   * timeout, up to `MAX_REDELIVERIES` times in a row.
   */
  async deliver(entry: InboxEntry): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.runtime.apply(entry.instance, entry.message, entry.delivery);
        return;
      } catch (error) {
        if (!(error instanceof DocketError)) throw error;
        if (!(error instanceof InfrastructureError)) {
          this.setAside.push({ ...entry, reason: `${error.code}: ${error.message}` });
          return;
        }
        if (attempt >= MAX_REDELIVERIES) throw error;
      }
    }
  }

  /** Moves the virtual clock by `ms`, firing each due timer at its own time, in order. */
  async advance(ms: number): Promise<void> {
    const until = this.clock.now() + ms;
    for (let next = this.dispatcher.nextTimer(until); next; next = this.dispatcher.nextTimer(until)) {
      this.dispatcher.timers.delete(next.timer);
      this.clock.current = Math.max(this.clock.current, next.due);
      await this.send(next.instance, { type: "timer", node: next.node, timer: next.timer });
    }
    this.clock.current = until;
  }

  snapshot(id: string): Snapshot | undefined {
    return this.store.stored(id)?.snapshot;
  }

  /** Every instance's snapshot, in the order they started. */
  snapshots(): Snapshot[] {
    return this.store.all().map((stored) => stored.snapshot);
  }

  history(id: string): readonly HistoryRecord[] {
    return this.store.recordsOf(id);
  }

  get dispatched(): readonly TaskCommand[] {
    return this.dispatcher.dispatched;
  }

  get published(): MemoryDispatcher["published"] {
    return this.dispatcher.published;
  }

  /** Tasks still waiting for a reply, oldest first. */
  openTasks(): TaskCommand[] {
    return this.dispatcher.dispatched.filter((command) => {
      const snapshot = this.snapshot(command.task.instance);
      const state = snapshot && nodeState(snapshot, command.task.node);
      return state?.k === "action" && state.task === command.task.id && state.wait === "reply";
    });
  }

  pendingTimers(): readonly Timer[] {
    return [...this.dispatcher.timers.values()];
  }
}

/**
 * An in-memory runtime on a virtual clock: it applies messages through the pure interpreter and
 * carries out the commands (tasks, timers, subscriptions with the event buffer, subprocesses,
 * lifecycle events). Scenario tests, property tests and benchmarks run on it; it performs no I/O.
 */

import { CONSUMED_WINDOW_MS, transition } from "../engine/index.js";
import { type Command, type Message, nodeState, type Snapshot, type TaskCommand } from "../engine/types.js";
import { DocketError, EngineError } from "../errors.js";
import type { Definition, Json } from "../language/model.js";
import type { ExternalEvent, HistoryRecord } from "../ports.js";
import { eventMessage, MAX_CALL_DEPTH } from "./runtime.js";

/** An event as the buffer keeps it: the ports' ExternalEvent. */
export type BufferedEvent = ExternalEvent;

interface Timer {
  readonly timer: string;
  readonly instance: string;
  readonly node: string;
  readonly due: number;
}

interface Subscription {
  readonly subscription: string;
  readonly instance: string;
  readonly node: string;
  readonly event: string;
  readonly key?: string;
}

/** Resolves what a `call` names: a registered definition or XML held in the context. */
export type DefinitionResolver = (
  process: { name: string; version?: string } | { source: string },
) => Definition;

export interface MemoryRuntimeOptions {
  /** Definitions by process name, for launches and `call`s by name. */
  readonly resolve: DefinitionResolver;
  /** Start of the virtual clock, epoch ms. Default 0. */
  readonly now?: number;
  /** How long published events are kept for awaits that subscribe later. Default 1 hour. */
  readonly eventBufferMs?: number;
  /** Messages applied in one `drain` before it gives up (a runaway loop of messages). Default 100,000. */
  readonly maxMessages?: number;
}

export class MemoryRuntime {
  now: number;
  readonly instances = new Map<string, Snapshot>();
  readonly definitions = new Map<string, Definition>();
  readonly history = new Map<string, HistoryRecord[]>();
  /** Every task sent, in order; redelivered duplicates are counted, not resent. */
  readonly dispatched: TaskCommand[] = [];
  readonly duplicateDispatches: TaskCommand[] = [];
  readonly published: { event: string; detail: Json; at: number }[] = [];
  private readonly inbox: { instance: string; message: Message }[] = [];
  private readonly timers = new Map<string, Timer>();
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly buffer: BufferedEvent[] = [];
  private readonly sentTaskIds = new Set<string>();
  private eventSeq = 0;

  private get bufferMs(): number {
    return this.options.eventBufferMs ?? CONSUMED_WINDOW_MS;
  }

  constructor(private readonly options: MemoryRuntimeOptions) {
    this.now = options.now ?? 0;
  }

  launch(definition: Definition, instance: string, fields: Record<string, Json> = {}): void {
    this.definitions.set(instance, definition);
    this.send(instance, { type: "launch", instance, fields });
  }

  send(instance: string, message: Message): void {
    this.inbox.push({ instance, message });
    this.drain();
  }

  /** Applies queued messages until none is left. */
  drain(): void {
    const limit = this.options.maxMessages ?? 100_000;
    for (let applied = 0; this.inbox.length; applied++) {
      if (applied >= limit)
        throw new EngineError("MessageLimit", `more than ${limit} messages without rest: a loop of messages`);
      const { instance, message } = this.inbox.shift() as { instance: string; message: Message };
      this.apply(instance, message);
    }
  }

  private apply(instance: string, message: Message): void {
    const definition = this.definitions.get(instance);
    if (!definition) throw new EngineError("NoInstance", `no instance ${instance}`);
    const result = transition(definition, this.instances.get(instance), message, this.now);
    this.instances.set(instance, result.snapshot);
    const entries = this.history.get(instance) ?? [];
    entries.push({ at: this.now, message, commands: result.commands, notes: result.notes });
    this.history.set(instance, entries);
    for (const command of result.commands) this.carryOut(command);
  }

  private carryOut(command: Command): void {
    switch (command.type) {
      case "task":
        if (this.sentTaskIds.has(command.task.id)) this.duplicateDispatches.push(command);
        else {
          this.sentTaskIds.add(command.task.id);
          this.dispatched.push(command);
        }
        return;
      case "timer":
        this.timers.set(command.timer, command);
        return;
      case "cancel-timer":
        this.timers.delete(command.timer);
        return;
      case "subscribe":
        this.subscriptions.set(command.subscription, command);
        for (const event of this.buffer)
          if (event.at > this.now - this.bufferMs) this.deliver(command, event);
        return;
      case "unsubscribe":
        this.subscriptions.delete(command.subscription);
        return;
      case "start-child":
        this.startChild(command);
        return;
      case "cancel-child":
        if (this.definitions.has(command.child))
          this.inbox.push({ instance: command.child, message: { type: "operator", action: "cancel" } });
        return;
      case "notify-parent":
        this.inbox.push({ instance: command.message.instance, message: command.message });
        return;
      case "publish":
        this.published.push({ event: command.event, detail: command.detail, at: this.now });
        return;
      case "finish":
        for (const [id, subscription] of this.subscriptions)
          if (subscription.instance === command.instance) this.subscriptions.delete(id);
    }
  }

  private startChild(command: Extract<Command, { type: "start-child" }>): void {
    try {
      if (command.child.split("~").length - 1 > MAX_CALL_DEPTH)
        throw new EngineError(
          "CallDepth",
          `calls nest deeper than ${MAX_CALL_DEPTH} levels (does a process call itself without end?)`,
        );
      this.definitions.set(command.child, this.options.resolve(command.process));
    } catch (error) {
      if (!(error instanceof DocketError)) throw error;
      // A subprocess that cannot start faults the call, as a failed subprocess would.
      const { instance, node, child } = command.parent;
      const fault = { code: error.code, message: error.message };
      this.inbox.push({
        instance,
        message: { type: "child", instance, node, child, status: "faulted", fault },
      });
      return;
    }
    const { child, fields, parent } = command;
    this.inbox.push({ instance: child, message: { type: "launch", instance: child, fields, parent } });
  }

  private deliver(subscription: Subscription, event: BufferedEvent): void {
    if (event.name !== subscription.event) return;
    if (subscription.key !== undefined && event.key !== subscription.key) return;
    this.inbox.push({ instance: subscription.instance, message: eventMessage(subscription, event) });
  }

  /** Publishes an event: buffered for late subscribers, delivered to current ones. */
  publish(name: string, key: string | undefined, data: Json = null): BufferedEvent {
    this.eventSeq += 1;
    const event: BufferedEvent = {
      id: `event-${this.eventSeq}`,
      name,
      ...(key === undefined ? {} : { key }),
      data,
      at: this.now,
    };
    while (this.buffer.length && (this.buffer[0] as BufferedEvent).at <= this.now - this.bufferMs)
      this.buffer.shift();
    this.buffer.push(event);
    for (const subscription of [...this.subscriptions.values()]) this.deliver(subscription, event);
    this.drain();
    return event;
  }

  /** Moves the virtual clock, firing each due timer at its own time, in order. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const timer of this.timers.values())
        if (timer.due <= until && (!next || timer.due < next.due)) next = timer;
      if (!next) break;
      this.timers.delete(next.timer);
      this.now = Math.max(this.now, next.due);
      this.send(next.instance, { type: "timer", node: next.node, timer: next.timer });
    }
    this.now = until;
  }

  /** Tasks still waiting for a reply, oldest first. */
  openTasks(): TaskCommand[] {
    return this.dispatched.filter((command) => {
      const snapshot = this.instances.get(command.task.instance);
      const state = snapshot && nodeState(snapshot, command.task.node);
      return state?.k === "action" && state.task === command.task.id && state.wait === "reply";
    });
  }

  pendingTimers(): readonly Timer[] {
    return [...this.timers.values()];
  }
}

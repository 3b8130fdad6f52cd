/**
 * The advance loop, written once over the ports: load -> (send a leftover outbox) -> transition ->
 * save state and outbox in one atomic write -> send the outbox -> mark it sent. A crash between
 * any two calls loses nothing: the message is redelivered, finds the outbox and sends it again,
 * and the interpreter ignores what it already applied. Receivers deduplicate by task id.
 */

import { checkMessage, mayTake, transition } from "../engine/index.js";
import type {
  Command,
  ConsumedEvent,
  Message,
  ReplyMessage,
  TaskCommand,
  TransitionResult,
} from "../engine/types.js";
import { DocketError, EngineError, InfrastructureError, MessageError, type Problem } from "../errors.js";
import type { Json, JsonObject } from "../language/model.js";
import {
  bytesOver,
  type Clock,
  type DefinitionStore,
  type Dispatcher,
  type ExternalEvent,
  type InstanceStore,
  type RuntimeObserver,
  type SubscriptionIndex,
} from "../ports.js";
import { checkInstanceId } from "./ids.js";
import { migrationStep } from "./migration.js";
import { watchStep } from "./observe.js";
import { replyErrorProblems } from "./wire.js";

/** How deep `call`s may nest: a process that calls itself without end stops here with a CallDepth fault. */
export const MAX_CALL_DEPTH = 32;

/** The largest launch fields, reply fields or event data taken, in bytes of JSON. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

export interface RuntimeDeps {
  readonly store: InstanceStore;
  readonly dispatcher: Dispatcher;
  readonly subscriptions: SubscriptionIndex;
  readonly definitions: DefinitionStore;
  readonly clock: Clock;
  /** Makes ids for instances and events launched without one. */
  readonly newId: () => string;
  /** How long events are buffered for awaits that subscribe later. Default one hour. */
  readonly eventBufferMs?: number;
  /**
   * True when the dispatcher writes to the same transaction as the store (the embedded engine
   * commits each message's state and sends together), so there is no gap for an outbox to cover.
   */
  readonly sendsCommitWithState?: boolean;
  /** Default MAX_MESSAGE_BYTES. */
  readonly maxMessageBytes?: number;
  /** Hears of each message applied or ignored (metrics); what it throws never fails a step. */
  readonly observer?: RuntimeObserver;
  /** The interpreter's rules new steps are applied under; default the newest (engine/semantics.ts). */
  readonly semantics?: number;
}

export interface LaunchRequest {
  readonly process: string;
  readonly version?: string;
  readonly fields?: JsonObject;
  /** The instance id, also an idempotency key: a repeated id starts nothing new. */
  readonly id?: string;
}

export interface PublishRequest {
  readonly name: string;
  readonly key?: string;
  readonly data?: Json;
  readonly id?: string;
}

export type ApplyOutcome = "applied" | "ignored" | "no-instance";

export class Runtime {
  constructor(readonly deps: RuntimeDeps) {}

  private get bufferMs(): number {
    return this.deps.eventBufferMs ?? 60 * 60 * 1000;
  }

  /** Refuses data over the message size limit, naming the field and both sizes. */
  private checkSize(field: string, value: unknown): void {
    if (value === undefined) return;
    const limit = this.deps.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    const bytes = bytesOver(JSON.stringify(value), limit);
    if (bytes !== undefined)
      throw new MessageError([{ path: field, message: `is ${bytes} bytes; the limit is ${limit} bytes` }]);
  }

  /** Queues a launch; returns the instance id. */
  async launch(request: LaunchRequest): Promise<string> {
    this.checkSize("fields", request.fields);
    const resolved = await this.deps.definitions.resolve(request.process, request.version);
    if (!resolved) {
      const wanted = request.version ? `${request.process}@${request.version}` : request.process;
      throw new EngineError("UnknownProcess", `no process "${wanted}" is registered`);
    }
    if (request.id !== undefined) checkInstanceId(request.id);
    const id = request.id ?? this.deps.newId();
    await this.deps.dispatcher.enqueue(id, {
      type: "launch",
      instance: id,
      version: resolved.hash,
      process: request.process,
      ...(request.fields ? { fields: request.fields } : {}),
    });
    return id;
  }

  /** Buffers an event and queues it for every await it matches; returns the event id. */
  async publish(request: PublishRequest): Promise<string> {
    this.checkSize("data", request.data);
    const now = this.deps.clock.now();
    const event: ExternalEvent = {
      id: request.id ?? this.deps.newId(),
      name: request.name,
      ...(request.key === undefined ? {} : { key: request.key }),
      data: request.data ?? null,
      at: now,
    };
    await this.deps.subscriptions.record(event, now - this.bufferMs);
    await this.route(event);
    return event.id;
  }

  /**
   * Queues a buffered event for the awaits it matches, a page of subscriptions at a time from
   * `cursor`. Where the host can continue elsewhere (AWS: a message to the ingest queue), the pages
   * after the first go there, so one invocation routes one page whatever the number of awaits; a
   * page routed twice (a retry) queues messages the inbox deduplicates and the instance ignores.
   */
  async route(event: ExternalEvent, cursor?: string): Promise<void> {
    const { subscriptions, dispatcher } = this.deps;
    let after = cursor;
    do {
      const page = await subscriptions.matching(event, after);
      await this.enqueueAll(
        page.subscriptions.map((s) => ({ instance: s.instance, message: eventMessage(s, event) })),
      );
      after = page.next;
      if (after !== undefined && dispatcher.continueRouting) return dispatcher.continueRouting(event, after);
    } while (after !== undefined);
  }

  /** Queues a participant's reply for its instance; a malformed reply is refused with the field at fault. */
  async reply(reply: unknown): Promise<void> {
    const { instance, message } = this.replyMessage(reply);
    await this.deps.dispatcher.enqueue(instance, message);
  }

  /** A participant's reply checked and made the message its instance applies (MessageError naming the field at fault). */
  replyMessage(reply: unknown): { instance: string; message: ReplyMessage } {
    this.checkSize("fields", (reply as { fields?: unknown } | undefined)?.fields);
    this.checkSize("details", (reply as { details?: unknown } | undefined)?.details);
    // The copy the instance applies is the one checked: its own fields, not inherited ones.
    const message = asReplyMessage(reply);
    const problems = replyMessageProblems(message);
    if (problems.length) throw new MessageError(problems);
    return { instance: message.task.instance as string, message };
  }

  /**
   * Applies one message to its instance: the advance loop. `delivery` names the inbox delivery that
   * brought it (an SQS message id): the same delivery found as the last applied step is not applied
   * again (a second container that got the message after its visibility timeout passed).
   */
  async apply(instance: string, message: Message, delivery?: string): Promise<ApplyOutcome> {
    const { store, definitions, clock } = this.deps;
    const step = watchStep(this.deps.observer, instance, message);
    const loaded = await store.load(instance);
    // A leftover outbox is sent again whatever brought this message: its own redelivery, a redrive
    // (a new message id), or the instance's next message after the first went to the dead-letter queue.
    if (loaded?.outbox.length)
      await this.finishSends(instance, loaded.version, loaded.outbox, loaded.snapshot.consumed);
    if (loaded && delivery !== undefined && loaded.delivery === delivery) {
      step.done("ignored", loaded, loaded.snapshot);
      return "ignored";
    }
    let hash = loaded?.definition ?? (message.type === "launch" ? message.version : undefined);
    if (!hash) return "no-instance";
    const definition = await definitions.byHash(hash);
    if (!definition)
      throw new EngineError(
        "UnknownDefinition",
        `definition version ${hash} of instance ${instance} is not stored`,
      );
    const now = clock.now();
    let result: TransitionResult;
    try {
      if (message.type === "migrate" && loaded) {
        const current = { hash, definition };
        const step = await migrationStep(
          definitions,
          current,
          loaded.snapshot,
          message,
          now,
          this.deps.semantics,
        );
        ({ result, hash } = step);
      } else result = transition(definition, loaded?.snapshot, message, now, this.deps.semantics);
    } catch (error) {
      if (error instanceof EngineError && !loaded) return "no-instance";
      throw error;
    }
    const record = { at: now, message, commands: result.commands, notes: result.notes };
    if (loaded && result.snapshot === loaded.snapshot) {
      await store.note(instance, record, loaded.version);
      step.done("ignored", loaded, loaded.snapshot, result.notes);
      return "ignored";
    }
    // What could never be sent is found now, while the message can still be set aside unapplied.
    await this.deps.dispatcher.check?.(result.commands);
    // When the sends commit with the state (embedded), there is no gap for an outbox to cover.
    const atomic = this.deps.sendsCommitWithState === true;
    const version = await store.save(
      { snapshot: result.snapshot, outbox: atomic ? [] : result.commands, definition: hash, delivery },
      record,
      loaded?.version,
    );
    const { consumed } = result.snapshot;
    if (atomic) await this.carryOut(result.commands, consumed);
    else if (result.commands.length) await this.finishSends(instance, version, result.commands, consumed);
    step.done("applied", loaded, result.snapshot, result.notes);
    return "applied";
  }

  /**
   * Sends a saved step's commands and marks them sent. The step is saved, so a failure here is only
   * ever retried (an InfrastructureError), never a reason to set the message aside.
   */
  private async finishSends(
    instance: string,
    version: number,
    commands: readonly Command[],
    consumed: readonly ConsumedEvent[],
  ): Promise<void> {
    try {
      await this.carryOut(commands, consumed);
      await this.deps.store.markSent(instance, version);
    } catch (error) {
      if (!(error instanceof DocketError) || error instanceof InfrastructureError) throw error;
      throw new InfrastructureError(
        `instance ${instance}'s step ${version} is saved but sending its commands failed (retried): ${error.message}`,
        { cause: error },
      );
    }
  }

  /** `consumed`: the events the stepped instance has taken (a subscribe queues none its await may not take). */
  private async carryOut(commands: readonly Command[], consumed: readonly ConsumedEvent[]): Promise<void> {
    const { dispatcher } = this.deps;
    // Tasks go out in batches where the dispatcher can (a parallel foreach may dispatch thousands);
    // they are independent of each other and of the other commands, which keep their order.
    const tasks = commands.filter((c): c is TaskCommand => c.type === "task");
    const batched = dispatcher.sendTasks !== undefined && tasks.length > 1;
    if (batched) await dispatcher.sendTasks?.(tasks);
    for (const command of commands)
      if (!(batched && command.type === "task")) await this.carry(command, consumed);
  }

  private async carry(command: Command, consumed: readonly ConsumedEvent[]): Promise<void> {
    const { dispatcher, subscriptions, clock } = this.deps;
    switch (command.type) {
      case "task":
        return dispatcher.sendTask(command);
      case "timer":
        return dispatcher.startTimer(command);
      case "cancel-timer":
        return dispatcher.cancelTimer(command.timer);
      case "subscribe": {
        const now = clock.now();
        const buffered = await subscriptions.subscribe(command, now - this.bufferMs);
        // An event the instance took already (a loop's await subscribing again finds the one that
        // woke it still buffered) would only be ignored: a message and a step for nothing.
        return this.enqueueAll(
          buffered
            .filter((event) => mayTake(consumed, command.subscription, event.id, now))
            .map((event) => ({ instance: command.instance, message: eventMessage(command, event) })),
        );
      }
      case "unsubscribe":
        return subscriptions.unsubscribe(command.subscription);
      case "start-child":
        return this.startChild(command);
      case "cancel-child":
        return dispatcher.enqueue(command.child, { type: "operator", action: "cancel" });
      case "notify-parent":
        return dispatcher.enqueue(command.message.instance, command.message);
      case "publish":
        return dispatcher.publish(command.event, command.detail);
      case "finish":
        return subscriptions.unsubscribeInstance(command.instance);
    }
  }

  /** Queues messages in one batch where the dispatcher can (an event may wake thousands of awaits). */
  private async enqueueAll(entries: readonly { instance: string; message: Message }[]): Promise<void> {
    const { dispatcher } = this.deps;
    if (entries.length > 1 && dispatcher.enqueueMany) return dispatcher.enqueueMany(entries);
    for (const { instance, message } of entries) await dispatcher.enqueue(instance, message);
  }

  private async startChild(command: Extract<Command, { type: "start-child" }>): Promise<void> {
    const { definitions, dispatcher } = this.deps;
    const { instance, node, child } = command.parent;
    // A child's id is its parent's plus `~n`: the number of `~` is how deep the calls nest.
    const depth = child.split("~").length - 1;
    // A subprocess that cannot start faults the call, as a failed subprocess would.
    const refuse = (code: string, message: string) =>
      dispatcher.enqueue(instance, {
        type: "child",
        instance,
        node,
        child,
        status: "faulted",
        fault: { code, message },
      });
    if (depth > MAX_CALL_DEPTH)
      return refuse(
        "CallDepth",
        `calls nest deeper than ${MAX_CALL_DEPTH} levels (does a process call itself without end?)`,
      );
    let registration: Awaited<ReturnType<typeof definitions.resolve | typeof definitions.registerInline>>;
    try {
      registration =
        "source" in command.process
          ? await definitions.registerInline(command.process.source)
          : await definitions.resolve(command.process.name, command.process.version);
    } catch (error) {
      // A version prefix that names two versions: the call's fault, not the machinery's.
      if (error instanceof EngineError && error.code === "AmbiguousVersion")
        return refuse(error.code, error.message);
      throw error;
    }
    if (!registration || ("ok" in registration && !registration.ok)) {
      const message =
        "source" in command.process
          ? `the subprocess XML is invalid: ${registration && "problems" in registration ? registration.problems.join("; ") : ""}`
          : `no process "${command.process.name}${command.process.version ? `@${command.process.version}` : ""}" is registered`;
      return refuse("source" in command.process ? "DefinitionError" : "UnknownProcess", message);
    }
    const process = "name" in command.process ? command.process.name : registration.definition.name;
    await dispatcher.enqueue(child, {
      type: "launch",
      instance: child,
      version: registration.hash,
      process,
      fields: command.fields,
      parent: command.parent,
    });
  }
}

/** A participant's reply, which carries no type, as the reply message it becomes (its own fields copied). */
const asReplyMessage = (reply: unknown) => ({ ...(reply as object), type: "reply" }) as ReplyMessage;

/** What is wrong with a participant's reply (as a reply message naming its instance); empty when nothing. */
export function replyProblems(reply: unknown): readonly Problem[] {
  return replyMessageProblems(asReplyMessage(reply));
}

function replyMessageProblems(message: ReplyMessage): readonly Problem[] {
  const problems = incomingProblems(message);
  const instance = message.task?.instance;
  if (typeof instance === "string" && instance !== "") return problems;
  return [...problems, { path: "task.instance", message: "must name the instance" }];
}

/**
 * What is wrong with a message coming in (a participant's reply, a body on the AWS inbox): its
 * shape, and a reply's error texts. The interpreter checks the shape only: it replays steps taken
 * before the texts were checked. A well-formed reply without an error allocates nothing here
 * (checkMessage's fast path): replies are the hot path.
 */
export function incomingProblems(message: unknown): readonly Problem[] {
  const problems = checkMessage(message);
  const error =
    (message as Partial<ReplyMessage> | null)?.type === "reply" ? (message as ReplyMessage).error : undefined;
  return error === undefined ? problems : [...problems, ...replyErrorProblems(error)];
}

/** The message that hands an event to the await holding a subscription. */
export function eventMessage(
  subscription: { subscription: string; node: string },
  event: ExternalEvent,
): Message {
  return {
    type: "event",
    node: subscription.node,
    subscription: subscription.subscription,
    id: event.id,
    name: event.name,
    ...(event.key === undefined ? {} : { key: event.key }),
    data: event.data,
  };
}

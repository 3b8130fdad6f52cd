/**
 * The Dispatcher on AWS: the inbox is an SQS FIFO queue grouped by instance; tasks go to the
 * participant's queue (or the default queue, with the participant as a message attribute);
 * timers up to 15 minutes are SQS messages with DelaySeconds on the timer queue, longer ones
 * DynamoDB items that the sweep hands to that queue; lifecycle events go to EventBridge.
 */
import type { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { type SendMessageBatchRequestEntry, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { Command, Message, TaskCommand } from "../engine/types.js";
import { EngineError } from "../errors.js";
import type { JsonObject } from "../language/model.js";
import { bytesOver, type Dispatcher, type ExternalEvent } from "../ports.js";
import { sha256Hex } from "../runtime/hex.js";
import { toWire } from "../runtime/wire.js";
import { putEventsAll, sendMessageBatchAll } from "./calls.js";
import type { OffloadedBody, PayloadStore } from "./payloads.js";
import { type InboxSigner, SIGNATURE_ATTRIBUTE } from "./signing.js";
import { aws, type TableRef } from "./table.js";
import { cancelLongTimer, MAX_SQS_DELAY_S, storeLongTimer, type TimerRef, timerMessage } from "./timers.js";

export { MAX_SQS_DELAY_S };

type MessageEntry = Omit<SendMessageBatchRequestEntry, "Id">;

export interface AwsQueues {
  readonly inbox: string;
  readonly timers: string;
  readonly tasks: string;
  /** Participants with a queue of their own, by URL (as the emulator runner lists them). */
  readonly participants?: Readonly<Record<string, string>>;
  /**
   * The name prefix of the participants' own queues: participant p's queue is `<prefix>p`, beside
   * the default task queue (see participantQueueUrl). A participant without one shares the default.
   */
  readonly participantPrefix?: string;
  /** Tasks of participants the engine calls itself (lambda:, http:, sfn:), for the invoke handler. */
  readonly invoke?: string;
  /** The ingest function's queue: where the routing of an event that wakes many awaits continues. */
  readonly ingest?: string;
}

/** What continues an event's routing on the ingest queue (see Runtime.route). */
export interface RouteContinuation {
  readonly docket_route: { readonly event: ExternalEvent; readonly cursor: string };
}

export interface AwsDispatcherDeps {
  readonly sqs: SQSClient;
  readonly events: EventBridgeClient;
  readonly table: TableRef;
  readonly queues: AwsQueues;
  /** Participants the engine calls itself (by name); their tasks go to the invoke queue. */
  readonly targets: ReadonlySet<string>;
  readonly bus: string;
  readonly now: () => number;
  /** Where task fields and inbox messages over the large-payload threshold go. */
  readonly payloads: PayloadStore;
  /** Signs what docket itself puts in the inbox (absent: unsigned, for a setup without the key). */
  readonly signer?: InboxSigner;
  /** Hears of each lifecycle event once it is on the bus (`docket local` logs them). */
  readonly onPublish?: (event: string, detail: JsonObject) => void;
}

/** SQS's rule for a queue name (CreateQueue: up to 80 letters, digits, hyphens and underscores). */
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/**
 * A participant's own queue, `<prefix><participant>`, in the default task queue's account and
 * region (a queue URL ends with the queue's name). Undefined when no prefix is configured or the
 * name could not be a queue's: such a participant's tasks go to the default task queue.
 */
export function participantQueueUrl(queues: AwsQueues, participant: string): string | undefined {
  const name = `${queues.participantPrefix ?? ""}${participant}`;
  if (!queues.participantPrefix || !QUEUE_NAME.test(name)) return undefined;
  return `${queues.tasks.slice(0, queues.tasks.lastIndexOf("/") + 1)}${name}`;
}

/** Whether a failed call (or what it was wrapped around) found no such queue. */
function isMissingQueue(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause)
    if (e.name === "QueueDoesNotExist" || /NonExistentQueue|QueueDoesNotExist/.test(e.message)) return true;
  return false;
}

export class AwsDispatcher implements Dispatcher {
  /**
   * Participants whose derived queue turned out not to exist: they share the default task queue.
   * Kept for the container's life; the construct changes every function's environment when the
   * set of participant queues changes (DOCKET_PARTICIPANT_SET), so no container outlives it.
   */
  private readonly sharingDefault = new Set<string>();

  readonly continueRouting?: (event: ExternalEvent, cursor: string) => Promise<void>;

  constructor(private readonly deps: AwsDispatcherDeps) {
    const { ingest } = deps.queues;
    if (ingest) this.continueRouting = (event, cursor) => this.sendRouting(ingest, event, cursor);
  }

  /** The rest of an event's routing, as a signed message on the ingest queue (offloaded when large). */
  private async sendRouting(queue: string, event: ExternalEvent, cursor: string): Promise<void> {
    const json = JSON.stringify({ docket_route: { event, cursor } } satisfies RouteContinuation);
    const entry = await this.signed(await this.offloaded(json));
    await aws(`continuing the routing of event ${event.id}`, () =>
      this.deps.sqs.send(new SendMessageCommand({ QueueUrl: queue, ...entry })),
    );
  }

  async sendTask(task: TaskCommand): Promise<void> {
    const { queue, entry } = await this.taskMessage(task);
    await this.sendOrShare(task.task.participant, queue, (url) =>
      aws(`sending task ${task.task.id}`, () =>
        this.deps.sqs.send(new SendMessageCommand({ QueueUrl: url, ...entry })),
      ),
    );
  }

  /** Many tasks with SendMessageBatch, grouped by queue; each entry's result is checked (see calls.ts). */
  async sendTasks(tasks: readonly TaskCommand[]): Promise<void> {
    const byQueue = new Map<string, { participant: string; entries: MessageEntry[] }>();
    for (const task of tasks) {
      const { queue, entry } = await this.taskMessage(task);
      const group = byQueue.get(queue) ?? { participant: task.task.participant, entries: [] };
      group.entries.push(entry);
      byQueue.set(queue, group);
    }
    await Promise.all(
      [...byQueue].map(([queue, { participant, entries }]) =>
        this.sendOrShare(participant, queue, (url) => sendMessageBatchAll(this.deps.sqs, url, entries)),
      ),
    );
  }

  /**
   * Sends to a participant's own queue; when SQS says there is none (the participant was given no
   * queue), to the default task queue instead, and remembers that for the next tasks.
   */
  private async sendOrShare(
    participant: string,
    queue: string,
    send: (queue: string) => Promise<unknown>,
  ): Promise<void> {
    try {
      await send(queue);
    } catch (error) {
      const { tasks, invoke } = this.deps.queues;
      if (queue === tasks || queue === invoke || !isMissingQueue(error)) throw error;
      this.sharingDefault.add(participant);
      await send(tasks);
    }
  }

  /** A task's queue and message: its body and the attributes workers filter on. */
  private async taskMessage(task: TaskCommand): Promise<{ queue: string; entry: MessageEntry }> {
    const { participant, id } = task.task;
    const queue = this.queueOf(participant);
    const body = await this.taskBody(task);
    return {
      queue,
      entry: {
        MessageBody: body,
        MessageAttributes: {
          participant: { DataType: "String", StringValue: participant },
          task: { DataType: "String", StringValue: id },
        },
      },
    };
  }

  /**
   * The queue a participant's tasks go to: the invoke queue for a target, else its own queue (listed,
   * or derived from the prefix), else the default task queue.
   */
  private queueOf(participant: string): string {
    const { queues, targets } = this.deps;
    if (targets.has(participant)) {
      if (queues.invoke) return queues.invoke;
      throw new EngineError(
        "Configuration",
        `participant ${participant} is a target but no invoke queue is configured`,
      );
    }
    const own = this.sharingDefault.has(participant) ? undefined : participantQueueUrl(queues, participant);
    return queues.participants?.[participant] ?? own ?? queues.tasks;
  }

  /** Configuration errors surface before the step is saved (see Dispatcher.check). */
  async check(commands: readonly Command[]): Promise<void> {
    for (const command of commands) if (command.type === "task") this.queueOf(command.task.participant);
  }

  /** The task as JSON; fields over the threshold are in S3, named by `fields_ref` (workers read them there). */
  private async taskBody(task: TaskCommand): Promise<string> {
    const { fields, ...envelope } = toWire(task, this.deps.queues.inbox);
    const json = JSON.stringify(fields);
    const where = this.deps.payloads.locate(await this.deps.payloads.put(json, "transient"));
    if (where) return JSON.stringify({ ...envelope, fields_ref: where });
    // The fields' JSON goes in as it is, so a task's fields (often the whole context) are serialized once.
    return `${JSON.stringify(envelope).slice(0, -1)},"fields":${json}}`;
  }

  async startTimer(timer: TimerRef): Promise<void> {
    // Beyond SQS's delay: the long-timer index (timers.ts), which the sweep hands over in time.
    if (Math.ceil((timer.due - this.deps.now()) / 1000) > MAX_SQS_DELAY_S)
      await storeLongTimer(this.deps.table, timer);
    else await this.sendTimer(timer);
  }

  /** Puts a timer on the timer queue, delayed until due or SQS's most (the relay moves it to the inbox). */
  async sendTimer(timer: TimerRef): Promise<void> {
    const message = timerMessage(timer, this.deps.now());
    await aws("sending a timer", () =>
      this.deps.sqs.send(new SendMessageCommand({ QueueUrl: this.deps.queues.timers, ...message })),
    );
  }

  async cancelTimer(timer: string): Promise<void> {
    // Only long timers can be taken back; a short one fires and the engine ignores it as stale.
    await cancelLongTimer(this.deps.table, timer);
  }

  async enqueue(instance: string, message: Message): Promise<void> {
    const entry = await this.inboxEntry(instance, message);
    await aws(`queueing a ${message.type} message`, () =>
      this.deps.sqs.send(new SendMessageCommand({ QueueUrl: this.deps.queues.inbox, ...entry })),
    );
  }

  /** Many inbox messages with SendMessageBatch, each exactly as `enqueue` would send it, in order per instance. */
  async enqueueMany(entries: readonly { instance: string; message: Message }[]): Promise<void> {
    const built: MessageEntry[] = [];
    for (const { instance, message } of entries) built.push(await this.inboxEntry(instance, message));
    await sendMessageBatchAll(this.deps.sqs, this.deps.queues.inbox, built);
  }

  /**
   * An inbox message: grouped by instance, deduplicated by its content (so a resend within SQS's
   * five-minute window is dropped), signed; a large one offloaded to S3.
   */
  private async inboxEntry(instance: string, message: Message): Promise<MessageEntry> {
    const body = await this.offloaded(JSON.stringify(message));
    return {
      ...(await this.signed(body)),
      MessageGroupId: instance,
      MessageDeduplicationId: await sha256Hex(`${instance}\n${body}`),
    };
  }

  /** A body as it is, or a pointer to it in S3 when it is over the large-payload threshold. */
  private async offloaded(json: string): Promise<string> {
    const stored = await this.deps.payloads.put(json, "transient");
    return stored === json ? json : JSON.stringify({ docket_payload: stored } satisfies OffloadedBody);
  }

  /** A message with docket's signature, so the function it feeds knows docket sent it. */
  private async signed(body: string): Promise<MessageEntry> {
    const { signer } = this.deps;
    if (!signer) return { MessageBody: body };
    const signature = await signer.sign(body);
    return {
      MessageBody: body,
      MessageAttributes: { [SIGNATURE_ATTRIBUTE]: { DataType: "String", StringValue: signature } },
    };
  }

  /** A lifecycle event on the bus; an entry EventBridge failed is put again, or the call throws (calls.ts). */
  async publish(event: string, detail: JsonObject): Promise<void> {
    await putEventsAll(this.deps.events, `publishing ${event}`, [
      { EventBusName: this.deps.bus, Source: "docket", DetailType: event, Detail: fittedDetail(detail) },
    ]);
    this.deps.onPublish?.(event, detail);
  }
}

/** EventBridge takes entries of at most 256 KB: a larger detail keeps its ids and says it was cut. */
export const MAX_EVENT_DETAIL_BYTES = 200 * 1024;

function fittedDetail(detail: JsonObject): string {
  const json = JSON.stringify(detail);
  if (bytesOver(json, MAX_EVENT_DETAIL_BYTES) === undefined) return json;
  const { instance, process } = detail;
  return JSON.stringify({ instance, process, truncated: true });
}

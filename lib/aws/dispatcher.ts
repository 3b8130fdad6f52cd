/**
 * The Dispatcher on AWS: the inbox is an SQS FIFO queue grouped by instance; tasks go to the
 * participant's queue (or the default queue, with the participant as a message attribute);
 * timers up to 15 minutes are SQS messages with DelaySeconds on the timer queue, longer ones
 * DynamoDB items that the sweep hands to that queue; lifecycle events go to EventBridge.
 */
import { type EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { GetCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import type { Message, TaskCommand } from "../engine/types.js";
import { EngineError } from "../errors.js";
import type { JsonObject } from "../language/model.js";
import type { Dispatcher } from "../ports.js";
import { sha256Hex } from "../runtime/hex.js";
import { toWire } from "../runtime/wire.js";
import type { OffloadedBody, PayloadStore } from "./payloads.js";
import { type InboxSigner, SIGNATURE_ATTRIBUTE } from "./signing.js";
import { aws, pad, type TableRef } from "./table.js";

export const MAX_SQS_DELAY_S = 15 * 60;

export interface AwsQueues {
  readonly inbox: string;
  readonly timers: string;
  readonly tasks: string;
  /** Participants with a queue of their own. */
  readonly participants?: Readonly<Record<string, string>>;
  /** Tasks of participants the engine calls itself (lambda:, http:, sfn:), for the invoke handler. */
  readonly invoke?: string;
}

export interface AwsDispatcherDeps {
  readonly sqs: SQSClient;
  readonly events: EventBridgeClient;
  readonly table: TableRef;
  readonly queues: AwsQueues;
  /** Participants the engine calls itself; their tasks go to the invoke queue. */
  readonly targets: Readonly<Record<string, string>>;
  readonly bus: string;
  readonly now: () => number;
  /** Where task fields and inbox messages over the large-payload threshold go. */
  readonly payloads: PayloadStore;
  /** Signs what docket itself puts in the inbox (absent: unsigned, for a setup without the key). */
  readonly signer?: InboxSigner;
}

export const timerKey = (due: number, timer: string) => `${pad(due, 15)}#${timer}`;

export class AwsDispatcher implements Dispatcher {
  constructor(private readonly deps: AwsDispatcherDeps) {}

  async sendTask(task: TaskCommand): Promise<void> {
    const { queues, targets } = this.deps;
    const { participant, id } = task.task;
    const queue = targets[participant] ? queues.invoke : (queues.participants?.[participant] ?? queues.tasks);
    if (!queue)
      throw new EngineError(
        "Configuration",
        `participant ${participant} has a target (${targets[participant]}) but no invoke queue is configured`,
      );
    const body = await this.taskBody(task);
    await aws(`sending task ${id}`, () =>
      this.deps.sqs.send(
        new SendMessageCommand({
          QueueUrl: queue,
          MessageBody: body,
          MessageAttributes: {
            participant: { DataType: "String", StringValue: participant },
            task: { DataType: "String", StringValue: id },
          },
        }),
      ),
    );
  }

  /** The task as JSON; fields over the threshold are in S3, named by `fields_ref` (workers read them there). */
  private async taskBody(task: TaskCommand): Promise<string> {
    const { fields, ...envelope } = toWire(task, this.deps.queues.inbox);
    const json = JSON.stringify(fields);
    const where = this.deps.payloads.locate(await this.deps.payloads.put(json));
    if (where) return JSON.stringify({ ...envelope, fields_ref: where });
    // The fields' JSON goes in as it is, so a task's fields (often the whole context) are serialized once.
    return `${JSON.stringify(envelope).slice(0, -1)},"fields":${json}}`;
  }

  async startTimer(timer: { timer: string; instance: string; node: string; due: number }): Promise<void> {
    const delay = Math.ceil((timer.due - this.deps.now()) / 1000);
    if (delay > MAX_SQS_DELAY_S) {
      const sk = timerKey(timer.due, timer.timer);
      await aws("storing a long timer", () =>
        this.deps.table.client.send(
          new TransactWriteCommand({
            TransactItems: [
              { Put: { TableName: this.deps.table.name, Item: { pk: "TIMERS", sk, ...timer } } },
              {
                Put: {
                  TableName: this.deps.table.name,
                  Item: { pk: `T#${timer.timer}`, sk: "TIMER", at: sk },
                },
              },
            ],
          }),
        ),
      );
      return;
    }
    await this.sendTimer(timer, Math.max(0, delay));
  }

  /** Puts a timer on the timer queue to fire after `delay` seconds (the relay moves it to the inbox). */
  async sendTimer(
    timer: { timer: string; instance: string; node: string; due: number },
    delay: number,
  ): Promise<void> {
    await aws("sending a timer", () =>
      this.deps.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.deps.queues.timers,
          MessageBody: JSON.stringify(timer),
          DelaySeconds: Math.min(delay, MAX_SQS_DELAY_S),
        }),
      ),
    );
  }

  async cancelTimer(timer: string): Promise<void> {
    // Only long timers can be taken back; a short one fires and the engine ignores it as stale.
    const { table } = this.deps;
    const { Item } = await aws("finding a timer", () =>
      table.client.send(new GetCommand({ TableName: table.name, Key: { pk: `T#${timer}`, sk: "TIMER" } })),
    );
    if (!Item) return;
    await aws("canceling a timer", () =>
      table.client.send(
        new TransactWriteCommand({
          TransactItems: [
            { Delete: { TableName: table.name, Key: { pk: "TIMERS", sk: String(Item.at) } } },
            { Delete: { TableName: table.name, Key: { pk: `T#${timer}`, sk: "TIMER" } } },
          ],
        }),
      ),
    );
  }

  async enqueue(instance: string, message: Message): Promise<void> {
    const json = JSON.stringify(message);
    const stored = await this.deps.payloads.put(json);
    const body = stored === json ? json : JSON.stringify({ docket_payload: stored } satisfies OffloadedBody);
    const { signer } = this.deps;
    await aws(`queueing a ${message.type} message`, async () =>
      this.deps.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.deps.queues.inbox,
          MessageBody: body,
          MessageGroupId: instance,
          MessageDeduplicationId: await sha256Hex(`${instance}\n${body}`),
          ...(signer
            ? {
                MessageAttributes: {
                  [SIGNATURE_ATTRIBUTE]: { DataType: "String", StringValue: await signer.sign(body) },
                },
              }
            : {}),
        }),
      ),
    );
  }

  async publish(event: string, detail: JsonObject): Promise<void> {
    await aws(`publishing ${event}`, () =>
      this.deps.events.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: this.deps.bus,
              Source: "docket",
              DetailType: event,
              Detail: JSON.stringify(detail),
            },
          ],
        }),
      ),
    );
  }
}

/**
 * A worker's connection on AWS: its participant's SQS queue (or the default task queue, whose
 * tasks for other participants it leaves alone). Fields over the large-payload threshold arrive
 * as `fields_ref` and are read from S3; the reply goes to `task.reply_to` (the inbox) in the
 * instance's message group, deduplicated by the task's id (an attempt has an id of its own), so
 * a reply sent twice within SQS's five minutes is taken once.
 */
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { JsonObject } from "../language/model.js";
import { MAX_SQS_VISIBILITY_S, type WireReply, type WireTask } from "../runtime/wire.js";
import { type Connection, checkedLease, type Delivery } from "./worker.js";

export interface SqsConnectionOptions {
  /** The participant's queue URL (or the default task queue's). */
  readonly queue: string;
  /** Only this participant's tasks are taken; on the default queue, others are passed on (see the README). */
  readonly participant: string;
  /** Where a failure to pass a task on is told; default standard error. */
  readonly log?: (line: string) => void;
  readonly sqs?: SQSClient;
  readonly s3?: S3Client;
  /** Seconds a received task stays invisible, and what a heartbeat extends it by; default 300. */
  readonly leaseSeconds?: number;
  /** Seconds a receive waits for a task (a stop waits for it to end); default 20, SQS's most. */
  readonly waitSeconds?: number;
  /** The largest reply sent as it is (bytes of JSON); default SQS's 256 KiB. */
  readonly maxReplyBytes?: number;
}

/** How many times a worker passes another participant's task on before putting it back (passOn). */
const MAX_PASSES = 50;
const PASSES_ATTRIBUTE = "docket-passes";

/**
 * A received message's attributes as SendMessage takes them: SQS answers with empty list fields
 * (StringListValues: []) that a send refuses, so only the type and the value are kept.
 */
function resendable(message: Message): Record<string, MessageAttributeValue> {
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {}))
    if (value.DataType)
      attributes[name] =
        value.BinaryValue !== undefined
          ? { DataType: value.DataType, BinaryValue: value.BinaryValue }
          : { DataType: value.DataType, StringValue: value.StringValue ?? "" };
  return attributes;
}

/** SQS's largest message body (the docket inbox's own sends offload above it to S3). */
const SQS_MESSAGE_BYTES = 256 * 1024;

type OffloadedTask = WireTask & { readonly fields_ref?: { bucket: string; key: string } };

/**
 * A reply's deduplication id: `reply:` and the task's id (its attempt included), up to SQS's 128
 * characters of its set, hashed when longer; the prefix keeps it apart from docket's own ids. A
 * heartbeat's adds the time it is sent: each is a message of its own, never the reply's twin.
 */
async function deduplicationId(reply: WireReply): Promise<string> {
  const prefix = reply.status === "heartbeat" ? "heartbeat" : "reply";
  const id = `${prefix}:${reply.task.id}${reply.status === "heartbeat" ? `:${Date.now()}` : ""}`;
  if (id.length <= 128 && /^[\x21-\x7e]+$/.test(id)) return id;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(id));
  return `${prefix}:${Buffer.from(digest).toString("hex")}`;
}

export function sqsConnection(options: SqsConnectionOptions): Connection {
  const sqs = options.sqs ?? new SQSClient({});
  const s3 = options.s3 ?? new S3Client({});
  const leaseSeconds = checkedLease(
    options.leaseSeconds ?? 300,
    MAX_SQS_VISIBILITY_S,
    "SQS keeps a message invisible",
  );
  const log = options.log ?? ((line: string) => console.error(line));
  const remove = (message: Message) =>
    sqs.send(new DeleteMessageCommand({ QueueUrl: options.queue, ReceiptHandle: message.ReceiptHandle }));
  const visibility = (message: Message, seconds: number) =>
    sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: options.queue,
        ReceiptHandle: message.ReceiptHandle,
        VisibilityTimeout: seconds,
      }),
    );

  async function taskOf(message: Message): Promise<WireTask> {
    const body = JSON.parse(message.Body ?? "{}") as OffloadedTask;
    if (!body.fields_ref) return body;
    const { fields_ref: ref, ...task } = body;
    const object = await s3.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
    return { ...task, fields: JSON.parse(await (object.Body?.transformToString() ?? "{}")) as JsonObject };
  }

  function delivery(message: Message, task: WireTask): Delivery {
    return {
      task,
      async reply(reply: WireReply) {
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: task.task.reply_to,
            MessageGroupId: task.task.reply_group,
            MessageDeduplicationId: await deduplicationId(reply),
            MessageBody: JSON.stringify(reply),
          }),
        );
      },
      acknowledge: async () => {
        await remove(message);
      },
      extend: async (seconds) => {
        await visibility(message, seconds);
      },
      release: async () => {
        await visibility(message, 0);
      },
    };
  }

  /**
   * Another participant's task on the shared default queue goes back for its own worker as a new
   * message, delayed one to three seconds (jittered: at once, this worker's next poll could take it
   * again, before the other's), and the one received is deleted. Putting the same message back
   * would count every pass as a receive, and at the queue's maxReceiveCount SQS dead-letters a task
   * no worker ever ran. After MAX_PASSES passes (its participant's workers gone for minutes) it is
   * put back instead, so the queue's dead-letter queue and its alarm see it, as before. A stop
   * between the send and the delete leaves the task twice on the queue: the engine takes one reply
   * per task, and an idempotency store keeps the handler from running twice. A role that may not
   * send there (granted by an older grantWorker) puts it back, as does a failed send (logged).
   */
  async function passOn(message: Message): Promise<void> {
    const delay = 1 + Math.floor(Math.random() * 3);
    const passes = Number(message.MessageAttributes?.[PASSES_ATTRIBUTE]?.StringValue ?? 0);
    if (passes >= MAX_PASSES) {
      await visibility(message, delay);
      return;
    }
    try {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: options.queue,
          MessageBody: message.Body,
          MessageAttributes: {
            ...resendable(message),
            [PASSES_ATTRIBUTE]: { DataType: "Number", StringValue: String(passes + 1) },
          },
          DelaySeconds: delay,
        }),
      );
    } catch (error) {
      if (!/AccessDenied/.test(String((error as { name?: string }).name)))
        log(`docket worker: passing a task on failed, put back instead: ${String(error)}`);
      await visibility(message, delay);
      return;
    }
    // A failed delete leaves a second copy, seen and passed on again: never a reason to drop the batch.
    await remove(message).catch(() => undefined);
  }

  return {
    leaseSeconds,
    maxReplyBytes: options.maxReplyBytes ?? SQS_MESSAGE_BYTES,
    async receive(max) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queue,
          MaxNumberOfMessages: Math.min(max, 10),
          WaitTimeSeconds: options.waitSeconds ?? 20,
          VisibilityTimeout: leaseSeconds,
          // All: a task passed on to another participant's worker keeps every attribute.
          MessageAttributeNames: ["All"],
        }),
      );
      const deliveries: Delivery[] = [];
      for (const message of Messages) {
        const participant = message.MessageAttributes?.participant?.StringValue;
        if (participant !== undefined && participant !== options.participant) {
          await passOn(message);
          continue;
        }
        deliveries.push(delivery(message, await taskOf(message)));
      }
      return deliveries;
    },
  };
}

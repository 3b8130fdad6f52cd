/** Reading the emulator's queues as a worker or an operator would. */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";

export interface Received {
  readonly body: Record<string, unknown>;
  readonly raw: string;
  readonly handle: string;
}

/**
 * One receive of up to ten messages, deleted once read; with `keep`, left on the queue and visible
 * again at once.
 */
export async function drainQueue(
  sqs: SQSClient,
  url: string,
  options: { keep?: boolean } = {},
): Promise<Received[]> {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      MessageAttributeNames: ["All"],
      ...(options.keep ? { VisibilityTimeout: 0 } : {}),
    }),
  );
  if (Messages.length && !options.keep)
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
      }),
    );
  return Messages.map((m) => ({
    body: JSON.parse(m.Body ?? "{}") as Record<string, unknown>,
    raw: m.Body ?? "",
    handle: m.ReceiptHandle as string,
  }));
}

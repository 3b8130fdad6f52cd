/**
 * Runs the very Lambda handlers in this process against an AWS endpoint: polls each queue that
 * feeds a handler, passes the batch, deletes what succeeded (failures come back after their
 * visibility timeout), and ticks the sweep. `docket local` and the integration tests use it.
 */
import { DeleteMessageCommand, ReceiveMessageCommand, type Message as SqsMessage } from "@aws-sdk/client-sqs";
import type { AwsDeps } from "./deps.js";
import {
  type BatchResult,
  makeAdvanceHandler,
  makeIngestHandler,
  makeRegisterHandler,
  makeSweepHandler,
  makeTimerRelayHandler,
  type SqsBatch,
} from "./handlers.js";

type Handler = (batch: SqsBatch) => Promise<BatchResult>;

export class LocalRunner {
  private readonly feeds: [string, Handler][];
  private readonly sweep: () => Promise<{ handed: number }>;

  constructor(
    private readonly deps: AwsDeps,
    feeds: { ingest: string; register: string },
    private readonly visibilityTimeout = 2,
  ) {
    this.feeds = [
      [feeds.register, makeRegisterHandler(deps)],
      [feeds.ingest, makeIngestHandler(deps)],
      [deps.resources.queues.timers, makeTimerRelayHandler(deps)],
      [deps.resources.queues.inbox, makeAdvanceHandler(deps)],
    ];
    this.sweep = makeSweepHandler(deps);
  }

  private async drain(url: string, handler: Handler): Promise<number> {
    const { Messages = [] } = await this.deps.clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: this.visibilityTimeout,
        MessageSystemAttributeNames: ["MessageGroupId"],
      }),
    );
    if (!Messages.length) return 0;
    const records = Messages.map((m: SqsMessage) => ({
      messageId: m.MessageId as string,
      body: m.Body ?? "",
      attributes: { MessageGroupId: m.Attributes?.MessageGroupId },
    }));
    const { batchItemFailures } = await handler({ Records: records });
    const failed = new Set(batchItemFailures.map((f) => f.itemIdentifier));
    for (const m of Messages) {
      if (!failed.has(m.MessageId as string))
        await this.deps.clients.sqs.send(
          new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle as string }),
        );
    }
    return Messages.length;
  }

  /** One round over every queue and the sweep; returns the messages handled. */
  async tick(): Promise<number> {
    let handled = 0;
    for (const [url, handler] of this.feeds) handled += await this.drain(url, handler);
    handled += (await this.sweep()).handed;
    return handled;
  }

  /** Ticks until a round handles nothing (or `maxRounds`). */
  async settle(maxRounds = 200): Promise<void> {
    for (let round = 0; round < maxRounds; round++) if ((await this.tick()) === 0) return;
  }
}

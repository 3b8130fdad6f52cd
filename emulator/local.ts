/**
 * Runs the very Lambda handlers in this process against an AWS endpoint: polls each queue that
 * feeds a handler, passes the batch, deletes what succeeded (failures come back after their
 * visibility timeout), and ticks the sweep. `docket local` and the integration tests use it.
 */
import { ReceiveMessageCommand, type SQSClient, type Message as SqsMessage } from "@aws-sdk/client-sqs";
import { deleteMessagesAll } from "../lib/aws/calls.js";
import type { AwsDeps } from "../lib/aws/deps.js";
import {
  type BatchResult,
  makeAdvanceHandler,
  makeIngestHandler,
  makeInvokeHandler,
  makeRegisterHandler,
  makeSweepHandler,
  makeTimerRelayHandler,
  type SqsBatch,
} from "../lib/aws/handlers.js";
import type { HandlerName, Provisioned } from "./provision.js";
import type { FunctionName } from "./provision-iam.js";

type Handler = (batch: SqsBatch) => Promise<BatchResult>;

/**
 * The deps the handlers run with: one set for all, or each function's own (clients signing as its
 * role, see provision-iam.ts depsPerRole), as each Lambda runs with its execution role.
 */
export type RunnerDeps = AwsDeps | ((fn: FunctionName) => AwsDeps);

export interface RunnerOptions {
  /** Seconds a received message stays hidden before a failed one comes back. Default 2. */
  readonly visibilityTimeout?: number;
  /**
   * The client that polls and deletes, as Lambda's event source mapping does (default: the
   * client of the function the queue feeds, which signs as its role as the mapping does).
   */
  readonly poller?: SQSClient;
  /** Runs the sweep at most this often, as the rate(1 minute) rule does; default 0: every tick. */
  readonly sweepEveryMs?: number;
  /** Hears of each non-empty batch handed to a handler. */
  readonly onBatch?: (queue: string, size: number) => void;
}

export class LocalRunner {
  private readonly feeds: [string, Handler, SQSClient][];
  private readonly sweep: () => Promise<{ handed: number }>;
  private sweptAt = 0;
  /** Handler calls with a non-empty batch (what Lambda would bill as invocations), and their time. */
  invocations = 0;
  handlerMs = 0;

  constructor(
    deps: RunnerDeps,
    feeds: Provisioned["feeds"],
    private readonly options: RunnerOptions = {},
  ) {
    const depsOf = typeof deps === "function" ? deps : () => deps;
    const make: Record<HandlerName, (deps: AwsDeps) => Handler> = {
      register: makeRegisterHandler,
      ingest: makeIngestHandler,
      invoke: makeInvokeHandler,
      "timer-relay": makeTimerRelayHandler,
      advance: makeAdvanceHandler,
    };
    // In the order a message travels, so one round carries it as far as it can go.
    const order = Object.keys(make);
    this.feeds = [...feeds]
      .sort((a, b) => order.indexOf(a.handler) - order.indexOf(b.handler))
      .map((feed) => {
        const own = depsOf(feed.handler);
        return [feed.queue, make[feed.handler](own), options.poller ?? own.clients.sqs];
      });
    this.sweep = makeSweepHandler(depsOf("sweep"));
  }

  private async drain(url: string, handler: Handler, poller: SQSClient): Promise<number> {
    const { Messages = [] } = await poller.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: this.options.visibilityTimeout ?? 2,
        MessageSystemAttributeNames: ["MessageGroupId"],
        MessageAttributeNames: ["All"],
      }),
    );
    if (!Messages.length) return 0;
    const records = Messages.map((m: SqsMessage) => ({
      messageId: m.MessageId as string,
      body: m.Body ?? "",
      attributes: { MessageGroupId: m.Attributes?.MessageGroupId },
      messageAttributes: Object.fromEntries(
        Object.entries(m.MessageAttributes ?? {}).map(([name, value]) => [
          name,
          { stringValue: value.StringValue },
        ]),
      ),
    }));
    const started = performance.now();
    const { batchItemFailures } = await handler({ Records: records });
    this.handlerMs += performance.now() - started;
    this.invocations += 1;
    const failed = new Set(batchItemFailures.map((f) => f.itemIdentifier));
    const done = Messages.filter((m) => !failed.has(m.MessageId as string));
    // Each entry's result is checked: one left undeleted would be handled again after its visibility timeout.
    await deleteMessagesAll(
      poller,
      url,
      done.map((m) => m.ReceiptHandle as string),
    );
    this.options.onBatch?.(url, Messages.length);
    return Messages.length;
  }

  /** One round over every queue and the sweep; returns the messages handled. */
  async tick(): Promise<number> {
    let handled = 0;
    for (const [url, handler, poller] of this.feeds) handled += await this.drain(url, handler, poller);
    const now = Date.now();
    if (now - this.sweptAt >= (this.options.sweepEveryMs ?? 0)) {
      this.sweptAt = now;
      handled += (await this.sweep()).handed;
    }
    return handled;
  }

  /** Ticks until a round handles nothing (or `maxRounds`). */
  async settle(maxRounds = 200): Promise<void> {
    for (let round = 0; round < maxRounds; round++) if ((await this.tick()) === 0) return;
  }
}

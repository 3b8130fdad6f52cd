/**
 * The invoke function: runs the tasks of participants the engine calls itself (lib/aws/targets.ts)
 * from the invoke queue, and queues each answer as a reply. A state machine's execution is answered
 * by polling it: after StartExecution a poll message goes back on the invoke queue with a delay
 * (10 s, doubling up to SQS's 15 minutes); a poll that finds the execution ended queues its reply,
 * else the next poll. The status-change event AWS puts on the bus (best effort) is a shortcut: the
 * second reply for the same task and attempt is ignored by the engine.
 */

import type { Logger } from "@aws-lambda-powertools/logger";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { EngineError } from "../errors.js";
import type { WireTask } from "../runtime/wire.js";
import type { AwsDeps } from "./deps.js";
import { MAX_SQS_DELAY_S } from "./dispatcher.js";
import {
  type BatchResult,
  cannotApply,
  deadLetter,
  edgeLogger,
  type LambdaContext,
  processBatch,
  type SqsBatch,
  type SqsRecord,
} from "./edge.js";
import { aws } from "./table.js";
import {
  callTarget,
  DEFAULT_TARGET_TIMEOUT_MS,
  describeExecution,
  parseTarget,
  type TargetClients,
} from "./targets.js";

/** Seconds before the first poll of an execution; each next one waits twice as long, up to 15 minutes. */
export const FIRST_POLL_DELAY_S = 10;

/** A poll message on the invoke queue: ask how `execution` is, `delay` seconds after the last ask. */
export interface ExecutionPoll {
  readonly docket_poll: { readonly execution: string; readonly delay: number };
}

type OffloadedTask = WireTask & { fields_ref?: { key: string } };

/** A task whose fields were offloaded, with its fields back (a failed read throws: retried). */
async function withFields(deps: AwsDeps, task: OffloadedTask): Promise<WireTask> {
  if (!task.fields_ref) return task;
  const { fields_ref, ...rest } = task;
  return { ...rest, fields: JSON.parse(await deps.payloads.get(`s3ref:${fields_ref.key}`)) };
}

/** Puts a poll of `execution` on the invoke queue, `delay` seconds from now. */
async function queuePoll(deps: AwsDeps, execution: string, delay: number): Promise<void> {
  const queue = deps.resources.queues.invoke;
  if (!queue) throw new EngineError("Configuration", "no invoke queue to poll an execution from");
  const body: ExecutionPoll = { docket_poll: { execution, delay } };
  await aws(`queueing a poll of ${execution}`, () =>
    deps.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: queue,
        MessageBody: JSON.stringify(body),
        DelaySeconds: Math.min(delay, MAX_SQS_DELAY_S),
      }),
    ),
  );
}

class InvokeEdge {
  constructor(
    private readonly deps: AwsDeps,
    private readonly clients: TargetClients,
  ) {}

  private get timeoutMs(): number {
    return this.deps.resources.targetTimeoutMs ?? DEFAULT_TARGET_TIMEOUT_MS;
  }

  /** One invoke-queue message: a task to run, or a poll of an execution. */
  async handle(record: SqsRecord, log: Logger): Promise<void> {
    let body: unknown;
    try {
      body = JSON.parse(record.body);
    } catch {
      return deadLetter(this.deps, record, "not JSON", log);
    }
    try {
      const poll = (body as Partial<ExecutionPoll>).docket_poll;
      if (poll) await this.poll(poll, log);
      else await this.run(await withFields(this.deps, body as OffloadedTask), record, log);
    } catch (error) {
      if (cannotApply(error)) return deadLetter(this.deps, record, error.message, log);
      throw error;
    }
  }

  private async run(task: WireTask, record: SqsRecord, log: Logger): Promise<void> {
    const participant = task.task?.participant;
    log.appendKeys({ instance: task.task?.instance, task: task.task?.id, participant });
    const spec = this.deps.resources.targets?.[participant];
    if (!spec) return deadLetter(this.deps, record, `participant ${participant} has no target`, log);
    const outcome = await callTarget(this.clients, parseTarget(participant, spec), task, this.timeoutMs);
    if ("reply" in outcome) await this.deps.runtime.reply(outcome.reply);
    else await queuePoll(this.deps, outcome.execution, FIRST_POLL_DELAY_S);
  }

  private async poll(poll: ExecutionPoll["docket_poll"], log: Logger): Promise<void> {
    log.appendKeys({ execution: poll.execution });
    const state = await describeExecution(this.clients.sfn, poll.execution, this.timeoutMs);
    if (state === "running")
      return queuePoll(this.deps, poll.execution, Math.min(poll.delay * 2, MAX_SQS_DELAY_S));
    if (state.reply) {
      log.appendKeys({ instance: state.reply.task.instance, task: state.reply.task.id });
      await this.deps.runtime.reply(state.reply);
    } else log.warn("the execution ended, but its input is not a docket task: nothing to answer");
  }
}

/** Tasks of participants the engine calls itself: run each on its target and queue the reply. */
export function makeInvokeHandler(deps: AwsDeps) {
  const log = edgeLogger("invoke");
  let edge: InvokeEdge | undefined;
  return (event: SqsBatch, context?: LambdaContext): Promise<BatchResult> => {
    const timeout = deps.resources.targetTimeoutMs ?? DEFAULT_TARGET_TIMEOUT_MS;
    // Made on first use, kept by the container; a made client stops a call at the target timeout too.
    const requestHandler = { requestTimeout: timeout, throwOnRequestTimeout: true };
    edge ??= new InvokeEdge(deps, {
      lambda: deps.clients.lambda ?? new LambdaClient({ requestHandler }),
      sfn: deps.clients.sfn ?? new SFNClient({ requestHandler }),
    });
    const current = edge;
    // In parallel: one slow target does not make the others wait (each call has its time limit).
    return processBatch(event, log, (record, recordLog) => current.handle(record, recordLog), {
      context,
      metrics: deps.metrics,
    });
  };
}

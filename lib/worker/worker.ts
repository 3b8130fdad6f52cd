/**
 * The worker SDK's loop, the same over either connection (an SQS queue on AWS, `docket serve`'s
 * task API embedded): receive up to `concurrency` tasks, run the handler on each, reply, and only
 * then acknowledge, so a crash between the two redelivers the task (a reply sent twice is applied
 * once: the engine ignores the second). On stop it takes no more tasks, lets the ones it holds
 * finish within a grace period, and releases the rest for another worker.
 */
import { DocketError, isCriticalError } from "../errors.js";
import type { Json, JsonObject } from "../language/model.js";
import { asReply, failure, taskRef, type WireReply, type WireTask } from "../runtime/wire.js";
import { type Heartbeats, quarterOf, throttled, together } from "./heartbeat.js";
import { type FieldsCheck, type FieldsSchema, fieldsCheck } from "./schemas.js";

export { CriticalError } from "../errors.js";

/** A task as a handler sees it. */
export interface WorkerTask {
  readonly id: string;
  readonly instance: string;
  readonly node: string;
  readonly participant: string;
  readonly attempt: number;
  readonly fields: JsonObject;
  /** The action's `heartbeat` in seconds, when it has one: call `heartbeat()` more often than this. */
  readonly heartbeatSeconds?: number;
  /**
   * Keeps the task's lease (SQS visibility, the embedded lease) for another lease period and, for
   * an action with `heartbeat`, tells the engine the task is alive (`details`: progress, shown on
   * the task). Call it as often as you like: each goes at most once per quarter of the lease, or
   * of the heartbeat (lib/worker/heartbeat.ts). Never rejects: a failed send is logged.
   */
  heartbeat(details?: Json): Promise<void>;
  /** Aborted when the worker stops before the handler is done: the task is being released. */
  readonly signal: AbortSignal;
}

/**
 * What a handler returns: fields (a `done` reply), nothing (done, no fields), or a reply of its own
 * `{ status, fields?, error? }`; anything else is a `critical` BadReply. A thrown Error is an
 * `error` reply (retried per the action's `retry`), a thrown CriticalError a `critical` one.
 */
export type HandlerResult =
  | JsonObject
  | undefined
  | {
      readonly status: "done" | "error" | "critical";
      readonly fields?: JsonObject;
      readonly error?: { code?: string; message?: string };
    };

/** Returns a HandlerResult (typed `unknown` so that a handler returning nothing type-checks). */
export type Handler = (task: WorkerTask) => unknown;

/** One task received: its wire form (fields downloaded when offloaded) and what can be done with it. */
export interface Delivery {
  readonly task: WireTask;
  reply(reply: WireReply): Promise<void>;
  /** Removes the task from the queue (after its reply). */
  acknowledge(): Promise<void>;
  /** Keeps the task leased for `seconds` from now. */
  extend(seconds: number): Promise<void>;
  /** Gives the task back at once, for another worker. */
  release(): Promise<void>;
}

/**
 * A connection's lease, in whole seconds within what its queue takes: refused when made (exit 2
 * for `docket worker --lease`), not by every claim after (a worker that could never take a task).
 */
export function checkedLease(seconds: number, max: number, who: string): number {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > max)
    throw new DocketError(
      "UsageError",
      `a lease must be a whole number of seconds from 1 to ${max} (${who} for at most ${max} s), got ${seconds}`,
    );
  return seconds;
}

/** Where tasks come from and replies go: lib/worker/sqs.ts, lib/worker/http.ts. */
export interface Connection {
  /** How long a received task stays leased, and what a heartbeat extends it by. */
  readonly leaseSeconds: number;
  /** The largest reply it can carry, in bytes of JSON (SQS: 256 KiB a message). */
  readonly maxReplyBytes: number;
  /**
   * Long-polls for up to `max` tasks. Not interrupted by a stop: a poll cut short could have
   * taken tasks that no one would then hold until their lease ran out; the worker gives back
   * what a poll brings once it is stopping.
   */
  receive(max: number): Promise<Delivery[]>;
}

export interface WorkerOptions {
  readonly participant: string;
  readonly handler: Handler;
  readonly connection: Connection;
  /** How many tasks run at once; default 1. */
  readonly concurrency?: number;
  /**
   * The fields the handler takes and gives, each a JSON Schema, a Standard Schema validator or a
   * check of its own (lib/worker/schemas.ts): a task that does not match is answered `critical`
   * and never reaches the handler; a result that does not match is an `error` reply.
   */
  readonly schemas?: { readonly input?: FieldsSchema; readonly output?: FieldsSchema };
  /** Replies already sent, by task id: a redelivered task is answered from here, not run again. */
  readonly idempotency?: IdempotencyStore;
  readonly log?: (line: string) => void;
}

/** lib/worker/idempotency.ts: SQLite and DynamoDB. */
export interface IdempotencyStore {
  get(task: string): Promise<WireReply | undefined>;
  /** Keeps a task's reply unless one is kept already; resolves with the one kept (the first). */
  put(task: string, reply: WireReply): Promise<WireReply>;
}

export interface Worker {
  /** Resolves once the worker has stopped (after `stop`). */
  readonly stopped: Promise<void>;
  /** Takes no more tasks; waits up to `graceMs` (default 30 s) for the ones held, then releases the rest. */
  stop(graceMs?: number): Promise<void>;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** What a handler's outcome becomes on the wire. */
function replyOf(task: WireTask, outcome: PromiseSettledResult<unknown>): WireReply {
  if (outcome.status === "fulfilled") return asReply(task, outcome.value ?? {});
  const error = outcome.reason;
  if (isCriticalError(error)) return failure(taskRef(task), "critical", error.code, error.message);
  const code = error instanceof DocketError ? error.code : error instanceof Error ? error.name : "Error";
  return failure(taskRef(task), "error", code, message(error));
}

interface Checks {
  readonly input?: FieldsCheck;
  readonly output?: FieldsCheck;
}

/** The task's fields as its schema wants them, else a critical reply naming every problem. */
async function checked(checks: Checks, task: WireTask): Promise<WireReply | undefined> {
  const problems = (await checks.input?.(task.fields)) ?? [];
  if (!problems.length) return undefined;
  return failure(taskRef(task), "critical", "BadFields", `the task's fields: ${problems.join("; ")}`);
}

/**
 * A reply too large for the connection becomes an `error` reply saying so: sent as it is, it would
 * be refused on every redelivery of the task, and the instance would never hear of it.
 */
function sized(reply: WireReply, maxBytes: number): WireReply {
  const bytes = new TextEncoder().encode(JSON.stringify(reply)).length;
  if (bytes <= maxBytes) return reply;
  const text = `the reply is ${bytes} bytes, over the ${maxBytes} its connection carries: keep large data elsewhere (S3) and reply with where it is`;
  return failure(reply.task, "error", "ReplyTooLarge", text);
}

/** A done reply whose fields break the output schema becomes an `error` reply (retried). */
async function checkedResult(checks: Checks, reply: WireReply): Promise<WireReply> {
  if (reply.status !== "done" || !checks.output) return reply;
  const problems = await checks.output(reply.fields ?? {});
  if (!problems.length) return reply;
  return failure(reply.task, "error", "BadResult", `the handler's fields: ${problems.join("; ")}`);
}

export function createWorker(options: WorkerOptions): Worker {
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const log = options.log ?? ((line: string) => console.error(line));
  const polling = new AbortController();
  const held = new Map<Delivery, { done: Promise<void>; abort: AbortController }>();
  const { input, output } = options.schemas ?? {};
  const checks: Checks = { input: input && fieldsCheck(input), output: output && fieldsCheck(output) };

  /** The lease extended, and the engine told when the action has a heartbeat (each throttled). */
  function taskHeartbeats(delivery: Delivery): Heartbeats {
    const { leaseSeconds } = options.connection;
    const lease = throttled(() => delivery.extend(leaseSeconds), quarterOf(leaseSeconds), log);
    const seconds = delivery.task.task.heartbeat;
    if (seconds === undefined) return lease;
    const task = taskRef(delivery.task);
    const toEngine = (details?: Json) =>
      delivery.reply({ task, status: "heartbeat", ...(details === undefined ? {} : { details }) });
    return together([lease, throttled(toEngine, quarterOf(seconds), log)]);
  }

  async function run(delivery: Delivery, abort: AbortController): Promise<void> {
    const { task } = delivery;
    const remembered = await options.idempotency?.get(task.task.id);
    let reply = remembered ?? (await checked(checks, task));
    if (!reply) {
      const beats = taskHeartbeats(delivery);
      // A released task is another worker's: its lease and the engine hear no more from this one.
      abort.signal.addEventListener("abort", () => void beats.close(), { once: true });
      const handlerTask: WorkerTask = {
        ...taskRef(task),
        ...(task.task.heartbeat === undefined ? {} : { heartbeatSeconds: task.task.heartbeat }),
        fields: task.fields,
        signal: abort.signal,
        heartbeat: (details) => beats.beat(details),
      };
      const [outcome] = await Promise.allSettled([(async () => options.handler(handlerTask))()]);
      // No heartbeat may follow the reply (on a FIFO group it would land after it), nor extend a
      // lease on a deleted message: the one under way is waited for.
      await beats.close();
      if (abort.signal.aborted) return; // released already: another worker answers it
      const result = await checkedResult(checks, replyOf(task, outcome as PromiseSettledResult<unknown>));
      reply = sized(result, options.connection.maxReplyBytes);
    }
    // Kept before it is sent: a reply lost on its way is sent again from the store on redelivery;
    // and when another worker ran the task too, the one reply kept first is the one both send.
    if (!remembered && options.idempotency) reply = await options.idempotency.put(task.task.id, reply);
    await delivery.reply(reply);
    await delivery.acknowledge();
  }

  function start(delivery: Delivery): void {
    const abort = new AbortController();
    const done = run(delivery, abort)
      .catch((error: unknown) => log(`docket worker: task ${delivery.task.task.id}: ${message(error)}`))
      .finally(() => held.delete(delivery));
    held.set(delivery, { done, abort });
  }

  const stopRequested = new Promise<void>((resolve) =>
    polling.signal.addEventListener("abort", () => resolve()),
  );

  async function loop(): Promise<void> {
    let pause = 0;
    while (!polling.signal.aborted) {
      if (held.size >= concurrency) {
        // Full: wait for a task to end, or for a stop (which deals with the tasks held).
        await Promise.race([...[...held.values()].map((h) => h.done), stopRequested]);
        continue;
      }
      try {
        const deliveries = await options.connection.receive(concurrency - held.size);
        for (const delivery of deliveries)
          if (polling.signal.aborted) await delivery.release().catch(() => undefined);
          else start(delivery);
        pause = 0;
      } catch (error) {
        if (polling.signal.aborted) break;
        pause = Math.min(Math.max(pause * 2, 500), 10_000);
        log(
          `docket worker ${options.participant}: receiving failed (${message(error)}); again in ${pause} ms`,
        );
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }

  const looping = loop();
  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 30_000) => {
    stopping ??= (async () => {
      polling.abort();
      await looping;
      const finished = Promise.all([...held.values()].map((h) => h.done));
      const grace = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
      await Promise.race([finished, grace]);
      await Promise.all(
        [...held.entries()].map(async ([delivery, { abort }]) => {
          abort.abort();
          await delivery
            .release()
            .catch((error: unknown) => log(`docket worker: releasing: ${message(error)}`));
        }),
      );
    })();
    return stopping;
  };
  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    resolveStopped = resolve;
  });
  return {
    stopped,
    stop: (graceMs) => stop(graceMs).then(resolveStopped),
  };
}

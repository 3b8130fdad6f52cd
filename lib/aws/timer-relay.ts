/**
 * The timer relay: the timer queue's delayed messages become timer messages in their instance's
 * inbox, and one that comes back early (SQS's delay is at most 15 minutes) goes round again.
 *
 * A timer its instance certainly no longer waits for is dropped here. Most timers are such: an
 * action's `timeout` starts one with every task, and the reply usually comes first. Forwarding it
 * would cost an inbox send, a FIFO receive and delete, an advance invocation and a history note,
 * only for the interpreter to ignore it. The relay reads the instance through the store (strongly
 * consistent reads, as the advance function's) and asks the pure interpreter itself what the timer
 * would do: one that leaves the snapshot as it is is ignored by `transition`, which happens only
 * when the instance has ended or the node no longer holds that timer id, and neither ever changes
 * back (an instance deleted and launched again under its id is read afresh, never from a cache). A failed read throws (SQS delivers the timer again); whatever is in
 * doubt (no instance, an unknown definition, the interpreter refusing) is forwarded, as before.
 */
import { transition } from "../engine/index.js";
import type { TimerMessage } from "../engine/types.js";
import { InfrastructureError } from "../errors.js";
import { SCHEDULE_TIMER_INSTANCE } from "../runtime/schedules.js";
import type { AwsDeps } from "./deps.js";
import {
  type BatchResult,
  deadLetter,
  edgeLogger,
  isObject,
  type LambdaContext,
  parsed,
  processBatch,
  type SqsBatch,
  type SqsRecord,
} from "./edge.js";
import { fireSchedule } from "./schedules.js";
import type { DynamoInstanceStore } from "./store.js";
import type { TimerRef } from "./timers.js";

/** What the timer queue carries (timers.ts timerMessage), or undefined. */
function firedTimer(body: string): TimerRef | undefined {
  const timer = parsed(body);
  return isObject(timer) &&
    typeof timer.timer === "string" &&
    typeof timer.instance === "string" &&
    typeof timer.node === "string" &&
    typeof timer.due === "number"
    ? (timer as unknown as TimerRef)
    : undefined;
}

/** Whether the instance certainly no longer waits for `timer` (see the module's comment). */
export async function timerIsStale(deps: AwsDeps, timer: TimerRef): Promise<boolean> {
  const { store } = deps.runtime.deps;
  // Read afresh: a state this container cached may be of an earlier instance of that id (deleted
  // and launched again), whose timer ids the new one repeats.
  (store as Partial<DynamoInstanceStore>).forget?.(timer.instance);
  let stored: Awaited<ReturnType<typeof store.load>>;
  try {
    stored = await store.load(timer.instance);
  } catch (error) {
    // What is only unreachable is retried; what can never load (a definition gone, a replay
    // refused) is the advance function's to judge: forwarded.
    if (error instanceof InfrastructureError) throw error;
    return false;
  }
  if (!stored) return false;
  const definition = await deps.definitions.byHash(stored.definition);
  if (!definition) return false;
  const message: TimerMessage = { type: "timer", node: timer.node, timer: timer.timer };
  try {
    return transition(definition, stored.snapshot, message, deps.now()).snapshot === stored.snapshot;
  } catch {
    return false;
  }
}

/** One fired timer: back to the timer queue when SQS's delay fell short, dropped when stale, else to the inbox. */
async function relayTimer(deps: AwsDeps, record: SqsRecord, log: ReturnType<typeof edgeLogger>) {
  const timer = firedTimer(record.body);
  if (!timer) return deadLetter(deps, record, "not a timer", log);
  log.appendKeys({ instance: timer.instance, node: timer.node, timer: timer.timer });
  if (timer.due > deps.now()) return deps.dispatcher.sendTimer(timer);
  // A schedule's fire launches its process (lib/aws/schedules.ts); it has no instance's inbox.
  if (timer.instance === SCHEDULE_TIMER_INSTANCE) {
    const outcome = await fireSchedule(deps, timer, (line) => log.info(line));
    if (outcome) log.info("schedule fired", { ...outcome });
    return;
  }
  if (await timerIsStale(deps, timer)) {
    log.debug("dropped: the instance no longer waits for this timer");
    return;
  }
  await deps.dispatcher.enqueue(timer.instance, { type: "timer", node: timer.node, timer: timer.timer });
}

/** Fired timers (the timer queue's delayed messages) become timer messages in the instance's inbox. */
export function makeTimerRelayHandler(deps: AwsDeps) {
  const log = edgeLogger("timer-relay");
  return (event: SqsBatch, context?: LambdaContext): Promise<BatchResult> =>
    processBatch(event, log, (record, recordLog) => relayTimer(deps, record, recordLog), {
      context,
      metrics: deps.metrics,
    });
}

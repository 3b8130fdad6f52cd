/**
 * How the engine's functions, their queues and their event sources are sized together, by AWS's
 * documented rules (test/cdk/sizing.test.ts checks every event source mapping against them):
 *
 * - A queue that feeds a function has a visibility timeout of at least six times the function's
 *   timeout, so Lambda can retry a batch it was throttled on before the messages reappear
 *   (Lambda Developer Guide, "Creating and configuring an Amazon SQS event source mapping").
 * - A FIFO event source takes batches of at most 10 (Lambda Developer Guide, "Lambda parameters for
 *   Amazon SQS event source mappings": BatchSize, FIFO maximum 10).
 * - A message that keeps failing is dead-lettered only after maxReceiveCount receives, each a
 *   visibility timeout apart: maxReceiveCount x visibility >= one hour lets an hour-long outage
 *   (of DynamoDB, S3, a target) pass without dead-lettering anything.
 * - The invoke function calls one target per invocation (batch size 1): a slow target then times
 *   out alone, and its redelivery never calls the batch's other targets again.
 */
import { Duration } from "aws-cdk-lib";

/** Every function but the invoke function: a batch of ten steps takes well under a second. */
export const FUNCTION_TIMEOUT = Duration.seconds(30);

/** Worker-fed queues: a worker has this long to answer before a task is handed out again. */
export const WORKER_VISIBILITY = Duration.seconds(180);

/** The default time one target call may take (`targetTimeout`). */
export const DEFAULT_TARGET_TIMEOUT = Duration.seconds(60);

/** The invoke function's time beyond its one target call: reading offloaded fields, queueing the reply. */
export const INVOKE_MARGIN = Duration.seconds(30);

/** Lambda's longest function timeout. */
export const MAX_FUNCTION_TIMEOUT = Duration.minutes(15);

/** How long an outage may last before a message that keeps failing goes to its dead-letter queue. */
export const OUTAGE_TOLERATED = Duration.hours(1);

/** The most messages a Lambda event source may take from a FIFO queue at once. */
export const MAX_FIFO_BATCH = 10;

/** Six times the function timeout (AWS's rule for a queue feeding a function). */
export function visibilityFor(functionTimeout: Duration): Duration {
  return Duration.seconds(6 * functionTimeout.toSeconds());
}

/** Receives enough that a message survives OUTAGE_TOLERATED of failures; never fewer than five. */
export function maxReceiveCountFor(visibility: Duration): number {
  return Math.max(5, Math.ceil(OUTAGE_TOLERATED.toSeconds() / visibility.toSeconds()));
}

/** The invoke function's timeout: one target call and the margin, within Lambda's 15 minutes. */
export function invokeTimeoutFor(targetTimeout: Duration): Duration {
  const seconds = targetTimeout.toSeconds() + INVOKE_MARGIN.toSeconds();
  const most = MAX_FUNCTION_TIMEOUT.toSeconds() - INVOKE_MARGIN.toSeconds();
  if (targetTimeout.toSeconds() < 1 || seconds > MAX_FUNCTION_TIMEOUT.toSeconds())
    throw new Error(
      `DocketEngine: targetTimeout must be between 1 and ${most} seconds (Lambda's 15-minute limit less ${INVOKE_MARGIN.toSeconds()} s for the reply); it is ${targetTimeout.toSeconds()} s`,
    );
  return Duration.seconds(seconds);
}

/**
 * Participant queues are named, not listed: participant p's queue is `<prefix>p`, the prefix unique
 * to one engine (its stack and construct path), so the functions need only the prefix, whatever the
 * number of participants, and the advance role one SendMessage statement on `<prefix>*` (a role's
 * inline policies are limited to 10,240 characters: IAM User Guide, "IAM and AWS STS quotas").
 */
import { createHash } from "node:crypto";
import { Stack, Token } from "aws-cdk-lib";
import type { IConstruct } from "constructs";

/** An SQS queue name has at most 80 characters (SQS API Reference, CreateQueue: QueueName). */
export const MAX_QUEUE_NAME = 80;

/** `<up to 10 characters of the stack name>-<8 hex of stack name and path>-`: at most 20 characters. */
export const PREFIX_LENGTH = 20;

/** The longest participant name with a queue of its own. */
export const MAX_PARTICIPANT_NAME = MAX_QUEUE_NAME - PREFIX_LENGTH;

export function participantQueuePrefix(engine: IConstruct): string {
  const stack = Stack.of(engine);
  const stackName = Token.isUnresolved(stack.stackName) ? "" : stack.stackName;
  const hash = createHash("sha256").update(`${stackName}/${engine.node.path}`).digest("hex").slice(0, 8);
  const readable = stackName.replace(/[^A-Za-z0-9-]/g, "").slice(0, 10);
  return `${readable || "docket"}-${hash}-`;
}

/** Each name must make a queue name with the prefix; the error says which and why. */
export function validateParticipants(names: readonly string[]): void {
  for (const name of names)
    if (!new RegExp(`^[A-Za-z0-9_-]{1,${MAX_PARTICIPANT_NAME}}$`).test(name))
      throw new Error(
        `DocketEngine: participant "${name}" cannot name a queue; use letters, digits, _ and - (at most ${MAX_PARTICIPANT_NAME})`,
      );
}

/**
 * A short digest of the participants with queues, put in every function's environment: changing
 * the set changes the functions' configuration, so Lambda starts fresh containers and none keeps a
 * participant it found queueless (the dispatcher remembers those per container).
 */
export function participantSetDigest(names: readonly string[]): string {
  return createHash("sha256")
    .update([...names].sort().join("\n"))
    .digest("hex")
    .slice(0, 12);
}

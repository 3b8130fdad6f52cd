/**
 * The single DynamoDB table: key layout and small helpers. Every item has `pk` and `sk`.
 *
 *   I#<instance>  HEAD                 version, status, snapshot, outbox, definition (+ byStatus keys:
 *                                      listing S#<status>#<shard>, listed <createdAt>#<id>; listing.ts;
 *                                      and in byDefinition by `definition`, the version it pins: versions.ts)
 *   I#<instance>  V#<version, 12 digits>   one step (history; replayed after the head), the launch's too
 *   I#<instance>  V#<version>#n…        a note of a message that met that version and changed nothing
 *   I#<instance>  V#<version>#sent      the marker that the step's commands were sent
 *   I#<instance>  S#<subscription>     pointer to a subscription, to drop them when it ends
 *   D#<hash>      DEF                  a definition's source and name
 *   P#<name>      LATEST | REJECTED    the latest version of a process (and the source last registered), or its rejection
 *   P#<name>      V#<hash>             a registered version of the process (at: when first registered)
 *   CATALOGUE     P#<name> | R#<name>  the processes registered, and the rejected files (one query lists them)
 *   S#<event>#<key or *>  <subscription>  an await subscription
 *   E#<event>     <at, 15 digits>#<id>  a buffered event (expires by TTL)
 *   TIMERS#<due hour, 15 digits>#<shard>  <due, 15 digits>#<timer>  a timer beyond SQS's 15-minute delay (timers.ts)
 *   T#<timer>     TIMER                where that timer is in the index (in: its pk, at: its sk)
 *   TIMERS        CURSOR               the first hour bucket the sweep has not wholly handed over (sweep.ts)
 *   SCHEDULES     <schedule name>      a schedule in force, its plan and its last fire (schedules.ts)
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { InfrastructureError } from "../errors.js";

/** The GSI of instance heads by the definition version they pin (lib/aws/versions.ts; declared by DocketEngine). */
export const DEFINITION_INDEX = "byDefinition";

export interface TableRef {
  readonly client: DynamoDBDocumentClient;
  readonly name: string;
}

export const pad = (n: number, width: number) => String(Math.max(0, Math.floor(n))).padStart(width, "0");
export const instanceKey = (id: string) => `I#${id}`;
export const historyKey = (seq: number) => `H#${pad(seq, 12)}`;

/** Runs an AWS call, wrapping its failure so the cause is kept and the message says what failed. */
export async function aws<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof Error && error.name === "ConditionalCheckFailedException") throw error;
    if (error instanceof Error && error.name === "TransactionCanceledException") throw error;
    throw new InfrastructureError(
      `${what} failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
      { cause: error },
    );
  }
}

/**
 * A stable shard in [0, shards) for `text` (FNV-1a): spreads one logical partition's writes over
 * `shards` partition keys, each read back by asking every shard.
 */
export function shardOf(text: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % shards;
}

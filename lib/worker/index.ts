/**
 * `docket/worker`: a participant's worker, the same handler on AWS (an SQS queue) and embedded
 * (`docket serve`). See the README's Tasks and replies.
 *
 * ```ts
 * import { createWorker, sqsConnection } from "docket/worker";
 * createWorker({
 *   participant: "approve",
 *   connection: sqsConnection({ queue: process.env.QUEUE_URL, participant: "approve" }),
 *   handler: async (task) => ({ approved: task.fields.total < 100 }),
 * });
 * ```
 */
export { type HttpConnectionOptions, httpConnection } from "./http.js";
export { type DynamoIdempotencyOptions, dynamoIdempotency, sqliteIdempotency } from "./idempotency.js";
export type { FieldsCheck, FieldsSchema, StandardSchema } from "./schemas.js";
export { type SqsConnectionOptions, sqsConnection } from "./sqs.js";
export {
  type Connection,
  CriticalError,
  createWorker,
  type Delivery,
  type Handler,
  type HandlerResult,
  type IdempotencyStore,
  type Worker,
  type WorkerOptions,
  type WorkerTask,
} from "./worker.js";

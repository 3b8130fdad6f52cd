/** Lambda: see makeTimerRelayHandler in lib/aws/timer-relay.ts. */
import { defaultAwsDeps } from "../lib/aws/deps.js";
import type { LambdaContext, SqsBatch } from "../lib/aws/edge.js";
import { makeTimerRelayHandler } from "../lib/aws/timer-relay.js";

// One handler per container: it keeps its logger (and the deps their clients).
let handle: ReturnType<typeof makeTimerRelayHandler> | undefined;

export const handler = (event: SqsBatch, context?: LambdaContext) => {
  handle ??= makeTimerRelayHandler(defaultAwsDeps());
  return handle(event, context);
};

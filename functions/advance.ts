/** Lambda: see makeAdvanceHandler in lib/aws/handlers.ts. */
import { defaultAwsDeps } from "../lib/aws/deps.js";
import type { LambdaContext, SqsBatch } from "../lib/aws/edge.js";
import { makeAdvanceHandler } from "../lib/aws/handlers.js";

// One handler per container: it keeps its logger (and the deps their clients).
let handle: ReturnType<typeof makeAdvanceHandler> | undefined;

export const handler = (event: SqsBatch, context?: LambdaContext) => {
  handle ??= makeAdvanceHandler(defaultAwsDeps());
  return handle(event, context);
};

/** Lambda: see makeIngestHandler in lib/aws/handlers.ts. */
import { defaultAwsDeps } from "../lib/aws/deps.js";
import type { LambdaContext, SqsBatch } from "../lib/aws/edge.js";
import { makeIngestHandler } from "../lib/aws/handlers.js";

// One handler per container: it keeps its logger (and the deps their clients).
let handle: ReturnType<typeof makeIngestHandler> | undefined;

export const handler = (event: SqsBatch, context?: LambdaContext) => {
  handle ??= makeIngestHandler(defaultAwsDeps());
  return handle(event, context);
};

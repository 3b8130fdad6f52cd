/** Lambda: see makeInvokeHandler in lib/aws/invoke.ts (lambda:, http: and sfn: participants). */
import { defaultAwsDeps } from "../lib/aws/deps.js";
import type { LambdaContext, SqsBatch } from "../lib/aws/edge.js";
import { makeInvokeHandler } from "../lib/aws/invoke.js";

// One handler per container: it keeps its Lambda and Step Functions clients.
let handle: ReturnType<typeof makeInvokeHandler> | undefined;

export const handler = (event: SqsBatch, context?: LambdaContext) => {
  handle ??= makeInvokeHandler(defaultAwsDeps());
  return handle(event, context);
};

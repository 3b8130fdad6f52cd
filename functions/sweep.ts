/** Lambda, run by the rate(1 minute) rule: see makeSweepHandler in lib/aws/handlers.ts. */
import { defaultAwsDeps } from "../lib/aws/deps.js";
import type { LambdaContext } from "../lib/aws/edge.js";
import { makeSweepHandler } from "../lib/aws/handlers.js";

let handle: ReturnType<typeof makeSweepHandler> | undefined;

// The context's remaining time is the sweep's deadline: it stops in time and the next sweep carries on.
export const handler = (event: unknown, context?: LambdaContext) => {
  handle ??= makeSweepHandler(defaultAwsDeps());
  return handle(event, context);
};

/** Lambda behind the HTTP API: see makeApiHandler in lib/aws/api.ts. */
import { type HttpApiEvent, makeApiHandler } from "../lib/aws/api.js";
import { defaultAwsDeps } from "../lib/aws/deps.js";
import type { LambdaContext } from "../lib/aws/edge.js";

// One handler per container: it keeps its logger (and the deps their clients and caches).
let handle: ReturnType<typeof makeApiHandler> | undefined;

export const handler = (event: HttpApiEvent, context?: LambdaContext) => {
  handle ??= makeApiHandler(defaultAwsDeps());
  return handle(event, context);
};

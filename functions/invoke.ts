/** Lambda: see makeInvokeHandler in lib/aws/handlers.ts (lambda:, http: and sfn: participants). */
import { defaultAwsDeps } from "../lib/aws/deps.js";
import { makeInvokeHandler } from "../lib/aws/handlers.js";

let handle: ReturnType<typeof makeInvokeHandler> | undefined;

export const handler = (event: Parameters<ReturnType<typeof makeInvokeHandler>>[0]) => {
  // One handler per container: it keeps its Lambda and Step Functions clients.
  handle ??= makeInvokeHandler(defaultAwsDeps());
  return handle(event);
};

/** Lambda: see makeTimerRelayHandler in lib/aws/handlers.ts. */
import { defaultAwsDeps } from "../lib/aws/deps.js";
import { makeTimerRelayHandler } from "../lib/aws/handlers.js";

export const handler = (event: Parameters<ReturnType<typeof makeTimerRelayHandler>>[0]) =>
  makeTimerRelayHandler(defaultAwsDeps())(event);

/** Lambda: see makeAdvanceHandler in lib/aws/handlers.ts. */
import { defaultAwsDeps } from "../lib/aws/deps.js";
import { makeAdvanceHandler } from "../lib/aws/handlers.js";

export const handler = (event: Parameters<ReturnType<typeof makeAdvanceHandler>>[0]) =>
  makeAdvanceHandler(defaultAwsDeps())(event);

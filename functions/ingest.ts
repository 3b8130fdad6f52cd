/** Lambda: see makeIngestHandler in lib/aws/handlers.ts. */
import { defaultAwsDeps } from "../lib/aws/deps.js";
import { makeIngestHandler } from "../lib/aws/handlers.js";

export const handler = (event: Parameters<ReturnType<typeof makeIngestHandler>>[0]) =>
  makeIngestHandler(defaultAwsDeps())(event);

/** Lambda: see makeRegisterHandler in lib/aws/handlers.ts. */
import { defaultAwsDeps } from "../lib/aws/deps.js";
import { makeRegisterHandler } from "../lib/aws/handlers.js";

export const handler = (event: Parameters<ReturnType<typeof makeRegisterHandler>>[0]) =>
  makeRegisterHandler(defaultAwsDeps())(event);

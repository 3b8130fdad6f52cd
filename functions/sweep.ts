/** Lambda, run by the rate(1 minute) rule: see makeSweepHandler in lib/aws/handlers.ts. */
import { defaultAwsDeps } from "../lib/aws/deps.js";
import { makeSweepHandler } from "../lib/aws/handlers.js";

export const handler = () => makeSweepHandler(defaultAwsDeps())();

export { checkMessage } from "./check.js";
export { STEP_BUDGET } from "./machine.js";
export { CONSUMED_WINDOW_MS, mayTake } from "./messages.js";
export { currentPath, type Migration, type MigrationPlan, migrate } from "./migrate.js";
export { checkSemantics, MAX_BACKOFF_S, SEMANTICS, upgradeSnapshot } from "./semantics.js";
export { transition } from "./transition.js";
export * from "./types.js";

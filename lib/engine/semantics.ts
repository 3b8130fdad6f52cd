/**
 * What lets an instance outlive the docket that started it: the snapshot's format, upgraded on
 * read by plain functions, and the interpreter's semantics version, recorded with every step.
 *
 * A snapshot is state; a step is a message applied by rules. The AWS store keeps a snapshot every
 * few steps and replays the steps after it, so a rule that changed between the docket that wrote a
 * step and the one that replays it would replay it differently. So every rule docket has shipped
 * stays in the interpreter: a change adds a semantics version and a test of `m.semantics` where
 * the rule lives, each step records the version it was applied under, and replay applies it under
 * that version again. New steps take the newest. (What Temporal users write by hand as patching,
 * docket does inside its interpreter, where the users never see it.)
 *
 * Semantics versions:
 *   1. Everything up to docket's upgrade safety: the first one.
 *   2. A retry's backoff stops doubling at one day (or at the action's own backoff when that is
 *      longer): under 1, `backoff: PT1M` with `retry: 30` could wait 2^29 minutes.
 *
 * Snapshot formats:
 *   1. The first one.
 *   2. Records `semantics`: the version its last step was applied under.
 */
import { EngineError } from "../errors.js";
import { SNAPSHOT_FORMAT, type Snapshot } from "./types.js";

export const SEMANTICS = 2;

/** Semantics 2: the longest wait between retries, in seconds. */
export const MAX_BACKOFF_S = 24 * 60 * 60;

/** Snapshots of each past format, made into the next one; index 1 takes format 1 to 2. */
const UPGRADES: Record<number, (snapshot: Record<string, unknown>) => Record<string, unknown>> = {
  1: (snapshot) => ({ ...snapshot, format: 2, semantics: 1 }),
};

/**
 * A stored snapshot in the current format: one of a past format is upgraded step by step; one of a
 * newer format, or written under newer semantics than this interpreter has, is refused (a docket
 * rolled back past the one that wrote it would get it wrong).
 */
export function upgradeSnapshot(stored: unknown): Snapshot {
  let snapshot = stored as Record<string, unknown>;
  const format = snapshot?.format;
  if (typeof format !== "number" || !Number.isInteger(format) || format < 1)
    throw new EngineError(
      "SnapshotFormat",
      `a stored snapshot has no known format (${JSON.stringify(format)})`,
    );
  if (format > SNAPSHOT_FORMAT)
    throw new EngineError(
      "SnapshotFormat",
      `instance ${String(snapshot.id)} was written in snapshot format ${format} by a newer docket; this one reads up to ${SNAPSHOT_FORMAT}: deploy the newer docket`,
    );
  for (let from = format; from < SNAPSHOT_FORMAT; from++)
    snapshot = (UPGRADES[from] as (typeof UPGRADES)[1])(snapshot);
  checkSemantics(String(snapshot.id), snapshot.semantics as number);
  return snapshot as unknown as Snapshot;
}

/** Refuses a semantics version this interpreter does not have. */
export function checkSemantics(instance: string, semantics: number): void {
  if (Number.isInteger(semantics) && semantics >= 1 && semantics <= SEMANTICS) return;
  throw new EngineError(
    "SemanticsVersion",
    `instance ${instance} has a step applied under semantics ${semantics}; this docket has 1 to ${SEMANTICS}: ${semantics > SEMANTICS ? "deploy the newer docket that wrote it" : "the stored state is damaged"}`,
  );
}

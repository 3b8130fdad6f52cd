/**
 * A migrate message as a step of the advance loop: the instance moved to the new version's
 * definition (engine/migrate.ts), or left as it is with every problem noted `rejected`. The same
 * for a new step and a replayed one (the AWS store replays steps after its last snapshot), so the
 * definition every later step runs under is the one the migration chose.
 */

import { migrate } from "../engine/migrate.js";
import { SEMANTICS } from "../engine/semantics.js";
import type { MigrateMessage, Snapshot, TransitionResult } from "../engine/types.js";
import { EngineError } from "../errors.js";
import type { Definition } from "../language/model.js";
import type { DefinitionStore } from "../ports.js";

export interface MigrationStep {
  readonly result: TransitionResult;
  /** The definition the instance is on after the step (the new one when it moved). */
  readonly hash: string;
  readonly definition: Definition;
}

export async function migrationStep(
  definitions: Pick<DefinitionStore, "byHash">,
  current: { readonly hash: string; readonly definition: Definition },
  snapshot: Snapshot,
  message: MigrateMessage,
  now: number,
  semantics = SEMANTICS,
): Promise<MigrationStep> {
  const refused = (reason: string): MigrationStep => ({
    result: { snapshot, commands: [], notes: [{ kind: "rejected", reason }] },
    ...current,
  });
  const target = await definitions.byHash(message.to);
  if (!target)
    throw new EngineError(
      "UnknownDefinition",
      `definition version ${message.to} to migrate to is not stored`,
    );
  if (target.name !== current.definition.name)
    return refused(
      `migrate to ${message.to.slice(0, 12)}: it is a version of ${target.name}, not ${current.definition.name}`,
    );
  const { plan, snapshot: moved } = migrate(snapshot, current.definition, target, message.to, message.map);
  if (!moved) return refused(`migrate to ${message.to.slice(0, 12)} refused: ${plan.problems.join("; ")}`);
  const next: Snapshot = {
    ...moved,
    steps: snapshot.steps + 1,
    updatedAt: now,
    semantics: Math.max(snapshot.semantics, semantics),
  };
  return { result: { snapshot: next, commands: [], notes: [] }, hash: message.to, definition: target };
}

/**
 * A migrate message as a step of the advance loop: the instance moved to the new version's
 * definition (engine/migrate.ts), or left as it is with every problem noted `rejected`. The same
 * for a new step and a replayed one (the AWS store replays steps after its last snapshot), so the
 * definition every later step runs under is the one the migration chose.
 */

import { migrate } from "../engine/migrate.js";
import { SEMANTICS } from "../engine/semantics.js";
import type { MigrateMessage, Snapshot, TransitionResult } from "../engine/types.js";
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
  const short = (hash: string) => hash.slice(0, 12);
  if (message.from !== undefined && message.from !== current.hash)
    return refused(
      `migrate to ${short(message.to)}: asked of version ${short(message.from)}, the instance is on ${short(current.hash)} now`,
    );
  if (message.to === current.hash)
    return refused(`migrate to ${short(message.to)}: the instance is on that version already`);
  // Refused, not thrown: a version deleted since it was asked for must not block the instance's inbox.
  const target = await definitions.byHash(message.to);
  if (!target) return refused(`migrate to ${short(message.to)}: no such version is stored (deleted since?)`);
  if (target.name !== current.definition.name)
    return refused(
      `migrate to ${short(message.to)}: it is a version of ${target.name}, not ${current.definition.name}`,
    );
  const migration = migrate(snapshot, current.definition, target, message.to, message.map);
  if (!migration.snapshot)
    return refused(`migrate to ${short(message.to)} refused: ${migration.plan.problems.join("; ")}`);
  const next: Snapshot = {
    ...migration.snapshot,
    steps: snapshot.steps + 1,
    updatedAt: now,
    semantics: Math.max(snapshot.semantics, semantics),
  };
  const commands = migration.commands ?? [];
  return { result: { snapshot: next, commands, notes: [] }, hash: message.to, definition: target };
}

/**
 * What the advance loop tells a RuntimeObserver of each step (lib/ports.ts): the step's outcome,
 * its time, and what it started, ended, faulted or suspended, read from the snapshots before and
 * after and the step's notes. An observer is told after the step is saved and sent, and what it
 * throws is swallowed: metrics are never a reason to fail, and so redeliver, a step.
 */
import { FINAL_STATUSES, type Message, type Note, type Snapshot } from "../engine/types.js";
import type { RuntimeObserver, StepObservation, StoredInstance } from "../ports.js";

/** The end of one step: `done` once, with the instance as loaded and its snapshot after. */
export interface StepWatch {
  done(
    outcome: StepObservation["outcome"],
    loaded: StoredInstance | undefined,
    after: Snapshot,
    notes?: readonly Note[],
  ): void;
}

const UNWATCHED: StepWatch = { done() {} };

/** Starts timing a step for `observer` (nothing at all without one). */
export function watchStep(
  observer: RuntimeObserver | undefined,
  instance: string,
  message: Message,
): StepWatch {
  if (!observer) return UNWATCHED;
  const startedAt = performance.now();
  return {
    done(outcome, loaded, after, notes = []) {
      try {
        const before = loaded?.snapshot;
        observer.stepObserved({
          instance,
          process: after.process,
          messageType: message.type,
          outcome,
          elapsedMs: performance.now() - startedAt,
          resentOutbox: (loaded?.outbox.length ?? 0) > 0,
          ...(before ? { statusBefore: before.status } : {}),
          statusAfter: after.status,
          faults: faultsRaised(notes, before, after),
          incidentsOpened: incidentsOpened(before, after),
        });
      } catch {
        // Deliberately ignored: the step is saved and its commands sent; failing it now would
        // only have SQS deliver the message again, to be ignored as a duplicate.
      }
    },
  };
}

/**
 * Faults a step raised: a fault a handler caught is a `waiting` note naming the node that raised
 * it (engine/unwind.ts `raise`; the diagram reads it the same way), and a fault no handler caught
 * ends the instance `faulted`.
 */
export function faultsRaised(notes: readonly Note[], before: Snapshot | undefined, after: Snapshot): number {
  const handled = notes.filter((note) => note.kind === "waiting" && note.node !== undefined).length;
  const unhandled = after.status === "faulted" && before?.status !== "faulted" ? 1 : 0;
  return handled + unhandled;
}

/** Incidents open after the step that were not open before it. */
export function incidentsOpened(before: Snapshot | undefined, after: Snapshot): number {
  if (!after.incidents.length) return 0;
  const open = new Set(before?.incidents.map((incident) => incident.id));
  return after.incidents.filter((incident) => !open.has(incident.id)).length;
}

/** Whether a step ended its instance (it was not in a final status before, and is now). */
export function endedInstance(step: Pick<StepObservation, "statusBefore" | "statusAfter">): boolean {
  const final = (status: StepObservation["statusAfter"] | undefined) =>
    status !== undefined && FINAL_STATUSES.includes(status);
  return final(step.statusAfter) && !final(step.statusBefore);
}

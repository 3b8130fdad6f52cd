/**
 * The quick crash soak (npm run soak runs the full one): faults injected at port calls of the
 * advance loop on the embedded adapters; every run ends as the fault-free one did, with no
 * transition applied twice and no task dispatched twice.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { differences, everySingleFault, faultSchedules, type Mode, runMix } from "./harness.js";

describe.each(["embedded", "outbox"] as Mode[])("crash anywhere (%s)", (mode) => {
  it("ends every instance as a fault-free run does, whichever single port call fails or kills", async () => {
    const reference = await runMix(mode, []);
    expect(reference.problems).toEqual([]);
    expect(Object.keys(reference.instances)).toHaveLength(6);
    let fired = 0;
    // Every seventh call here; the soak takes every call.
    for (const schedule of everySingleFault(reference.calls, 7)) {
      const run = await runMix(mode, schedule);
      fired += run.fired.length;
      expect({ schedule, differences: differences(reference, run) }).toEqual({ schedule, differences: [] });
    }
    expect(fired).toBeGreaterThan(reference.calls / 2);
  }, 120_000);

  it("and under random schedules of several failures and kills", async () => {
    const reference = await runMix(mode, []);
    let restarts = 0;
    await fc.assert(
      fc.asyncProperty(faultSchedules(reference.calls + 20), async (schedule) => {
        const run = await runMix(mode, schedule);
        restarts += run.restarts;
        expect(differences(reference, run)).toEqual([]);
      }),
      { numRuns: 40 },
    );
    expect(restarts).toBeGreaterThan(10);
  }, 120_000);

  it("ends the same when every kind of message is reordered, delayed and duplicated", async () => {
    const reference = await runMix(mode, []);
    await fc.assert(
      fc.asyncProperty(
        fc.integer(),
        fc.option(faultSchedules(reference.calls + 20)),
        async (seed, schedule) => {
          expect(differences(reference, await runMix(mode, schedule ?? [], seed))).toEqual([]);
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);
});

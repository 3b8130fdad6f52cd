/** A quick share of the fuzzing (npm run fuzz runs more): no crash, no hang, only docket's errors. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkMessage } from "../../lib/engine/index.js";
import { definitionSources, drive, moves, readsCleanly, validDefinitions } from "./fuzz.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

describe("fuzzing", () => {
  it("the definition readers take any text: a definition, or a DefinitionError naming the file", () => {
    fc.assert(
      fc.property(definitionSources, (input) => {
        readsCleanly(input);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it("the message check takes any value and only ever lists problems", () => {
    fc.assert(
      fc.property(
        fc.anything({ withNullPrototype: true }),
        fc.constantFrom("reply", "launch", "timer", "event", "child", "operator"),
        (value, type) => {
          expect(Array.isArray(checkMessage(value))).toBe(true);
          expect(
            Array.isArray(checkMessage(value && typeof value === "object" ? { ...value, type } : value)),
          ).toBe(true);
        },
      ),
      { numRuns: RUNS * 3 },
    );
  });

  it("the interpreter takes any stream of messages on any definition without crashing", () => {
    fc.assert(
      fc.property(validDefinitions, moves, (definition, stream) => {
        const snapshot = drive(definition, stream);
        expect(["running", "suspended", "completed", "faulted", "canceled"]).toContain(snapshot.status);
      }),
      { numRuns: RUNS },
    );
  });
});

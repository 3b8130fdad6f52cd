/**
 * A participant's reply is checked without the copy that gives it its type when it is well formed
 * (lib/engine/check.ts checkReply): the same problems, in the same words, as the reply message it
 * becomes, whatever the participant sent.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkMessage, checkReply } from "../../lib/engine/index.js";

const task = fc.record(
  {
    id: fc.oneof(fc.string(), fc.constant(""), fc.integer()),
    node: fc.oneof(fc.constantFrom("0.0", ""), fc.integer()),
    attempt: fc.oneof(fc.integer({ min: -1, max: 3 }), fc.double(), fc.string()),
    instance: fc.string(),
  },
  { requiredKeys: [] },
);
const reply = fc.record(
  {
    task: fc.oneof(task, fc.anything()),
    status: fc.oneof(fc.constantFrom("done", "critical", "error", "heartbeat", "bogus"), fc.anything()),
    fields: fc.oneof(fc.constant(undefined), fc.object(), fc.anything()),
    error: fc.oneof(fc.constant(undefined), fc.record({ code: fc.string() }), fc.string()),
    details: fc.oneof(fc.constant(undefined), fc.string()),
    type: fc.constantFrom("reply", "event", undefined),
  },
  { requiredKeys: ["task", "status"] },
);

describe("a participant's reply", () => {
  it("has the problems of the reply message it becomes", () => {
    fc.assert(
      fc.property(fc.oneof(reply, fc.anything()), (sent) => {
        const asMessage = checkMessage({ ...(sent as object), type: "reply" });
        expect(checkReply(sent)).toEqual(asMessage);
      }),
      { numRuns: 2000 },
    );
  });

  it("well formed, has none", () => {
    expect(checkReply({ task: { id: "i/0/1", node: "0", attempt: 1 }, status: "done", fields: {} })).toEqual(
      [],
    );
    expect(checkReply({ task: { id: "i/0/1", node: "0", attempt: 0 }, status: "done" })).not.toEqual([]);
  });
});

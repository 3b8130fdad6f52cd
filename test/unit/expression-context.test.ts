/**
 * What expressions read of the context: converted for CEL once per value and transition, so a
 * loop's per-iteration expressions cost the same at item 100,000 as at item 1; always what earlier
 * writes of the same transition left; and never by changing the snapshot the transition was given.
 */
import { describe, expect, it } from "vitest";
import { run } from "../../lib/engine/flow.js";
import {
  type Message,
  rootContext,
  SEMANTICS,
  type TaskCommand,
  transition,
} from "../../lib/engine/index.js";
import { Machine } from "../../lib/engine/machine.js";
import { created } from "../../lib/engine/transition.js";
import { readDefinition } from "../../lib/language/index.js";
import type { Json, JsonObject } from "../../lib/language/model.js";

/** A foreach reading the whole list and writing the root scope in every iteration. */
function loop(parallel: boolean) {
  return readDefinition(
    `process: loop
context: { total: 0 }
do:
  - foreach:
      select: context.items
      parallel: ${parallel}
      collect: "inst.current * 2"
      into: doubled
      do:
        - assign: { property: y, value: "inst.current + size(context.items)" }
        - assign: { property: total, value: "context.total + 1" }
`,
    { format: "yaml" },
  );
}

/** Runs a launch of `definition` as transition() would, keeping the machine to look into. */
function launched(definition: ReturnType<typeof loop>, root: JsonObject): Machine {
  const snapshot = created(definition, { type: "launch", instance: "i", fields: root }, 0);
  const m = new Machine(definition, snapshot, 0, SEMANTICS);
  m.start("0");
  run(m);
  return m;
}

const items = (n: number) => Array.from({ length: n }, (_, i) => i);

describe("the context expressions read", () => {
  for (const parallel of [false, true]) {
    it(`is converted in proportion to the items of a ${parallel ? "parallel" : "sequential"} foreach, not their square`, () => {
      const conversions = (n: number) => {
        const m = launched(loop(parallel), { total: 0, items: items(n) });
        const root = m.scopes.get("0") as JsonObject;
        expect(m.status).toBe("completed");
        expect(root.total).toBe(n);
        expect((root.doubled as number[]).slice(-2)).toEqual([2 * n - 4, 2 * n - 2]);
        return m.celConversions;
      };
      const small = conversions(500);
      const large = conversions(2000);
      // Each iteration reads the list (n elements) and writes the scope holding it: converting
      // the list for each expression would make it 3n * n here, and `large` 16 times `small`.
      expect(small).toBeGreaterThan(500); // the list, converted once
      expect(small).toBeLessThan(40 * 500);
      expect(large).toBeLessThan(4.5 * small);
    });
  }

  it("shows each expression what the writes before it left, in the same transition", () => {
    const definition = readDefinition(
      `process: writes
context: { i: 0, seen: [], shadow: outer }
do:
  - while:
      condition: context.i < 4
      do:
        - assign: { property: seen, value: "context.seen + [context.i]" }
        - assign: { property: i, value: "context.i + 1" }
  - foreach:
      select: context.seen
      context: { shadow: inner }
      collect: "[context.shadow, context.seen[inst.current]]"
      into: pairs
      do:
        - assign: { property: seen, value: "context.seen + [inst.current * 10]" }
  - assign: { property: last, value: "context.seen[size(context.seen) - 1]" }
`,
      { format: "yaml" },
    );
    const result = transition(definition, undefined, { type: "launch", instance: "w" }, 0);
    expect(result.snapshot.status).toBe("completed");
    expect(rootContext(result.snapshot)).toEqual({
      i: 4,
      seen: [0, 1, 2, 3, 0, 10, 20, 30],
      shadow: "outer",
      pairs: [
        ["inner", 0],
        ["inner", 1],
        ["inner", 2],
        ["inner", 3],
      ],
      last: 30,
    });
  });

  it("never changes the snapshot or the message it was given, across transitions of a collecting loop", () => {
    const definition = readDefinition(
      `process: frozen
do:
  - foreach:
      select: context.orders
      parallel: true
      collect: "{'id': inst.current.id, 'price': context.price}"
      into: prices
      do: [{ action: quote }]
  - foreach:
      select: context.prices
      collect: "inst.current.price * 2"
      into: doubled
      do: [{ assign: { property: sum, value: "context.sum + inst.current.price" } }]
`,
      { format: "yaml" },
    );
    const orders = [{ id: "a" }, { id: "b" }, { id: "c" }];
    let result = transition(
      definition,
      undefined,
      deepFreeze<Message>({ type: "launch", instance: "f", fields: { orders, sum: 0 } }),
      0,
    );
    const quotes = result.commands.filter((c): c is TaskCommand => c.type === "task");
    expect(quotes).toHaveLength(3);
    // Answered out of order, each transition given a frozen snapshot and a frozen reply.
    for (const [k, price] of [
      [2, 30],
      [0, 10],
      [1, 20],
    ] as const) {
      const task = (quotes[k] as TaskCommand).task;
      const reply = deepFreeze<Message>({ type: "reply", task, status: "done", fields: { price } });
      result = transition(definition, deepFreeze(result.snapshot), reply, 1 + k);
    }
    expect(result.snapshot.status).toBe("completed");
    expect(rootContext(result.snapshot)).toMatchObject({
      prices: [
        { id: "a", price: 10 },
        { id: "b", price: 20 },
        { id: "c", price: 30 },
      ],
      doubled: [20, 40, 60],
      sum: 60,
    });
  });
});

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value as Record<string, Json>)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

import { describe, expect, it } from "vitest";
import type { HistoryPage } from "../../lib/ports.js";
import { withinBytes } from "../../lib/runtime/operations.js";

const record = (seq: number, size: number) => ({
  seq,
  at: 0,
  message: { type: "timer" as const, node: "0", timer: "x".repeat(size) },
  commands: [],
  notes: [],
});

describe("a history page cut to a byte budget", () => {
  it("keeps a page under the budget whole", () => {
    const page: HistoryPage = { records: [record(1, 10), record(2, 10)] };
    expect(withinBytes(page, 10_000)).toBe(page);
  });

  it("cuts a page over the budget and says where the next one starts", () => {
    const page: HistoryPage = { records: [1, 2, 3, 4].map((seq) => record(seq, 1000)) };
    const cut = withinBytes(page, 2500);
    expect(cut.records.map((r) => r.seq)).toEqual([1, 2]);
    expect(cut.next).toBe(2);
  });

  it("never splits a step from the notes that share its seq, and always moves on", () => {
    const page: HistoryPage = { records: [record(1, 1000), record(2, 1000), record(2, 1000)] };
    expect(withinBytes(page, 2500).records.map((r) => r.seq)).toEqual([1]);
    const one: HistoryPage = { records: [record(7, 5000), record(8, 10)] };
    expect(withinBytes(one, 100)).toEqual({ records: [one.records[0]], next: 7 });
  });

  it("counts bytes, not characters", () => {
    const wide = {
      records: [1, 2].map((seq) => ({
        ...record(seq, 0),
        notes: [{ kind: "waiting" as const, reason: "é".repeat(600) }],
      })),
    };
    expect(withinBytes(wide, 2000).records).toHaveLength(1);
  });
});

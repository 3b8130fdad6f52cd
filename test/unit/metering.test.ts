/**
 * The cost meter's rules (emulator/metering.ts), which the cost test's figures rest on: DynamoDB
 * write units by the larger item, the status index's writes by DynamoDB's rules, the bytes left
 * stored, SQS requests per 64 KB, and the arithmetic from a ledger to dollars.
 */
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { describe, expect, it } from "vitest";
import {
  costPerMillion,
  emptyLedger,
  itemSize,
  type Ledger,
  sqsRequests,
  storagePerMillionPerMonth,
  type TableShape,
} from "../../emulator/metering.js";
import { chargeWrite } from "../../emulator/metering-dynamo.js";

/** The engine's table: pk/sk, and byStatus projecting the summary (cdk/engine.ts). */
const SHAPE: TableShape = {
  keys: ["pk", "sk"],
  indexes: [
    {
      keys: ["listing", "listed"],
      projected: ["pk", "sk", "listing", "listed", "process", "status", "createdAt", "updatedAt"],
    },
  ],
};

const item = (value: Record<string, unknown>) => marshall(value) as Record<string, AttributeValue>;
const head = (status: string, updatedAt: number, snapshot = "s".repeat(10 * 1024)) =>
  item({
    pk: "I#a",
    sk: "HEAD",
    status,
    process: "p",
    createdAt: 1,
    updatedAt,
    snapshot,
    listing: `S#${status}`,
    listed: "000000000000001#a",
  });

function charged(before: ReturnType<typeof item> | undefined, after: ReturnType<typeof item> | undefined) {
  const ledger: Ledger = emptyLedger();
  chargeWrite(ledger, SHAPE, before, after, false);
  return ledger;
}

describe("the cost meter", () => {
  it("bills a write by the larger of the item before and after it, twice in a transaction", () => {
    const big = head("running", 2);
    const small = item({ pk: "I#a", sk: "V#1", message: "m".repeat(700) });
    expect(charged(undefined, small).tableWriteUnits).toBe(1);
    expect(charged(big, head("running", 3, "")).tableWriteUnits).toBe(Math.ceil(itemSize(big) / 1024));
    const ledger = emptyLedger();
    chargeWrite(ledger, SHAPE, undefined, small, true);
    expect(ledger.tableWriteUnits).toBe(2);
  });

  it("writes the status index by DynamoDB's rules: new, moved, changed, unchanged, removed", () => {
    // A new listed item: one index write. An item outside the index (no keys): none.
    expect(charged(undefined, head("running", 2)).indexWriteUnits).toBe(1);
    expect(charged(undefined, item({ pk: "I#a", sk: "V#1" })).indexWriteUnits).toBe(0);
    // The status changes the index key: the old entry deleted, the new one put.
    expect(charged(head("running", 2), head("completed", 3)).indexWriteUnits).toBe(2);
    // The same key, a projected value changed: one; nothing projected changed: none.
    expect(charged(head("running", 2), head("running", 3)).indexWriteUnits).toBe(1);
    expect(charged(head("running", 2), head("running", 2, "other")).indexWriteUnits).toBe(0);
    // A listed item deleted: its entry deleted.
    expect(charged(head("running", 2), undefined).indexWriteUnits).toBe(1);
  });

  it("keeps what a write leaves stored apart, with DynamoDB's 100 bytes an item and an entry", () => {
    const step = item({ pk: "I#a", sk: "V#1", message: "m" });
    expect(charged(undefined, step).dynamoBytes).toBe(itemSize(step) + 100);
    expect(charged(step, undefined).dynamoBytes).toBe(-(itemSize(step) + 100));
    const listed = charged(undefined, head("running", 2));
    expect(listed.dynamoBytes).toBeGreaterThan(itemSize(head("running", 2)) + 200);
  });

  it("counts an SQS request per 64 KB of the messages it carries", () => {
    const message = (kb: number) => ({ MessageBody: "x".repeat(kb * 1024) });
    expect(sqsRequests("SendMessageCommand", message(10), {})).toBe(1);
    expect(sqsRequests("SendMessageCommand", message(100), {})).toBe(2);
    const batch = { Entries: Array.from({ length: 10 }, () => message(10)) };
    expect(sqsRequests("SendMessageBatchCommand", batch, {})).toBe(2);
    expect(sqsRequests("ReceiveMessageCommand", {}, { Messages: [] })).toBe(1);
    expect(sqsRequests("DeleteMessageBatchCommand", {}, {})).toBe(1);
  });

  it("prices a ledger per million steps, Lambda by GB-second at its memory and architecture", () => {
    const ledger = { ...emptyLedger(), tableWriteUnits: 2, readUnits: 4, sqsStandard: 1, sqsFifo: 1 };
    const lambda = { ...ledger, invocations: 1, lambdaMs: 1000 };
    const cost = costPerMillion(lambda, 1, { memoryMb: 1024, architecture: "arm64" });
    expect(cost.dynamodb).toBeCloseTo(2 * 0.625 + 4 * 0.125);
    expect(cost.sqs).toBeCloseTo(0.4 + 0.5);
    expect(cost.lambdaRequests).toBeCloseTo(0.2);
    expect(cost.lambdaDuration).toBeCloseTo(0.0000133334 * 1e6);
    expect(costPerMillion(lambda, 1, { memoryMb: 1024, architecture: "x86_64" }).lambdaDuration).toBeCloseTo(
      0.0000166667 * 1e6,
    );
    expect(
      storagePerMillionPerMonth({ ...emptyLedger(), dynamoBytes: 2 ** 30 / 1e6 }, 1).dynamodb,
    ).toBeCloseTo(0.25);
  });
});

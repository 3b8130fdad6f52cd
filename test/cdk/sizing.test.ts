/**
 * Every event source mapping checked against its queue and its function, by AWS's rules (see
 * cdk/sizing.ts): visibility >= 6x the function timeout, FIFO batches of at most 10, the invoke
 * function one target call per invocation, and maxReceiveCount x visibility >= one hour.
 */
import { Duration } from "aws-cdk-lib";
import type { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { engineStack, resourcesOf, templateOf } from "./helpers.js";

/** Each mapping with what the rules need: its queue's and its function's settings. */
function mappings(template: Template) {
  const queues = resourcesOf(template, "AWS::SQS::Queue");
  const functions = resourcesOf(template, "AWS::Lambda::Function");
  return Object.values(resourcesOf(template, "AWS::Lambda::EventSourceMapping")).map((m) => {
    const p = m.Properties ?? {};
    const queueId = (p.EventSourceArn as { "Fn::GetAtt": string[] })["Fn::GetAtt"][0] as string;
    const fnId = (p.FunctionName as { Ref: string }).Ref;
    const queue = queues[queueId]?.Properties ?? {};
    const fn = functions[fnId]?.Properties ?? {};
    const variables = (fn.Environment as { Variables: Record<string, unknown> }).Variables;
    return {
      mapping: {
        queue: queueId,
        fn: fnId,
        batch: Number(p.BatchSize),
        fifo: queue.FifoQueue === true,
      },
      handler: String(variables.DOCKET_FUNCTION),
      variables,
      functionTimeout: Number(fn.Timeout),
      visibility: Number(queue.VisibilityTimeout),
      maxReceiveCount: Number((queue.RedrivePolicy as { maxReceiveCount: number }).maxReceiveCount),
    };
  });
}

describe.each([
  ["default target timeout", undefined, 90],
  ["a five-minute target timeout", Duration.minutes(5), 330],
])("event sources with %s", (_, targetTimeout, invokeTimeout) => {
  let all: ReturnType<typeof mappings>;

  beforeAll(() => {
    const stack = engineStack({
      participants: ["approve"],
      targets: { score: "lambda:scorer" },
      ...(targetTimeout ? { targetTimeout } : {}),
    });
    all = mappings(templateOf(stack));
  }, 120_000);

  it("feeds the five queue-fed functions", () => {
    expect(all.map((m) => m.handler).sort()).toEqual([
      "advance",
      "ingest",
      "invoke",
      "register",
      "timer-relay",
    ]);
  });

  it("gives each queue a visibility timeout of at least six times its function's timeout", () => {
    for (const m of all)
      expect({ ...m.mapping, ok: m.visibility >= 6 * m.functionTimeout }).toEqual({ ...m.mapping, ok: true });
  });

  it("takes batches of at most 10 from a FIFO queue", () => {
    const fifo = all.filter((m) => m.mapping.fifo);
    expect(fifo.map((m) => m.handler)).toEqual(["advance"]);
    for (const m of fifo) expect(m.mapping.batch).toBeLessThanOrEqual(10);
  });

  it("lets an hour-long outage pass without dead-lettering (maxReceiveCount x visibility >= 1 h)", () => {
    for (const m of all)
      expect({ ...m.mapping, ok: m.maxReceiveCount * m.visibility >= 3600 }).toEqual({
        ...m.mapping,
        ok: true,
      });
  });

  it("runs one target call per invocation, with a per-call timeout and a function timeout of it plus a margin", () => {
    const invoke = all.find((m) => m.handler === "invoke") as (typeof all)[number];
    expect(invoke.mapping.batch).toBe(1);
    const perCall = (targetTimeout ?? Duration.seconds(60)).toSeconds();
    expect(invoke.variables.DOCKET_TARGET_TIMEOUT_S).toBe(String(perCall));
    expect(invoke.functionTimeout).toBe(invokeTimeout);
    expect(invoke.visibility).toBe(6 * invokeTimeout);
  });
});

it("refuses a target timeout the invoke function could not fit in Lambda's 15 minutes", () => {
  expect(() =>
    engineStack({ targets: { score: "lambda:scorer" }, targetTimeout: Duration.minutes(15) }),
  ).toThrow(/targetTimeout must be between 1 and 870 seconds/);
});

it("refuses a large-payload threshold that would let a step item pass DynamoDB's 400 KB or a message SQS's 256 KB", () => {
  expect(() => engineStack({ largePayloadThreshold: 300_000 })).toThrow(
    /largePayloadThreshold is 300000; it must be from 1024 to 102400 bytes/,
  );
  expect(() => engineStack({ largePayloadThreshold: 100 * 1024 })).not.toThrow();
});

/**
 * Lambda environments stay under AWS's 4 KB whatever the number of participants, and `cdk synth`
 * fails with a clear message before a deploy would when something else takes them over.
 */
import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { environmentSize, LAMBDA_ENVIRONMENT_LIMIT } from "../../cdk/environment.js";
import { MAX_PARTICIPANT_NAME } from "../../cdk/participants.js";
import { engineStack, resourcesOf, templateOf } from "./helpers.js";

const many = (n: number, length = MAX_PARTICIPANT_NAME) =>
  Array.from({ length: n }, (_, i) => `p${i}`.padEnd(length, "x"));

describe("function environments", () => {
  it("stay under 4 KB with 100 participants of the longest names and 10 targets, and synthesize", () => {
    const targets = Object.fromEntries(
      many(10, 30).map((name) => [name, `lambda:arn:aws:lambda:eu-west-1:123456789012:function:${name}`]),
    );
    const stack = engineStack({ participants: many(100), targets });
    const functions = [...Object.values(stack.engine.functions), stack.engine.invoker];
    for (const fn of functions) {
      if (!fn) throw new Error("no invoke function");
      const { total } = environmentSize(fn);
      expect({ fn: fn.node.id, under: total <= LAMBDA_ENVIRONMENT_LIMIT }).toEqual({
        fn: fn.node.id,
        under: true,
      });
    }
    const template = templateOf(stack);
    expect(Object.keys(resourcesOf(template, "AWS::SQS::Queue")).length).toBe(13 + 100); // 6 working queues, their 6 DLQs, rejected; participants share the tasks DLQ
  }, 120_000);

  it("name no participant queue: each function gets the prefix, the advance function the target names", () => {
    const stack = engineStack({ participants: ["approve"], targets: { score: "lambda:scorer" } });
    const template = templateOf(stack);
    const prefix = stack.engine.participantQueuePrefix;
    expect(prefix).toMatch(/^Test-[0-9a-f]{8}-$/);
    template.hasResourceProperties("AWS::SQS::Queue", { QueueName: `${prefix}approve` });
    template.hasResourceProperties("AWS::Lambda::Function", {
      Environment: {
        Variables: Match.objectLike({
          DOCKET_FUNCTION: "advance",
          DOCKET_PARTICIPANT_QUEUE_PREFIX: prefix,
          DOCKET_TARGET_PARTICIPANTS: "score",
          DOCKET_TARGETS: Match.absent(),
        }),
      },
    });
    template.hasResourceProperties("AWS::Lambda::Function", {
      Environment: {
        Variables: Match.objectLike({
          DOCKET_FUNCTION: "invoke",
          DOCKET_TARGETS: '{"score":"lambda:scorer"}',
        }),
      },
    });
  });

  it("fail `cdk synth` naming the function, the size, the limit and what to do", () => {
    const targets = Object.fromEntries(
      many(60, 40).map((name) => [name, `http:https://services.example.com/a/rather/long/path/to/${name}`]),
    );
    const stack = engineStack({ targets });
    expect(() => templateOf(stack)).toThrow(
      /the environment of function Test\/Docket\/Invoke can reach \d{4,} bytes, over Lambda's limit of 4096 bytes \(4 KB\).*Largest: DOCKET_TARGETS \d+ bytes.*split them across two DocketEngines/s,
    );
  });

  it("count names CloudFormation makes at their longest", () => {
    const stack = engineStack({ participants: ["approve"] });
    const { variables } = environmentSize(stack.engine.functions.advance);
    const size = (name: string) => variables.find((v) => v.name === name)?.bytes;
    expect(size("DOCKET_TABLE")).toBeGreaterThanOrEqual(255);
    expect(size("DOCKET_INBOX_URL")).toBeGreaterThanOrEqual(150);
  });
});

import { Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { beforeAll, describe, expect, it } from "vitest";
import { acknowledgeNagFindings } from "../../cdk/nag.js";
import { DocketStack } from "../../cdk/stack.js";
import { unbundledApp } from "./helpers.js";

let stack: DocketStack;
let template: Template;

beforeAll(() => {
  stack = new DocketStack(unbundledApp(), "Test", { engine: { participants: ["approve"] } });
  acknowledgeNagFindings(stack.engine);
  template = Template.fromStack(stack);
}, 120_000);

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;
const resources = (type: string): Resources => template.findResources(type) as Resources;

describe("DocketStack", () => {
  it("has a FIFO inbox, so one instance is advanced by one Lambda at a time", () => {
    template.hasResourceProperties("AWS::SQS::Queue", {
      FifoQueue: true,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 20 }),
    });
  });

  it("makes the inbox a high-throughput FIFO queue that deduplicates by content (worker replies need no id)", () => {
    template.hasResourceProperties("AWS::SQS::Queue", {
      FifoQueue: true,
      ContentBasedDeduplication: true,
      DeduplicationScope: "messageGroup",
      FifoThroughputLimit: "perMessageGroupId",
      RedrivePolicy: Match.anyValue(),
    });
  });

  it("gives every working queue a dead-letter queue, and encrypts every queue", () => {
    const queues = Object.entries(resources("AWS::SQS::Queue"));
    const targetOf = (queue: { Properties?: Record<string, unknown> }): string | undefined =>
      (queue.Properties?.RedrivePolicy as { deadLetterTargetArn?: { "Fn::GetAtt"?: string[] } } | undefined)
        ?.deadLetterTargetArn?.["Fn::GetAtt"]?.[0];
    const deadLetterIds = new Set(
      queues.map(([, q]) => targetOf(q)).filter((id): id is string => id !== undefined),
    );
    for (const [id, queue] of queues) {
      expect({ id, sse: queue.Properties?.SqsManagedSseEnabled }).toEqual({ id, sse: true });
      if (!deadLetterIds.has(id) && !id.includes("RejectedMessages"))
        expect({ id, redrive: Boolean(queue.Properties?.RedrivePolicy) }).toEqual({ id, redrive: true });
    }
    // inbox, tasks, approve, timers, ingest, register; 5 DLQs (approve shares the tasks one); rejected
    expect(queues.length).toBe(12);
  });

  it("encrypts the table and the bucket, blocks public access and refuses plain HTTP", () => {
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      SSESpecification: { SSEEnabled: true },
      BillingMode: "PAY_PER_REQUEST",
    });
    template.hasResourceProperties("AWS::S3::Bucket", {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
    template.hasResourceProperties("AWS::S3::BucketPolicy", {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
        ]),
      },
    });
  });

  it("feeds every Lambda from a queue, except the sweep, which a rate(1 minute) rule runs, and the api function, which the HTTP API invokes", () => {
    const functions = Object.keys(resources("AWS::Lambda::Function"));
    const fed = Object.values(resources("AWS::Lambda::EventSourceMapping")).map(
      (m) => (m.Properties?.FunctionName as { Ref?: string } | undefined)?.Ref,
    );
    for (const mapping of Object.values(resources("AWS::Lambda::EventSourceMapping")))
      expect(mapping.Properties?.FunctionResponseTypes).toEqual(["ReportBatchItemFailures"]);
    // CDK's own helper (the bucket's EventBridge switch) is not one of docket's functions.
    const unfed = functions.filter((f) => !fed.includes(f) && !f.startsWith("BucketNotificationsHandler"));
    const sweep = unfed.find((f) => /Sweep/.test(f));
    const api = unfed.find((f) => /DocketApi/.test(f));
    expect(unfed.sort()).toEqual([api, sweep].sort());
    template.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: "rate(1 minute)",
      Targets: [Match.objectLike({ Arn: { "Fn::GetAtt": [sweep, "Arn"] } })],
    });
    template.hasResourceProperties("AWS::Lambda::Permission", {
      Action: "lambda:InvokeFunction",
      FunctionName: { "Fn::GetAtt": [api, "Arn"] },
      Principal: "apigateway.amazonaws.com",
    });
  });

  it("grants each function only what it touches", () => {
    const policies = Object.entries(resources("AWS::IAM::Policy")).map(
      ([id, p]) => [id, JSON.stringify(p.Properties?.PolicyDocument)] as const,
    );
    const of = (name: string) => policies.find(([id]) => id.includes(name))?.[1] ?? "";
    expect(of("Register")).toContain('"s3:GetObject"');
    expect(of("Register")).not.toContain("s3:List");
    expect(of("Advance")).toMatch(/"Action":\["s3:GetObject","s3:PutObject"\].*DocketPayloads/);
    expect(of("Advance")).not.toMatch(/s3:(List|Delete|GetBucket)/);
    // The relay reads (an instance, to drop a timer it no longer waits for), and writes only what a
    // schedule's fire did, on the schedules' items (dynamodb:LeadingKeys).
    expect(of("TimerRelay")).toContain('"Action":["dynamodb:GetItem","dynamodb:Query"]');
    expect(of("TimerRelay")).not.toMatch(/dynamodb:(PutItem|DeleteItem|BatchWriteItem)|s3:PutObject/);
    expect(of("TimerRelay")).toContain(
      '{"Action":"dynamodb:UpdateItem","Condition":{"ForAllValues:StringEquals":{"dynamodb:LeadingKeys":["SCHEDULES"]}}',
    );
    expect(of("TimerRelay").match(/dynamodb:UpdateItem/g)).toHaveLength(1);
    expect(of("Ingest")).not.toContain("events:PutEvents");
    // The inbox signing key: read by the functions that put messages in the inbox, by no other.
    for (const f of ["Advance", "Ingest", "TimerRelay"])
      expect(of(f)).toContain("secretsmanager:GetSecretValue");
    for (const f of ["Register", "Sweep"]) expect(of(f)).not.toContain("secretsmanager:");
  });

  it("lists instances by status from an index that projects only the summary, and counts them by version from another", () => {
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: "byStatus",
          Projection: {
            ProjectionType: "INCLUDE",
            NonKeyAttributes: ["process", "status", "createdAt", "updatedAt"],
          },
        }),
        {
          IndexName: "byDefinition",
          KeySchema: [{ AttributeName: "definition", KeyType: "HASH" }],
          Projection: { ProjectionType: "INCLUDE", NonKeyAttributes: ["status"] },
        },
      ],
    });
  });

  it("has no invoke function without targets", () => {
    expect(stack.engine.invoker).toBeUndefined();
  });

  it("passes cdk-nag's AwsSolutions checks, each accepted finding with its reason", () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    const open = report.violations.filter((v) => v.severity === "error").map((v) => v.ruleName);
    expect(open).toEqual([]);
  });
});

describe("DocketEngine with targets (participants the engine calls)", () => {
  const machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:ship";
  let called: Template;

  beforeAll(() => {
    const withTargets = new DocketStack(unbundledApp(), "Targets", {
      engine: {
        targets: {
          score: "lambda:scorer",
          quote: "http:https://prices.example/quote",
          ship: `sfn:${machine}`,
        },
      },
    });
    called = Template.fromStack(withTargets);
  }, 120_000);

  it("feeds an invoke function from a queue of its own, allowed to call exactly the targets", () => {
    const policies = Object.entries(called.findResources("AWS::IAM::Policy")).map(([id, p]) => [
      id,
      JSON.stringify((p as { Properties: { PolicyDocument: unknown } }).Properties.PolicyDocument),
    ]);
    const invoke = policies.find(([id]) => id?.includes("Invoke"))?.[1] ?? "";
    expect(invoke).toMatch(/"Action":"lambda:InvokeFunction".*function:scorer/);
    expect(invoke).toContain(`"Action":"states:StartExecution","Effect":"Allow","Resource":"${machine}"`);
    // It polls the executions it started (their status-change events are best effort).
    expect(invoke).toContain(
      `"Action":"states:DescribeExecution","Effect":"Allow","Resource":"${machine.replace(":stateMachine:", ":execution:")}:*"`,
    );
    expect(invoke).not.toContain("dynamodb:");
    called.hasResourceProperties("AWS::Lambda::Function", {
      Environment: {
        Variables: Match.objectLike({ DOCKET_FUNCTION: "invoke", DOCKET_TARGETS: Match.anyValue() }),
      },
    });
  });

  it("routes the state machine's execution ends from the default bus to the ingest queue", () => {
    called.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: {
        source: ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        detail: { stateMachineArn: [machine], status: ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"] },
      },
    });
  });

  it("refuses a target it cannot call at synth time, naming the participant", () => {
    expect(
      () => new DocketStack(unbundledApp(), "Bad", { engine: { targets: { ship: "sfn:ship" } } }),
    ).toThrow(/DocketEngine: participant ship: target "sfn:ship" is not a state machine ARN/);
  });
});

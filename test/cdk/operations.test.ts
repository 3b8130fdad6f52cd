/**
 * What an operator relies on: a worker granted exactly its work, a DESTROY stack that deletes
 * cleanly (buckets emptied first), alarms that notify a topic, and cdk-nag still passing.
 */
import { RemovalPolicy, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Topic } from "aws-cdk-lib/aws-sns";
import { AwsSolutionsChecks } from "cdk-nag";
import type { IConstruct } from "constructs";
import { beforeAll, describe, expect, it } from "vitest";
import { DocketEngine } from "../../cdk/engine.js";
import { acknowledgeNagFindings } from "../../cdk/nag.js";
import { resourcesOf, unbundledApp } from "./helpers.js";

let stack: Stack;
let engine: DocketEngine;
let topic: Topic;
let template: Template;

const worker = (id: string) =>
  new Role(stack, id, { assumedBy: new ServicePrincipal("ecs-tasks.amazonaws.com") });

beforeAll(() => {
  stack = new Stack(unbundledApp(), "Ops");
  topic = new Topic(stack, "Pager", { enforceSSL: true });
  engine = new DocketEngine(stack, "Docket", {
    participants: ["approve"],
    targets: { score: "lambda:scorer" },
    removalPolicy: RemovalPolicy.DESTROY,
    alarmTopic: topic,
  });
  engine.grantWorker(worker("Approver"), "approve");
  engine.grantWorker(worker("Clerk"), "file");
  acknowledgeNagFindings(engine);
  template = Template.fromStack(stack);
}, 120_000);

const idOf = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as never);
const arnOf = (construct: IConstruct) => ({ "Fn::GetAtt": [idOf(construct), "Arn"] });

/** The statements of the inline policy attached to a role, as in the template. */
function statementsOf(role: string): unknown[] {
  const roleId = idOf(stack.node.findChild(role));
  const policy = Object.values(resourcesOf(template, "AWS::IAM::Policy")).find(
    (p) => JSON.stringify(p.Properties?.Roles) === JSON.stringify([{ Ref: roleId }]),
  );
  return (policy?.Properties?.PolicyDocument as { Statement: unknown[] } | undefined)?.Statement ?? [];
}

describe("engine.grantWorker(role, participant)", () => {
  it("grants exactly its queue (receive, delete, change visibility), the inbox send and its offloaded fields", () => {
    expect(statementsOf("Approver")).toEqual([
      {
        Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
        Effect: "Allow",
        Resource: arnOf(engine.participantQueues.approve as IConstruct),
      },
      { Action: "sqs:SendMessage", Effect: "Allow", Resource: arnOf(engine.inbox) },
      {
        Action: "s3:GetObject",
        Effect: "Allow",
        Resource: { "Fn::Join": ["", [arnOf(engine.payloadBucket), "/transient/*"]] },
      },
    ]);
  });

  it("gives a participant without a queue of its own the default task queue, and the send that passes others' tasks on", () => {
    expect(statementsOf("Clerk")[0]).toEqual({
      Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:SendMessage"],
      Effect: "Allow",
      Resource: arnOf(engine.taskQueue),
    });
  });

  it("refuses a target, which has no worker", () => {
    expect(() => engine.grantWorker(worker("Scorer"), "score")).toThrow(/score is a target/);
  });
});

describe("removalPolicy: DESTROY", () => {
  it("empties the buckets the construct made before deleting them", () => {
    const buckets = Object.keys(resourcesOf(template, "AWS::S3::Bucket"));
    const emptied = Object.values(resourcesOf(template, "Custom::S3AutoDeleteObjects")).map(
      (r) => (r.Properties?.BucketName as { Ref: string } | undefined)?.Ref,
    );
    expect(buckets.length).toBe(2);
    expect(emptied.sort()).toEqual(buckets.sort());
  });

  it("deletes the table, buckets, queues, secret and log groups with the stack", () => {
    const json = template.toJSON() as {
      Resources: Record<string, { Type: string; DeletionPolicy?: string }>;
    };
    const types = [
      "AWS::DynamoDB::Table",
      "AWS::S3::Bucket",
      "AWS::SQS::Queue",
      "AWS::SecretsManager::Secret",
      "AWS::Logs::LogGroup",
    ];
    const resources = Object.entries(json.Resources).filter(([, r]) => types.includes(r.Type));
    expect(new Set(resources.map(([, r]) => r.Type)).size).toBe(types.length);
    for (const [id, r] of resources)
      expect({ id, policy: r.DeletionPolicy }).toEqual({ id, policy: "Delete" });
  });

  it("still passes cdk-nag's AwsSolutions checks, the workers' grants included", () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    const open = report.violations.filter((v) => v.severity === "error").map((v) => v.ruleName);
    expect(open).toEqual([]);
  });
});

it("has every alarm notify the alarm topic: each dead-letter queue's, and the incident and dead-letter metrics'", () => {
  const alarms = Object.values(resourcesOf(template, "AWS::CloudWatch::Alarm"));
  expect(alarms.length).toBe(engine.deadLetterQueues.length + 2);
  for (const alarm of alarms) expect(alarm.Properties?.AlarmActions).toEqual([{ Ref: idOf(topic) }]);
});

/** The cdk-nag AwsSolutions findings docket accepts, each acknowledged with its reason. */
import { type CfnResource, Stack, Validations } from "aws-cdk-lib";
import type { DocketEngine } from "./engine.js";

export const ACCEPTED_FINDINGS: readonly { readonly id: string; readonly reason: string }[] = [
  {
    id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
    reason: "The basic execution role only lets a function write its own logs.",
  },
  {
    id: "AwsSolutions-IAM5[Resource::*]",
    reason: "X-Ray's PutTraceSegments and PutTelemetryRecords take no resource.",
  },
  {
    id: "AwsSolutions-S1",
    reason:
      "The definitions bucket holds process definitions only; access logs would need a second bucket. Pass your own logged bucket as definitionsBucket to have them.",
  },
  {
    id: "AwsSolutions-SMG4",
    reason:
      "The inbox signing key is random and never leaves the functions; rotating it would need every message in flight re-signed. Replace the secret's value to rotate it, while the inbox is empty.",
  },
  {
    id: "AwsSolutions-SQS3",
    reason:
      "RejectedMessages is where unreadable messages are set aside with their reason: the end of the line, watched by an alarm.",
  },
];

/** Acknowledges the accepted findings on the engine's stack, and its bucket-objects read grant. */
export function acknowledgeNagFindings(engine: DocketEngine): void {
  const stack = Stack.of(engine);
  for (const finding of ACCEPTED_FINDINGS) Validations.of(stack).acknowledge(finding);
  const table = engine.table.node.defaultChild as CfnResource;
  Validations.of(stack).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(table)}.Arn>/index/*]`,
    reason:
      "Reading the table includes querying its own indexes (the byStatus listing index), and only those.",
  });
  if (Object.keys(engine.participantQueues).length)
    Validations.of(stack).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${engine.participantQueuePrefix}*]`,
      reason:
        "The advance function sends (sqs:SendMessage only) to the participants' queues, all named with this engine's prefix: one statement whatever their number, as a role's inline policies are limited to 10,240 characters.",
    });
  const payloads = `<${stack.getLogicalId(engine.payloadBucket.node.defaultChild as CfnResource)}.Arn>`;
  // The narrower ones first: CDK skips an acknowledgement that an earlier wildcard one seems to cover.
  Validations.of(stack).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${payloads}/transient/*]`,
    reason:
      "A worker reads (s3:GetObject only) its tasks' offloaded fields, kept under transient/; the api function writes (s3:PutObject only) large inbox messages there.",
  });
  Validations.of(stack).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${payloads}/instances/*]`,
    reason:
      "The api function reads an instance's offloaded parts (s3:GetObject) to show it, and deletes them (s3:DeleteObject) with a deleted instance: any instance's, under instances/ only.",
  });
  Validations.of(stack).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${payloads}/definitions/*]`,
    reason:
      "The api function reads (s3:GetObject only) definition sources over the threshold, to show a diagram or an instance.",
  });
  Validations.of(stack).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${payloads}/*]`,
    reason:
      "The advance, ingest and invoke functions read and write (GetObject, PutObject only) offloaded payloads in the payload bucket, which holds nothing else.",
  });
  const bucket = engine.bucket.node.defaultChild as CfnResource | undefined;
  if (!bucket) return;
  Validations.of(stack).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(bucket)}.Arn>/*]`,
    reason:
      "The register function reads (s3:GetObject only) any definition dropped in the one definitions bucket.",
  });
}

/**
 * Creates the resources of docket's synthesized CloudFormation template on an AWS endpoint (an
 * emulator: moto's server or LocalStack) with the SDK. Emulators deploy CloudFormation only in
 * part, so the runner reads the template itself: tables, queues (dead-letter queues first), buses,
 * buckets and their notifications, and the rules that target queues. Lambda functions are not
 * created: their environment, resolved, tells the runner how to configure the handlers it runs in
 * process, and their event source mappings tell it which queue feeds which handler. Other custom
 * resources are skipped: the buckets' auto-delete (removalPolicy DESTROY) empties buckets before a
 * stack's deletion, which never happens on the emulator. So is the HTTP API (AWS::ApiGatewayV2::*,
 * its access log group and the Lambda permissions that let it invoke the api function): the runner
 * serves the operations API itself, as the api function's role (`docket local --api-port`).
 */
import { CreateTableCommand, DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import { CreateEventBusCommand, PutRuleCommand, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import type { IAMClient } from "@aws-sdk/client-iam";
import { CreateBucketCommand, PutBucketNotificationConfigurationCommand } from "@aws-sdk/client-s3";
import { CreateSecretCommand, DescribeSecretCommand } from "@aws-sdk/client-secrets-manager";
import { CreateQueueCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { type AwsClients, type AwsResources, resourcesFromEnv } from "../lib/aws/deps.js";
import { EngineError } from "../lib/errors.js";
import { hex } from "../lib/runtime/hex.js";
import { createRoles, type FunctionName, functionRoles } from "./provision-iam.js";

export type HandlerName = "advance" | "ingest" | "register" | "timer-relay" | "invoke";

export interface Provisioned extends AwsResources {
  /** Each queue that feeds a handler, as the template's event source mappings say. */
  readonly feeds: readonly { readonly queue: string; readonly handler: HandlerName }[];
  /** Each function's own resources, from its own environment (only the invoke function's has the target specs). */
  readonly functions: Partial<Record<FunctionName, AwsResources>>;
  /** Each function's role, created from the template when provisioning was given an IAM client. */
  readonly roles: Partial<Record<FunctionName, string>>;
}

/** The clients provisioning uses; with `iam`, the template's roles and policies are created too. */
export type ProvisionClients = AwsClients & { readonly iam?: IAMClient };

interface Resource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

/** What a created resource answers to Ref and Fn::GetAtt. */
interface Made {
  readonly ref: string;
  readonly arn?: string;
}

const HANDLERS: readonly HandlerName[] = ["advance", "ingest", "register", "timer-relay", "invoke"];

export async function provisionTemplate(
  clients: ProvisionClients,
  template: { readonly Resources: Record<string, unknown> },
  prefix: string,
): Promise<Provisioned> {
  const resources = Object.entries(template.Resources) as [string, Resource][];
  const made = new Map<string, Made>();
  const region = await clients.sqs.config.region();
  const resolve = resolver(made, region);
  const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);
  const name = (id: string, max = 80) => `${prefix}-${id}`.slice(0, max);

  for (const [id, r] of ofType("AWS::DynamoDB::Table")) made.set(id, await table(clients, name(id, 255), r));
  // A queue's dead-letter queue must exist before it.
  const queues = ofType("AWS::SQS::Queue").sort(
    ([, a], [, b]) =>
      Number(a.Properties?.RedrivePolicy !== undefined) - Number(b.Properties?.RedrivePolicy !== undefined),
  );
  for (const [id, r] of queues) made.set(id, await queue(clients, name(id, 75), r, resolve));
  for (const [id] of ofType("AWS::Events::EventBus")) made.set(id, await bus(clients, name(id, 256)));
  for (const [id] of ofType("AWS::S3::Bucket")) {
    const bucket = name(id, 63).toLowerCase().replace(/-+$/, "");
    await clients.s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: Error) => {
      if (!/BucketAlready/.test(error.name)) throw error;
    });
    made.set(id, { ref: bucket, arn: `arn:aws:s3:::${bucket}` });
  }
  for (const [, r] of ofType("Custom::S3BucketNotifications")) {
    await clients.s3.send(
      new PutBucketNotificationConfigurationCommand({
        Bucket: String(resolve(r.Properties?.BucketName)),
        NotificationConfiguration: resolve(r.Properties?.NotificationConfiguration) as never,
      }),
    );
  }
  for (const [id] of ofType("AWS::SecretsManager::Secret"))
    made.set(id, await secret(clients, name(id, 256)));
  for (const [id, r] of ofType("AWS::Events::Rule")) await rule(clients, name(id, 64), r, resolve);
  if (!clients.iam) return { ...runnerConfiguration(resources, resolve, made), roles: {} };
  for (const [id, role] of await createRoles(clients.iam, resources, resolve, prefix)) made.set(id, role);
  return { ...runnerConfiguration(resources, resolve, made), roles: functionRoles(resources, resolve) };
}

/**
 * The handlers' resources (from each function's environment, as deployed) and the queues that
 * feed them. At the top, the advance function's with the invoke function's target specs and the
 * sweep's schedules: what one set of deps shared by every handler needs.
 */
function runnerConfiguration(
  resources: [string, Resource][],
  resolve: (v: unknown) => unknown,
  made: Map<string, Made>,
): Omit<Provisioned, "roles"> {
  const urlOfArn = new Map([...made.values()].map((m) => [m.arn, m.ref]));
  const functions = new Map<string, Record<string, string>>();
  for (const [id, r] of resources) {
    if (r.Type !== "AWS::Lambda::Function") continue;
    const variables = (r.Properties?.Environment as { Variables?: unknown } | undefined)?.Variables;
    if (variables) functions.set(id, resolve(variables) as Record<string, string>);
  }
  const own: Partial<Record<FunctionName, AwsResources>> = {};
  for (const env of functions.values())
    if (env.DOCKET_FUNCTION) own[env.DOCKET_FUNCTION as FunctionName] = resourcesFromEnv(env);
  const advance = own.advance;
  if (!advance)
    throw new EngineError("Configuration", "the template has no advance function (DOCKET_FUNCTION)");
  const feeds: { queue: string; handler: HandlerName }[] = [];
  for (const [, r] of resources) {
    if (r.Type !== "AWS::Lambda::EventSourceMapping") continue;
    const fn = (r.Properties?.FunctionName as { Ref?: string } | undefined)?.Ref ?? "";
    const handler = functions.get(fn)?.DOCKET_FUNCTION as HandlerName | undefined;
    if (!handler || !HANDLERS.includes(handler)) continue;
    const queue = urlOfArn.get(String(resolve(r.Properties?.EventSourceArn)));
    if (queue) feeds.push({ queue, handler });
  }
  const targets = own.invoke
    ? { targets: own.invoke.targets, targetTimeoutMs: own.invoke.targetTimeoutMs }
    : {};
  // The construct's schedules are only the sweep's (DOCKET_SCHEDULES).
  const schedules = own.sweep?.schedules ? { schedules: own.sweep.schedules } : {};
  return { ...advance, ...targets, ...schedules, functions: own, feeds };
}

/** Ref, Fn::GetAtt and Fn::Join over what was made, and the pseudo parameters. */
function resolver(made: Map<string, Made>, region: string) {
  const pseudo: Record<string, string> = {
    "AWS::Region": region,
    "AWS::AccountId": "000000000000",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
  };
  const resolve = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(resolve);
    if (value === null || typeof value !== "object") return value;
    const v = value as Record<string, unknown>;
    if (typeof v.Ref === "string") {
      const ref = pseudo[v.Ref] ?? made.get(v.Ref)?.ref;
      if (ref === undefined)
        throw new EngineError("Configuration", `the template refers to ${v.Ref}, not created`);
      return ref;
    }
    if (Array.isArray(v["Fn::GetAtt"])) {
      const [id, attribute] = v["Fn::GetAtt"] as [string, string];
      const target = made.get(id);
      const answer = attribute === "Arn" ? target?.arn : attribute === "QueueUrl" ? target?.ref : undefined;
      if (answer === undefined)
        throw new EngineError(
          "Configuration",
          `the template needs ${id}.${attribute}, which the runner cannot make`,
        );
      return answer;
    }
    if (Array.isArray(v["Fn::Join"])) {
      const [separator, parts] = v["Fn::Join"] as [string, unknown[]];
      return parts.map((p) => String(resolve(p))).join(separator);
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
  };
  return resolve;
}

async function table(clients: AwsClients, name: string, r: Resource): Promise<Made> {
  const p = r.Properties ?? {};
  await clients.dynamo
    .send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: p.AttributeDefinitions as never,
        KeySchema: p.KeySchema as never,
        ...(p.GlobalSecondaryIndexes ? { GlobalSecondaryIndexes: p.GlobalSecondaryIndexes as never } : {}),
      }),
    )
    .catch((error: Error) => {
      if (error.name !== "ResourceInUseException") throw error;
    });
  const { Table } = await clients.dynamo.send(new DescribeTableCommand({ TableName: name }));
  return { ref: name, arn: Table?.TableArn };
}

async function queue(
  clients: AwsClients,
  name: string,
  r: Resource,
  resolve: (v: unknown) => unknown,
): Promise<Made> {
  const p = r.Properties ?? {};
  const fifo = p.FifoQueue === true;
  const attributes: Record<string, string> = {};
  // The inbox's high-throughput FIFO settings included (moto keeps them, and deduplicates by content).
  const copied = [
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
  ];
  for (const key of copied) if (p[key] !== undefined) attributes[key] = String(p[key]);
  if (fifo) attributes.FifoQueue = "true";
  if (p.RedrivePolicy) attributes.RedrivePolicy = JSON.stringify(resolve(p.RedrivePolicy));
  const { QueueUrl } = await clients.sqs.send(
    new CreateQueueCommand({
      // A queue the template names (a participant's: the functions find it by that name) keeps it.
      QueueName: p.QueueName ? String(resolve(p.QueueName)) : fifo ? `${name}.fifo` : name,
      Attributes: attributes,
    }),
  );
  const url = QueueUrl as string;
  const { Attributes } = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }),
  );
  const arn = Attributes?.QueueArn as string;
  return { ref: url, arn };
}

/** A secret with a random value, as GenerateSecretString makes one (kept when it exists already). */
async function secret(clients: AwsClients, name: string): Promise<Made> {
  if (!clients.secrets)
    throw new EngineError("Configuration", "creating the template's secrets needs a Secrets Manager client");
  const value = hex(crypto.getRandomValues(new Uint8Array(32)));
  const created = await clients.secrets
    .send(new CreateSecretCommand({ Name: name, SecretString: value }))
    .catch(async (error: Error) => {
      if (error.name !== "ResourceExistsException") throw error;
      return clients.secrets?.send(new DescribeSecretCommand({ SecretId: name }));
    });
  const arn = created?.ARN as string;
  return { ref: arn, arn };
}

async function bus(clients: AwsClients, name: string): Promise<Made> {
  const created = await clients.events
    .send(new CreateEventBusCommand({ Name: name }))
    .catch((error: Error) => {
      if (error.name !== "ResourceAlreadyExistsException") throw error;
      return undefined;
    });
  return { ref: name, arn: created?.EventBusArn ?? `arn:aws:events:::event-bus/${name}` };
}

/** A rule that targets queues; schedules are skipped (the runner ticks the sweep itself). */
async function rule(clients: AwsClients, name: string, r: Resource, resolve: (v: unknown) => unknown) {
  if (!r.Properties?.EventPattern) return;
  const p = resolve(r.Properties) as {
    EventPattern?: unknown;
    EventBusName?: string;
    Targets?: { Arn: string; Id: string }[];
  };
  const targets = (p.Targets ?? []).filter((t) => t.Arn.startsWith("arn:aws:sqs:"));
  await clients.events.send(
    new PutRuleCommand({
      Name: name,
      EventBusName: p.EventBusName,
      EventPattern: JSON.stringify(p.EventPattern),
    }),
  );
  if (targets.length)
    await clients.events.send(
      new PutTargetsCommand({
        Rule: name,
        EventBusName: p.EventBusName,
        Targets: targets.map((t) => ({ Id: t.Id, Arn: t.Arn })),
      }),
    );
}

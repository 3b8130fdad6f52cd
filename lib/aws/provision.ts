/**
 * Creates docket's resources on an AWS endpoint (an emulator: moto's server or LocalStack) with the
 * SDK: the table, the queues with their dead-letter queue, the bus and its rules, the bucket and its
 * notifications. Emulators deploy CloudFormation only in part, so the runner creates these itself.
 */
import { CreateTableCommand, DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import { CreateEventBusCommand, PutRuleCommand, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import { CreateBucketCommand, PutBucketNotificationConfigurationCommand } from "@aws-sdk/client-s3";
import { CreateQueueCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import type { AwsClients, AwsResources } from "./deps.js";

export interface Provisioned extends AwsResources {
  /** Queues the runner drains into handlers. */
  readonly feeds: { readonly ingest: string; readonly register: string };
}

async function queue(clients: AwsClients, name: string, fifo = false): Promise<{ url: string; arn: string }> {
  const { QueueUrl } = await clients.sqs.send(
    new CreateQueueCommand({
      QueueName: fifo ? `${name}.fifo` : name,
      Attributes: fifo ? { FifoQueue: "true", ContentBasedDeduplication: "false" } : {},
    }),
  );
  const url = QueueUrl as string;
  const { Attributes } = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }),
  );
  return { url, arn: Attributes?.QueueArn as string };
}

export async function provision(
  clients: AwsClients,
  prefix: string,
  participants: readonly string[] = [],
): Promise<Provisioned> {
  const table = `${prefix}-table`;
  await clients.dynamo
    .send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [
          { AttributeName: "pk", AttributeType: "S" },
          { AttributeName: "sk", AttributeType: "S" },
        ],
        KeySchema: [
          { AttributeName: "pk", KeyType: "HASH" },
          { AttributeName: "sk", KeyType: "RANGE" },
        ],
      }),
    )
    .catch((error: Error) => {
      if (error.name !== "ResourceInUseException") throw error;
    });
  await clients.dynamo.send(new DescribeTableCommand({ TableName: table }));
  const [inbox, timers, tasks, deadLetters, ingest, register] = await Promise.all([
    queue(clients, `${prefix}-inbox`, true),
    queue(clients, `${prefix}-timers`),
    queue(clients, `${prefix}-tasks`),
    queue(clients, `${prefix}-dead-letters`),
    queue(clients, `${prefix}-ingest`),
    queue(clients, `${prefix}-register`),
  ]);
  const own: Record<string, string> = {};
  for (const name of participants) own[name] = (await queue(clients, `${prefix}-task-${name}`)).url;
  const bus = `${prefix}-bus`;
  await clients.events.send(new CreateEventBusCommand({ Name: bus })).catch((error: Error) => {
    if (error.name !== "ResourceAlreadyExistsException") throw error;
  });
  // Every event on the bus but docket's own lifecycle events goes to the ingest queue.
  await clients.events.send(
    new PutRuleCommand({
      Name: `${prefix}-ingest`,
      EventBusName: bus,
      EventPattern: JSON.stringify({ source: [{ "anything-but": "docket" }] }),
    }),
  );
  await clients.events.send(
    new PutTargetsCommand({
      Rule: `${prefix}-ingest`,
      EventBusName: bus,
      Targets: [{ Id: "ingest", Arn: ingest.arn }],
    }),
  );
  const bucket = `${prefix}-definitions`;
  await clients.s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: Error) => {
    if (!/BucketAlready/.test(error.name)) throw error;
  });
  await clients.s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: bucket,
      NotificationConfiguration: {
        QueueConfigurations: [{ QueueArn: register.arn, Events: ["s3:ObjectCreated:*"] }],
      },
    }),
  );
  return {
    table,
    bus,
    bucket,
    queues: {
      inbox: inbox.url,
      timers: timers.url,
      tasks: tasks.url,
      participants: own,
      deadLetters: deadLetters.url,
    },
    feeds: { ingest: ingest.url, register: register.url },
  };
}

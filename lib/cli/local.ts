/**
 * `docket local`: docket's AWS resources on an emulator endpoint (LocalStack or moto's server), the
 * very Lambda handlers run in this process by polling their queues, and the sweep ticked, until
 * stopped. Definitions in the config's folder are uploaded to the bucket, as a user would.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { IAMClient } from "@aws-sdk/client-iam";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SQSClient } from "@aws-sdk/client-sqs";
import { makeAwsDeps } from "../aws/deps.js";
import { LocalRunner } from "../aws/local.js";
import type { Provisioned } from "../aws/provision.js";
import { depsPerRole } from "../aws/provision-iam.js";
import { awsParticipants, loadConfig } from "../embedded/config.js";
import { definitionFiles } from "../embedded/folder.js";
import { DocketError } from "../errors.js";

export async function localCommand(options: {
  endpoint?: string;
  config?: string;
  outputs?: string;
  prefix: string;
}): Promise<number> {
  const endpoint = options.endpoint ?? process.env.AWS_ENDPOINT_URL ?? "http://127.0.0.1:4566";
  const config = loadConfig(options.config);
  const aws = {
    endpoint,
    region: process.env.AWS_REGION ?? "us-east-1",
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "test",
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "test",
    },
  };
  const clients = {
    dynamo: new DynamoDBClient(aws),
    sqs: new SQSClient(aws),
    events: new EventBridgeClient(aws),
    s3: new S3Client(aws),
    secrets: new SecretsManagerClient(aws),
  };
  let resources: Provisioned;
  try {
    // Loaded here: the CDK takes a second to load, and only this command needs it.
    const { provisionEngine } = await import("../../cdk/synth.js");
    // With IAM's client the template's roles are created too: each handler then runs as its role.
    const iam = new IAMClient(aws);
    resources = await provisionEngine({ ...clients, iam }, options.prefix, awsParticipants(config));
  } catch (error) {
    throw new DocketError(
      "Unreachable",
      `cannot create docket's resources at ${endpoint}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const outputs = {
    bucket: resources.bucket,
    bus: resources.bus,
    table: resources.table,
    inbox: resources.queues.inbox,
    queues: { ...resources.queues.participants, default: resources.queues.tasks },
  };
  if (options.outputs) writeFileSync(options.outputs, `${JSON.stringify(outputs, null, 2)}\n`);
  console.error(`docket local on ${endpoint}: ${JSON.stringify(outputs)}`);
  for (const key of definitionFiles(config.definitions)) {
    await clients.s3.send(
      new PutObjectCommand({
        Bucket: resources.bucket,
        Key: key,
        Body: readFileSync(join(config.definitions, key), "utf8"),
      }),
    );
  }
  // Each handler signs as its own function's role (assumed with the credentials above), and polls
  // and deletes with it, as Lambda and its event source mapping do; on an emulator that enforces
  // IAM (tools/moto-server.py --iam) a grant the template lacks fails as it would on AWS.
  const functions = depsPerRole(aws, resources, (own, its) => makeAwsDeps(own, its));
  const runner = new LocalRunner(functions, resources.feeds);
  let stopped = false;
  const stop = () => {
    stopped = true;
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  while (!stopped) {
    try {
      if ((await runner.tick()) === 0) await new Promise((r) => setTimeout(r, 200));
    } catch (error) {
      console.error(`docket local: ${error instanceof Error ? error.message : String(error)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  return 0;
}

/** The AWS part of `npm run soak`: every single fault of the fault-free run, on an emulator. */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import { provisionEngine } from "../../cdk/synth.js";
import { makeAwsDeps } from "../../lib/aws/deps.js";
import { AWS_MIX, runAwsMix } from "./aws-harness.js";
import { everySingleFault } from "./harness.js";

export async function awsSoak(endpoint: string) {
  const config = {
    endpoint,
    region: process.env.AWS_REGION ?? "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  };
  const clients = {
    dynamo: new DynamoDBClient(config),
    sqs: new SQSClient(config),
    events: new EventBridgeClient(config),
    s3: new S3Client(config),
  };
  const run = Date.now().toString(36);
  const resources = await provisionEngine(clients, `soak${run}`);
  await makeAwsDeps(clients, resources).definitions.register("awsmix.yaml", AWS_MIX);
  const reference = await runAwsMix(clients, resources, `ref-${run}`, []);
  let schedules = 0;
  let fired = 0;
  let resent = 0;
  for (const [n, schedule] of everySingleFault(reference.calls).entries()) {
    const id = `s${n}-${run}`;
    const outcome = await runAwsMix(clients, resources, id, schedule, n + 1);
    schedules++;
    fired += outcome.fired.length;
    resent += outcome.resent;
    const want = JSON.stringify({ ...(reference.context as object), k: id });
    if (
      outcome.status !== "completed" ||
      JSON.stringify(outcome.context) !== want ||
      outcome.problems.length
    ) {
      console.error(`aws: schedule ${JSON.stringify(schedule)}: ${JSON.stringify(outcome)}`);
      process.exit(1);
    }
  }
  return { schedules, fired, resent, calls: reference.calls };
}

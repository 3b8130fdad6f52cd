/**
 * `docket local`: docket's AWS resources on an emulator endpoint (LocalStack or moto's server), the
 * very Lambda handlers run in this process by polling their queues, and the sweep ticked, until
 * stopped; the operations API served on localhost as the api function's role (what API Gateway
 * fronts on AWS). Definitions in the config's folder are uploaded to the bucket, as a user would.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { IAMClient } from "@aws-sdk/client-iam";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SQSClient } from "@aws-sdk/client-sqs";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type ClientConfig, depsPerRole, type FunctionName } from "../../emulator/provision-iam.js";
import { serveOperations } from "../api/http.js";
import { type AwsDeps, makeAwsDeps } from "../aws/deps.js";
import { awsOperations } from "../aws/operations.js";
import { awsParticipants, type DocketConfig, loadConfig } from "../embedded/config.js";
import { definitionFiles } from "../embedded/folder.js";
import { DocketError } from "../errors.js";
import type { JsonObject } from "../language/model.js";
import { scheduleMap } from "../language/schedule.js";
import { listenOn } from "./listen.js";

const log = (line: string) => console.error(`${new Date().toISOString()} ${line}`);

/** A lifecycle event as `docket serve` logs it: the event, the instance, a fault's or incident's details. */
export function lifecycleLine(event: string, detail: JsonObject): string {
  const fault = detail.fault as { id?: string; code?: string; message?: string } | undefined;
  const incident = detail.incident as { id?: string } | undefined;
  if (event.startsWith("docket.definition."))
    return `${event} ${detail.process}${detail.version ? ` (${detail.version})` : ""}${
      Array.isArray(detail.problems) ? `:\n  ${detail.problems.join("\n  ")}` : ""
    }`;
  const extra = fault
    ? ` fault ${fault.code} (error id ${fault.id}): ${fault.message}`
    : incident
      ? ` incident ${incident.id}`
      : "";
  return `${event} ${detail.instance}${extra}`;
}

/** Serves the operations API; resolves with its URL once it listens. */
async function listen(server: Server, host: string, port: number): Promise<string> {
  const bound = await listenOn(server, host, port, "--api-port");
  return `http://${host.includes(":") ? `[${host}]` : host}:${bound}`;
}

export interface LocalOptions {
  endpoint?: string;
  config?: string;
  outputs?: string;
  prefix: string;
  /** The operations API's port (0: any free one); default 7071. */
  apiPort?: string;
  /** The operations API's address; default 127.0.0.1. */
  host?: string;
}

/** Each function's dependencies, signing as its role. */
type Functions = (fn: FunctionName) => AwsDeps;

function emulatorClients(aws: ClientConfig) {
  return {
    dynamo: new DynamoDBClient(aws),
    sqs: new SQSClient(aws),
    events: new EventBridgeClient(aws),
    s3: new S3Client(aws),
    secrets: new SecretsManagerClient(aws),
  };
}

/** Creates the stack's resources on the emulator, the template's roles included. */
async function provision(
  aws: ClientConfig,
  clients: ReturnType<typeof emulatorClients>,
  options: LocalOptions,
  config: DocketConfig,
): Promise<Provisioned> {
  try {
    // Loaded here: the CDK takes a second to load, and only this command needs it.
    const { provisionEngine } = await import("../../cdk/synth.js");
    // With IAM's client the template's roles are created too: each handler then runs as its role.
    const iam = new IAMClient(aws);
    const schedules = scheduleMap(config.schedules ?? []);
    return await provisionEngine({ ...clients, iam }, options.prefix, {
      ...awsParticipants(config),
      schedules,
    });
  } catch (error) {
    throw new DocketError(
      "Unreachable",
      `cannot create docket's resources at ${aws.endpoint}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/** Serves the operations API as the api function's role; resolves with the server and its URL. */
async function startApi(
  functions: Functions,
  options: LocalOptions,
): Promise<{ server: Server; url: string }> {
  const host = options.host ?? "127.0.0.1";
  // DOCKET_API_TOKEN (from the environment, not the command line, where `ps` would show it), as `docket serve`.
  const token = process.env.DOCKET_API_TOKEN || undefined;
  if (!token && !["127.0.0.1", "localhost", "::1"].includes(host))
    log(
      `warning: serving the API on ${host} without DOCKET_API_TOKEN: anyone who reaches it can steer instances`,
    );
  const server = serveOperations(awsOperations(functions("api")), { log, token, console: true });
  return { server, url: await listen(server, host, Number(options.apiPort ?? 7071)) };
}

/** Uploads the config's definitions to the bucket, as a user would: each is registered by its event. */
async function uploadDefinitions(s3: S3Client, bucket: string, folder: string): Promise<void> {
  for (const key of definitionFiles(folder))
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(join(folder, key), "utf8") }),
    );
}

/** Runs the handlers on their queues' messages, and the sweep, until SIGINT or SIGTERM. */
async function pollUntilStopped(runner: LocalRunner): Promise<void> {
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
}

export async function localCommand(options: LocalOptions): Promise<number> {
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
  const clients = emulatorClients(aws);
  const resources = await provision(aws, clients, options, config);
  // Each handler signs as its own function's role (assumed with the credentials above), and polls
  // and deletes with it, as Lambda and its event source mapping do; on an emulator that enforces
  // IAM (tools/moto-server.py --iam) a grant the template lacks fails as it would on AWS. So does
  // the operations API, served here as the api function's role.
  const onPublish = (event: string, detail: JsonObject) => log(lifecycleLine(event, detail));
  const functions = depsPerRole(aws, resources, (own, its) => makeAwsDeps(own, its, { onPublish }));
  const { server, url } = await startApi(functions, options);
  const outputs = {
    bucket: resources.bucket,
    bus: resources.bus,
    table: resources.table,
    inbox: resources.queues.inbox,
    queues: { ...resources.queues.participants, default: resources.queues.tasks },
    api: url,
  };
  if (options.outputs) writeWhole(options.outputs, `${JSON.stringify(outputs, null, 2)}\n`);
  console.error(`docket local on ${endpoint}: ${JSON.stringify(outputs)}`);
  await uploadDefinitions(clients.s3, resources.bucket, config.definitions);
  await pollUntilStopped(new LocalRunner(functions, resources.feeds));
  server.close();
  // Open connections (a console's change stream, keep-alive ones) would hold the process up.
  server.closeAllConnections();
  return 0;
}

/** Whoever waits for the outputs file (a script, a test) must never read half of it: written beside, then renamed. */
function writeWhole(file: string, text: string): void {
  const partial = `${file}.${process.pid}.partial`;
  writeFileSync(partial, text);
  renameSync(partial, file);
}

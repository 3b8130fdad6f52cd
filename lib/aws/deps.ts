/** Building the AWS adapters and the runtime from SDK clients (tests pass clients pointed at an emulator). */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import type { LambdaClient } from "@aws-sdk/client-lambda";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { SFNClient } from "@aws-sdk/client-sfn";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { EngineError } from "../errors.js";
import { readScheduleMap, type Schedule } from "../language/schedule.js";
import type { FaultInjector } from "../runtime/faults.js";
import { Runtime } from "../runtime/runtime.js";
import { DynamoDefinitionStore } from "./definitions.js";
import { AwsDispatcher, type AwsDispatcherDeps, type AwsQueues } from "./dispatcher.js";
import { type EngineMetrics, lambdaMetrics } from "./metrics.js";
import { type PayloadStore, s3Payloads } from "./payloads.js";
import { type InboxSigner, secretSigner } from "./signing.js";
import { DynamoInstanceStore } from "./store.js";
import { DynamoSubscriptionIndex } from "./subscriptions.js";
import type { TableRef } from "./table.js";
import { parseTarget, type TargetSpec } from "./targets.js";

export interface AwsClients {
  readonly dynamo: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly events: EventBridgeClient;
  readonly s3: S3Client;
  /** For `lambda:` participants (made on first use when absent). */
  readonly lambda?: LambdaClient;
  /** For `sfn:` participants (made on first use when absent). */
  readonly sfn?: SFNClient;
  /** For the inbox signing key (made when absent). */
  readonly secrets?: SecretsManagerClient;
}

export interface AwsResources {
  readonly table: string;
  readonly bus: string;
  readonly bucket: string;
  readonly queues: AwsQueues & { readonly deadLetters?: string };
  /**
   * Participants the engine calls itself: name → `lambda:…`, `http:…` or `sfn:…` (see targets.ts).
   * Only the invoke function needs the specs; the others need `targetParticipants`.
   */
  readonly targets?: Readonly<Record<string, TargetSpec>>;
  /** The names of the participants the engine calls itself (their tasks go to the invoke queue). */
  readonly targetParticipants?: readonly string[];
  /** How long the invoke function lets one target call take, in milliseconds. */
  readonly targetTimeoutMs?: number;
  /** The secret holding the key that signs docket's own inbox messages (see signing.ts). */
  readonly inboxKeySecret?: string;
  /** The bucket large payloads go to (not the definitions bucket: see payloads.ts). */
  readonly payloadBucket?: string;
  /** Contexts and messages over this many bytes go to S3 (the payload bucket); default 64 KB. */
  readonly largePayloadBytes?: number;
  /** Schedules the construct declares (the sweep's DOCKET_SCHEDULES), besides those of definitions. */
  readonly schedules?: readonly Schedule[];
}

export interface AwsDeps {
  readonly clients: AwsClients;
  readonly resources: AwsResources;
  readonly table: TableRef;
  readonly runtime: Runtime;
  readonly dispatcher: AwsDispatcher;
  readonly definitions: DynamoDefinitionStore;
  readonly payloads: PayloadStore;
  readonly signer?: InboxSigner;
  readonly now: () => number;
  /** The function's metrics (steps, faults, dead letters…), published at the end of each invocation. */
  readonly metrics?: EngineMetrics;
}

/** What else the deps may be made with: the clock and ids (tests), and who hears of published events. */
export interface AwsDepsOptions {
  readonly now?: () => number;
  readonly newId?: () => string;
  /** Hears of each lifecycle event the dispatcher put on the bus (`docket local` logs them). */
  readonly onPublish?: AwsDispatcherDeps["onPublish"];
  /** Where the advance loop and the handlers count what they did (none: nothing is counted). */
  readonly metrics?: EngineMetrics;
  /** Subscriptions routed per page (default ROUTE_PAGE); tests make it small to see routing continue. */
  readonly routePage?: number;
}

/**
 * The adapters and the runtime over `clients`. The third argument is the clock, or the options
 * (`{ now, newId, onPublish }`).
 */
export function makeAwsDeps(
  clients: AwsClients,
  resources: AwsResources,
  clock: (() => number) | AwsDepsOptions = Date.now,
  ids?: () => string,
  /** Wraps the advance loop's ports to inject faults (the fault tests); never in production. */
  faults?: FaultInjector,
): AwsDeps {
  const options: AwsDepsOptions = typeof clock === "function" ? { now: clock, newId: ids } : clock;
  const now = options.now ?? Date.now;
  const newId = options.newId ?? ids ?? (() => crypto.randomUUID());
  const wrap = <T extends object>(port: T, name: Parameters<FaultInjector["wrap"]>[1]): T =>
    faults ? faults.wrap(port, name) : port;
  const table: TableRef = {
    client: DynamoDBDocumentClient.from(clients.dynamo, { marshallOptions: { removeUndefinedValues: true } }),
    name: resources.table,
  };
  const payloads = s3Payloads(clients.s3, resources.payloadBucket ?? "", resources.largePayloadBytes);
  const signer = resources.inboxKeySecret
    ? secretSigner(clients.secrets ?? new SecretsManagerClient({}), resources.inboxKeySecret)
    : undefined;
  const dispatcher = new AwsDispatcher({
    payloads,
    signer,
    sqs: clients.sqs,
    events: clients.events,
    table,
    queues: resources.queues,
    targets: new Set([...Object.keys(resources.targets ?? {}), ...(resources.targetParticipants ?? [])]),
    bus: resources.bus,
    now,
    onPublish: options.onPublish,
  });
  const definitions = new DynamoDefinitionStore(table, payloads);
  const runtime = new Runtime({
    store: wrap(new DynamoInstanceStore(table, definitions, payloads), "store"),
    dispatcher: wrap(dispatcher, "dispatcher"),
    subscriptions: wrap(
      new DynamoSubscriptionIndex(table, payloads, undefined, options.routePage),
      "subscriptions",
    ),
    definitions: wrap(definitions, "definitions"),
    clock: { now },
    newId,
    observer: options.metrics,
  });
  const { metrics } = options;
  return { clients, resources, table, runtime, dispatcher, definitions, payloads, signer, now, metrics };
}

/**
 * The resources a Lambda was configured with, from its environment; names the variable that is
 * missing or malformed. The construct gives each function only what it reads (cdk/engine.ts), so
 * the environment stays under Lambda's 4 KB whatever the number of participants.
 */
export function resourcesFromEnv(env: Record<string, string | undefined> = process.env): AwsResources {
  const need = (name: string): string => {
    const value = env[name];
    if (!value) throw new EngineError("Configuration", `the environment variable ${name} is not set`);
    return value;
  };
  const targets = targetSpecs(env.DOCKET_TARGETS);
  const timeout = env.DOCKET_TARGET_TIMEOUT_S;
  if (timeout !== undefined && !(Number(timeout) > 0))
    throw new EngineError(
      "Configuration",
      `DOCKET_TARGET_TIMEOUT_S must be a number of seconds, not "${timeout}"`,
    );
  const optional = <K extends string>(key: K, value: string | undefined) =>
    (value ? { [key]: value } : {}) as Partial<Record<K, string>>;
  return {
    table: need("DOCKET_TABLE"),
    bus: need("DOCKET_BUS"),
    bucket: env.DOCKET_BUCKET ?? "",
    largePayloadBytes: Number(env.DOCKET_LARGE_PAYLOAD_BYTES ?? 64 * 1024),
    targets,
    targetParticipants: (env.DOCKET_TARGET_PARTICIPANTS ?? "").split(",").filter(Boolean),
    ...(timeout !== undefined ? { targetTimeoutMs: Number(timeout) * 1000 } : {}),
    ...optional("inboxKeySecret", env.DOCKET_INBOX_KEY_SECRET),
    ...optional("payloadBucket", env.DOCKET_PAYLOAD_BUCKET),
    ...configuredSchedules(env.DOCKET_SCHEDULES),
    queues: {
      inbox: need("DOCKET_INBOX_URL"),
      timers: need("DOCKET_TIMERS_URL"),
      tasks: need("DOCKET_TASKS_URL"),
      ...optional("participantPrefix", env.DOCKET_PARTICIPANT_QUEUE_PREFIX),
      ...optional("invoke", env.DOCKET_INVOKE_URL),
      ...optional("ingest", env.DOCKET_INGEST_URL),
      ...optional("deadLetters", env.DOCKET_DLQ_URL),
    },
  };
}

/** DOCKET_SCHEDULES: the construct's `schedules` as JSON, read as docket.config.yaml's are. */
function configuredSchedules(json: string | undefined): { schedules?: readonly Schedule[] } {
  if (json === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {}
  const { schedules, problems } = readScheduleMap(value ?? "not JSON", "DOCKET_SCHEDULES");
  if (problems.length) throw new EngineError("Configuration", problems.join("; "));
  return { schedules };
}

/** DOCKET_TARGETS: a JSON object of participant → target spec, each read as the invoke handler will. */
function targetSpecs(json: string | undefined): Record<string, TargetSpec> {
  let value: unknown;
  try {
    value = JSON.parse(json ?? "{}");
  } catch {}
  if (!value || typeof value !== "object" || Array.isArray(value))
    throw new EngineError(
      "Configuration",
      'DOCKET_TARGETS must be a JSON object: { participant: "lambda:…" | "http:…" | "sfn:…" | { http, inputs?, outputs? } }',
    );
  const targets = value as Record<string, TargetSpec>;
  for (const [participant, spec] of Object.entries(targets)) parseTarget(participant, spec);
  return targets;
}

let cached: AwsDeps | undefined;

/** The deps a deployed handler uses: clients from the default chain (AWS_ENDPOINT_URL is honoured). */
export function defaultAwsDeps(): AwsDeps {
  cached ??= makeAwsDeps(
    {
      dynamo: new DynamoDBClient({}),
      sqs: new SQSClient({}),
      events: new EventBridgeClient({}),
      s3: new S3Client({}),
    },
    resourcesFromEnv(),
    { metrics: lambdaMetrics() },
  );
  return cached;
}

/**
 * DocketEngine: docket on AWS as one construct for your own CDK app. Definitions dropped in the
 * bucket are registered; `docket.launch` events on the bus start instances; state lives in one
 * DynamoDB table; tasks and replies travel on SQS; every Lambda is fed by a queue with a
 * dead-letter queue, except the sweep, which a rate(1 minute) rule runs, and the api function,
 * behind an IAM-authorized HTTP API (cdk/api.ts).
 */
import { Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from "aws-cdk-lib/aws-dynamodb";
import { EventBus, type IEventBus, Rule, Schedule } from "aws-cdk-lib/aws-events";
import { LambdaFunction, SqsQueue } from "aws-cdk-lib/aws-events-targets";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket } from "aws-cdk-lib/aws-s3";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { STATUS_INDEX } from "../lib/aws/listing.js";
import { TRANSIENT_PAYLOAD_DAYS } from "../lib/aws/payloads.js";
import { DEFINITION_INDEX } from "../lib/aws/table.js";
import type { Target } from "../lib/aws/targets.js";
import { alarmDeadLetters, alarmEngineMetrics } from "./alarms.js";
import { DocketApi, grantApiFunction } from "./api.js";
import { addDashboard } from "./dashboard.js";
import { guardEnvironmentSizes } from "./environment.js";
import { docketFunction, grantTargetCalls, parseTargets } from "./functions.js";
import { participantQueuePrefix, participantSetDigest, validateParticipants } from "./participants.js";
import type { DocketEngineProps } from "./props.js";
import { grantScheduleRecords, grantScheduleSweep, scheduleEnvironment } from "./schedules.js";

/** The largest largePayloadThreshold: three parts of a step item (message, commands, notes) stay under 400 KB. */
const MAX_LARGE_PAYLOAD_THRESHOLD = 100 * 1024;

import {
  DEFAULT_TARGET_TIMEOUT,
  FUNCTION_TIMEOUT,
  invokeTimeoutFor,
  MAX_FIFO_BATCH,
  maxReceiveCountFor,
  visibilityFor,
  WORKER_VISIBILITY,
} from "./sizing.js";

export type { DocketEngineProps };

export class DocketEngine extends Construct {
  readonly table: Table;
  readonly bus: IEventBus;
  readonly bucket: IBucket;
  /** Contexts, messages, task fields and definitions over the threshold (see lib/aws/payloads.ts). */
  readonly payloadBucket: Bucket;
  /** The FIFO inbox: everything addressed to an instance, grouped by instance. */
  readonly inbox: Queue;
  readonly taskQueue: Queue;
  /** Participants' own queues, each named `<participantQueuePrefix><participant>`. */
  readonly participantQueues: Readonly<Record<string, Queue>>;
  /** The name prefix of the participants' queues, unique to this engine (see cdk/participants.ts). */
  readonly participantQueuePrefix: string;
  readonly deadLetterQueues: Queue[] = [];
  /** The key that signs docket's own inbox messages (read by the functions that send or check them). */
  readonly inboxKey: Secret;
  readonly functions: Record<
    "advance" | "ingest" | "register" | "timerRelay" | "sweep" | "api",
    NodejsFunction
  >;
  /** The operations API (HTTP API, IAM-authorized): `grantRead`, `grantOperate`; its URL is output as `ApiUrl`. */
  readonly api: DocketApi;
  /** Runs the tasks of `targets` (absent without targets). */
  readonly invoker?: NodejsFunction;

  constructor(scope: Construct, id: string, props: DocketEngineProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const targets = parseTargets(props.targets ?? {});
    this.targetNames = new Set(Object.keys(targets));
    validateParticipants(props.participants ?? []);
    this.participantQueuePrefix = participantQueuePrefix(this);
    this.removalPolicy = removalPolicy;
    this.table = new Table(this, "Table", {
      partitionKey: { name: "pk", type: AttributeType.STRING },
      sortKey: { name: "sk", type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: "expires",
      removalPolicy,
    });
    // Listing instances by status is a query, not a scan; only the summary fields are projected.
    this.table.addGlobalSecondaryIndex({
      indexName: STATUS_INDEX,
      partitionKey: { name: "listing", type: AttributeType.STRING },
      sortKey: { name: "listed", type: AttributeType.STRING },
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: ["process", "status", "createdAt", "updatedAt"],
    });
    // The instances pinned to each definition version, counted without a scan (lib/aws/versions.ts):
    // sparse (only heads have `definition`), projecting `status` alone, so a step writes nothing
    // here and a status change one unit.
    this.table.addGlobalSecondaryIndex({
      indexName: DEFINITION_INDEX,
      partitionKey: { name: "definition", type: AttributeType.STRING },
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: ["status"],
    });
    this.bus = props.eventBus ?? new EventBus(this, "Bus");
    this.bucket =
      props.definitionsBucket ??
      new Bucket(this, "Definitions", {
        encryption: BucketEncryption.S3_MANAGED,
        blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        versioned: true,
        eventBridgeEnabled: true,
        removalPolicy,
        autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      });
    // Apart from definitions, so an offloaded payload is never taken for one.
    this.payloadBucket = new Bucket(this, "Payloads", {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      // Task fields and inbox messages in flight: no SQS message outlives them (see payloads.ts).
      lifecycleRules: [{ prefix: "transient/", expiration: Duration.days(TRANSIENT_PAYLOAD_DAYS) }],
    });
    const targetTimeout = props.targetTimeout ?? DEFAULT_TARGET_TIMEOUT;
    const threshold = props.largePayloadThreshold ?? 65536;
    const invokeTimeout = invokeTimeoutFor(targetTimeout);
    this.inbox = this.queue("Inbox", { fifo: true, feeds: FUNCTION_TIMEOUT });
    this.taskQueue = this.queue("Tasks");
    const participantQueues: Record<string, Queue> = {};
    for (const name of props.participants ?? [])
      participantQueues[name] = this.queue(`Participant-${name}`, {
        queueName: `${this.participantQueuePrefix}${name}`,
        // One dead-letter queue (and alarm) for every worker's tasks: a participant costs a queue
        // and its TLS policy, no more, within CloudFormation's 500 resources a stack.
        deadLetters: this.taskQueue.deadLetterQueue?.queue as Queue,
      });
    this.participantQueues = participantQueues;
    if (!(threshold >= 1024 && threshold <= MAX_LARGE_PAYLOAD_THRESHOLD))
      throw new Error(
        `DocketEngine: largePayloadThreshold is ${threshold}; it must be from 1024 to ${MAX_LARGE_PAYLOAD_THRESHOLD} bytes (a step item holds a message, commands and notes of up to that size each within DynamoDB's 400 KB, and an SQS message is at most 256 KB)`,
      );
    const timers = this.queue("TimerQueue", { feeds: FUNCTION_TIMEOUT });
    const ingest = this.queue("IngestQueue", { feeds: FUNCTION_TIMEOUT });
    const register = this.queue("RegisterQueue", { feeds: FUNCTION_TIMEOUT });
    const invoke = this.targetNames.size ? this.queue("InvokeQueue", { feeds: invokeTimeout }) : undefined;
    const deadLetters = this.queue("RejectedMessages", { deadLetters: false });
    // Signs docket's own inbox messages, so a worker (who may send replies there) can forge nothing else.
    this.inboxKey = new Secret(this, "InboxKey", {
      description: "docket: the HMAC key that signs the engine's own inbox messages",
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy,
    });
    this.deadLetterQueues.push(deadLetters);

    const environment = {
      DOCKET_TABLE: this.table.tableName,
      DOCKET_BUS: this.bus.eventBusName,
      DOCKET_BUCKET: this.bucket.bucketName,
      DOCKET_PAYLOAD_BUCKET: this.payloadBucket.bucketName,
      DOCKET_INBOX_URL: this.inbox.queueUrl,
      DOCKET_TIMERS_URL: timers.queueUrl,
      DOCKET_TASKS_URL: this.taskQueue.queueUrl,
      DOCKET_DLQ_URL: deadLetters.queueUrl,
      DOCKET_INBOX_KEY_SECRET: this.inboxKey.secretArn,
      // Participants' queues are found by name from this prefix; none is listed (Lambda's 4 KB).
      ...(Object.keys(participantQueues).length
        ? {
            DOCKET_PARTICIPANT_QUEUE_PREFIX: this.participantQueuePrefix,
            DOCKET_PARTICIPANT_SET: participantSetDigest(Object.keys(participantQueues)),
          }
        : {}),
      DOCKET_LARGE_PAYLOAD_BYTES: String(threshold),
    };
    // Only the advance function routes tasks to the invoke queue; only the invoke function calls targets.
    const routing: Record<string, string> = invoke
      ? { DOCKET_INVOKE_URL: invoke.queueUrl, DOCKET_TARGET_PARTICIPANTS: [...this.targetNames].join(",") }
      : {};
    const fn = (name: string, file: string, extra: Record<string, string> = {}, timeout = FUNCTION_TIMEOUT) =>
      docketFunction(this, name, file, {
        environment: { ...environment, ...extra },
        timeout,
        logRetention: props.logRetention,
        removalPolicy,
      });
    this.functions = {
      advance: fn("Advance", "advance.ts", routing),
      // Both publish events: routing beyond one page of awaits continues on the ingest queue.
      ingest: fn("Ingest", "ingest.ts", { DOCKET_INGEST_URL: ingest.queueUrl }),
      register: fn("Register", "register.ts"),
      timerRelay: fn("TimerRelay", "timer-relay.ts"),
      sweep: fn("Sweep", "sweep.ts", scheduleEnvironment(props.schedules)),
      api: fn("Api", "api.ts", { DOCKET_INGEST_URL: ingest.queueUrl }),
    };
    // Functions find participant queues by name, not by reference: without this a deploy could
    // update them before a new participant's queue exists, and its tasks would go to the default queue.
    for (const queue of Object.values(participantQueues)) this.functions.advance.node.addDependency(queue);
    this.wire({ timers, ingest, register, deadLetters });
    this.api = new DocketApi(this, "OperationsApi", {
      handler: this.functions.api,
      removalPolicy,
      logRetention: props.logRetention,
    });
    const { table, inbox, inboxKey, payloadBucket } = this;
    grantApiFunction(this.functions.api, { table, inbox, inboxKey, payloadBucket, ingest });
    if (invoke) {
      const calls = {
        // Its own queue too: it queues the polls of the executions it starts there.
        DOCKET_INVOKE_URL: invoke.queueUrl,
        DOCKET_TARGETS: JSON.stringify(props.targets),
        DOCKET_TARGET_TIMEOUT_S: String(targetTimeout.toSeconds()),
      };
      const invoker = fn("Invoke", "invoke.ts", calls, invokeTimeout);
      this.invoker = this.wireTargets(invoker, { invoke, ingest, deadLetters }, targets);
    }
    guardEnvironmentSizes(this, () => [
      ...Object.values(this.functions),
      ...(this.invoker ? [this.invoker] : []),
    ]);
    addDashboard(this);
    if (props.alarms ?? true) {
      alarmDeadLetters(this, this.deadLetterQueues, props.alarmTopic);
      alarmEngineMetrics(this, props.alarmTopic);
    }
  }

  private readonly targetNames: ReadonlySet<string>;
  private readonly removalPolicy: RemovalPolicy;

  /**
   * A queue with its own dead-letter queue, encrypted, TLS only. One that `feeds` a function of
   * that timeout is sized by AWS's rules (cdk/sizing.ts); the FIFO one is the inbox: high
   * throughput, and deduplicated by content, so a worker's reply needs no deduplication id.
   */
  private queue(
    name: string,
    options: { fifo?: boolean; feeds?: Duration; queueName?: string; deadLetters?: boolean | Queue } = {},
  ): Queue {
    const common = {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      fifo: options.fifo || undefined,
      retentionPeriod: Duration.days(14),
      removalPolicy: this.removalPolicy,
    };
    const shared = options.deadLetters instanceof Queue ? options.deadLetters : undefined;
    const own =
      !shared && (options.deadLetters ?? true) ? new Queue(this, `${name}DeadLetters`, common) : undefined;
    if (own) this.deadLetterQueues.push(own);
    const deadLetterQueue = shared ?? own;
    const visibilityTimeout = options.feeds ? visibilityFor(options.feeds) : WORKER_VISIBILITY;
    const maxReceiveCount = options.feeds ? maxReceiveCountFor(visibilityTimeout) : 5;
    return new Queue(this, name, {
      ...common,
      queueName: options.queueName,
      visibilityTimeout,
      ...(options.fifo
        ? {
            contentBasedDeduplication: true,
            deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
            fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
          }
        : {}),
      ...(deadLetterQueue ? { deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount } } : {}),
    });
  }

  /** Event sources, rules and least-privilege grants: each function gets what it touches, nothing more. */
  private wire(q: { timers: Queue; ingest: Queue; register: Queue; deadLetters: Queue }): void {
    const { advance, ingest, register, timerRelay, sweep } = this.functions;
    const feed = (f: NodejsFunction, queue: Queue) =>
      f.addEventSource(
        new SqsEventSource(queue, { batchSize: MAX_FIFO_BATCH, reportBatchItemFailures: true }),
      );
    feed(advance, this.inbox);
    feed(ingest, q.ingest);
    feed(register, q.register);
    feed(timerRelay, q.timers);
    new Rule(this, "SweepSchedule", { schedule: Schedule.rate(Duration.minutes(1)) }).addTarget(
      new LambdaFunction(sweep),
    );
    new Rule(this, "BusEvents", {
      eventBus: this.bus,
      eventPattern: { source: [{ "anything-but": "docket" }] as unknown as string[] },
    }).addTarget(new SqsQueue(q.ingest));
    new Rule(this, "DefinitionUploads", {
      eventPattern: {
        source: ["aws.s3"],
        detailType: ["Object Created"],
        detail: { bucket: { name: [this.bucket.bucketName] } },
      },
    }).addTarget(new SqsQueue(q.register));

    for (const f of [advance, ingest, register, sweep]) this.table.grantReadWriteData(f);
    // The relay reads an instance (and its definition) to drop a timer it no longer waits for:
    // reads of the table itself, and of offloaded snapshots, messages and definition sources.
    timerRelay.addToRolePolicy(
      new PolicyStatement({
        actions: ["dynamodb:GetItem", "dynamodb:Query"],
        resources: [this.table.tableArn],
      }),
    );
    timerRelay.addToRolePolicy(
      new PolicyStatement({
        actions: ["s3:GetObject"],
        resources: ["instances/*", "definitions/*"].map((keys) => this.payloadBucket.arnForObjects(keys)),
      }),
    );
    // A schedule's fire is launched by the relay, which records what it did on the schedule's item;
    // the sweep reads the definitions that declare schedules.
    grantScheduleRecords(timerRelay, this.table);
    grantScheduleSweep(sweep, this.payloadBucket);
    for (const f of [advance, ingest, timerRelay]) this.inbox.grantSendMessages(f);
    for (const f of [advance, ingest, timerRelay]) this.inboxKey.grantRead(f);
    for (const f of [advance, timerRelay, sweep]) q.timers.grantSendMessages(f);
    q.ingest.grantSendMessages(ingest);
    this.taskQueue.grantSendMessages(advance);
    // One statement for every participant's queue, however many: they share the name prefix.
    if (Object.keys(this.participantQueues).length)
      advance.addToRolePolicy(
        new PolicyStatement({
          actions: ["sqs:SendMessage"],
          resources: [
            Stack.of(this).formatArn({ service: "sqs", resource: `${this.participantQueuePrefix}*` }),
          ],
        }),
      );
    for (const f of [advance, register]) this.bus.grantPutEventsTo(f);
    for (const f of [advance, ingest, timerRelay]) q.deadLetters.grantSendMessages(f);
    for (const f of [advance, ingest, register]) this.grantPayloads(f);
    // Only reading objects: not listing, not the bucket's configuration.
    register.addToRolePolicy(
      new PolicyStatement({ actions: ["s3:GetObject"], resources: [this.bucket.arnForObjects("*")] }),
    );
  }

  /** The invoke function: fed by its queue, allowed to call exactly the targets, and to answer in the inbox. */
  private wireTargets(
    invoker: NodejsFunction,
    q: { invoke: Queue; ingest: Queue; deadLetters: Queue },
    targets: Readonly<Record<string, Target>>,
  ): NodejsFunction {
    // One target call per invocation: a slow one times out alone and redoes no other (cdk/sizing.ts).
    invoker.addEventSource(new SqsEventSource(q.invoke, { batchSize: 1, reportBatchItemFailures: true }));
    // The advance function hands the targets' tasks to this queue (without it every such task is refused).
    q.invoke.grantSendMessages(this.functions.advance);
    this.inbox.grantSendMessages(invoker);
    this.inboxKey.grantRead(invoker);
    q.deadLetters.grantSendMessages(invoker);
    this.grantPayloads(invoker);
    grantTargetCalls(this, invoker, targets, q);
    return invoker;
  }

  /** Contexts, messages and task fields over the threshold are offloaded to the payload bucket (read and write). */
  private grantPayloads(f: NodejsFunction): void {
    f.addToRolePolicy(
      new PolicyStatement({
        actions: ["s3:GetObject", "s3:PutObject"],
        resources: [this.payloadBucket.arnForObjects("*")],
      }),
    );
  }

  /**
   * Lets a worker read task fields that were too large for SQS: such a task carries
   * `fields_ref: { bucket, key }` instead of `fields`.
   */
  grantTaskPayloadRead(worker: IGrantable): void {
    worker.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["s3:GetObject"],
        resources: [this.payloadBucket.arnForObjects("transient/*")],
      }),
    );
  }

  /**
   * Lets a worker of `participant` do its work and nothing more: receive, delete and hand back
   * (change the visibility of) the tasks of its queue, send its replies to the inbox, and read its
   * tasks' offloaded fields. A participant without a queue of its own shares the default task
   * queue with the other such participants, and may also send to it (to pass their tasks on): its
   * workers can read, drop and send any task there, so a participant whose tasks must stay apart
   * needs a queue of its own (`participants`).
   */
  grantWorker(worker: IGrantable, participant: string): void {
    if (this.targetNames.has(participant))
      throw new Error(
        `DocketEngine: ${participant} is a target: the engine calls it itself, it has no worker`,
      );
    const own = this.participantQueues[participant];
    const queue = own ?? this.taskQueue;
    // On the shared default queue a worker passes other participants' tasks on by sending them
    // again (lib/worker/sqs.ts): putting them back would count towards their dead-lettering.
    const passOn = own ? [] : ["sqs:SendMessage"];
    worker.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", ...passOn],
        resources: [queue.queueArn],
      }),
    );
    worker.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ["sqs:SendMessage"], resources: [this.inbox.queueArn] }),
    );
    this.grantTaskPayloadRead(worker);
  }

  /** Lets a principal call the operations API with every method: read, launch, publish, operate, delete. */
  grantOperate(principal: IGrantable): void {
    this.api.grantOperate(principal);
  }

  /** Lets a principal only read through the operations API (GET). */
  grantRead(principal: IGrantable): void {
    this.api.grantRead(principal);
  }
}

/**
 * DocketEngine: docket on AWS as one construct for your own CDK app. Definitions dropped in the
 * bucket are registered; `docket.launch` events on the bus start instances; state lives in one
 * DynamoDB table; tasks and replies travel on SQS; every Lambda is fed by a queue with a
 * dead-letter queue, except the sweep, which a rate(1 minute) rule runs.
 */
import { fileURLToPath } from "node:url";
import { ArnFormat, Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import { Alarm, ComparisonOperator, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from "aws-cdk-lib/aws-dynamodb";
import { EventBus, type IEventBus, Rule, Schedule } from "aws-cdk-lib/aws-events";
import { LambdaFunction, SqsQueue } from "aws-cdk-lib/aws-events-targets";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { Architecture, Runtime, Tracing } from "aws-cdk-lib/aws-lambda";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket } from "aws-cdk-lib/aws-s3";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { STATUS_INDEX } from "../lib/aws/listing.js";
import { parseTarget, type Target } from "../lib/aws/targets.js";

export interface DocketEngineProps {
  /**
   * Participants that get a queue of their own; tasks of any other participant go to the default
   * task queue with the participant's name in the `participant` message attribute.
   * @default - none: every task goes to the default task queue
   */
  readonly participants?: readonly string[];
  /**
   * Participants the engine calls itself, by name: `lambda:<function name or ARN>` (invoked with
   * the task, its result is the reply), `http:<url>` (the task POSTed as JSON, the response is the
   * reply) or `sfn:<state machine ARN>` (an execution per task; its end is the reply). Their tasks
   * go to an invoke queue that a function of its own drains.
   * @default - none
   */
  readonly targets?: Readonly<Record<string, string>>;
  /**
   * The bucket definitions are dropped in. It must send its events to EventBridge.
   * @default - a new encrypted, private bucket with EventBridge notifications
   */
  readonly definitionsBucket?: IBucket;
  /**
   * The bus that launches instances and carries awaited and lifecycle events.
   * @default - a new event bus
   */
  readonly eventBus?: IEventBus;
  /**
   * What happens to the table and the bucket when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * How long the Lambdas' logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Whether to alarm when anything lands in a dead-letter queue.
   * @default true
   */
  readonly alarms?: boolean;
  /**
   * Contexts and replies larger than this many bytes are stored in S3 and referenced.
   * @default 65536
   */
  readonly largePayloadThreshold?: number;
}

const FUNCTIONS = new URL("../functions/", import.meta.url);

/** Each target read as the engine will read it, so a typo fails `cdk synth`, not a task in production. */
function parseTargets(specs: Readonly<Record<string, string>>): Record<string, Target> {
  const targets: Record<string, Target> = {};
  for (const [name, spec] of Object.entries(specs)) {
    try {
      targets[name] = parseTarget(name, spec);
    } catch (error) {
      throw new Error(`DocketEngine: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return targets;
}

export class DocketEngine extends Construct {
  readonly table: Table;
  readonly bus: IEventBus;
  readonly bucket: IBucket;
  /** The FIFO inbox: everything addressed to an instance, grouped by instance. */
  readonly inbox: Queue;
  readonly taskQueue: Queue;
  readonly participantQueues: Readonly<Record<string, Queue>>;
  readonly deadLetterQueues: Queue[] = [];
  /** The key that signs docket's own inbox messages (read by the functions that send or check them). */
  readonly inboxKey: Secret;
  readonly functions: Record<"advance" | "ingest" | "register" | "timerRelay" | "sweep", NodejsFunction>;
  /** Runs the tasks of `targets` (absent without targets). */
  readonly invoker?: NodejsFunction;

  constructor(scope: Construct, id: string, props: DocketEngineProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const targets = parseTargets(props.targets ?? {});
    for (const name of props.participants ?? []) {
      if (!/^[A-Za-z0-9_-]{1,60}$/.test(name))
        throw new Error(
          `DocketEngine: participant "${name}" cannot name a queue; use letters, digits, _ and - (at most 60)`,
        );
    }
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
      });
    this.inbox = this.queue("Inbox", true);
    this.taskQueue = this.queue("Tasks");
    const participantQueues: Record<string, Queue> = {};
    for (const name of props.participants ?? []) participantQueues[name] = this.queue(`Participant-${name}`);
    this.participantQueues = participantQueues;
    const timers = this.queue("TimerQueue");
    const ingest = this.queue("IngestQueue");
    const register = this.queue("RegisterQueue");
    const invoke = Object.keys(targets).length ? this.queue("InvokeQueue") : undefined;
    const deadLetters = this.queue("RejectedMessages", false, false);
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
      DOCKET_INBOX_URL: this.inbox.queueUrl,
      DOCKET_TIMERS_URL: timers.queueUrl,
      DOCKET_TASKS_URL: this.taskQueue.queueUrl,
      DOCKET_DLQ_URL: deadLetters.queueUrl,
      DOCKET_INBOX_KEY_SECRET: this.inboxKey.secretArn,
      DOCKET_PARTICIPANT_QUEUES: JSON.stringify(
        Object.fromEntries(Object.entries(participantQueues).map(([n, q]) => [n, q.queueUrl])),
      ),
      DOCKET_LARGE_PAYLOAD_BYTES: String(props.largePayloadThreshold ?? 65536),
      ...(invoke
        ? { DOCKET_INVOKE_URL: invoke.queueUrl, DOCKET_TARGETS: JSON.stringify(props.targets) }
        : {}),
    };
    const fn = (name: string, file: string) =>
      new NodejsFunction(this, name, {
        entry: fileURLToPath(new URL(file, FUNCTIONS)),
        handler: "handler",
        runtime: Runtime.NODEJS_24_X,
        architecture: Architecture.ARM_64,
        memorySize: 512,
        timeout: Duration.seconds(30),
        tracing: Tracing.ACTIVE,
        logGroup: new LogGroup(this, `${name}Logs`, {
          retention: props.logRetention ?? RetentionDays.ONE_MONTH,
          removalPolicy,
        }),
        // DOCKET_FUNCTION tells the emulator runner which handler a function is.
        environment: { ...environment, DOCKET_FUNCTION: file.replace(/\.ts$/, "") },
        bundling: { minify: true, sourceMap: true, forceDockerBundling: false },
      });
    this.functions = {
      advance: fn("Advance", "advance.ts"),
      ingest: fn("Ingest", "ingest.ts"),
      register: fn("Register", "register.ts"),
      timerRelay: fn("TimerRelay", "timer-relay.ts"),
      sweep: fn("Sweep", "sweep.ts"),
    };
    this.wire({ timers, ingest, register, deadLetters });
    if (invoke)
      this.invoker = this.wireTargets(fn("Invoke", "invoke.ts"), { invoke, ingest, deadLetters }, targets);
    if (props.alarms ?? true) this.alarm();
  }

  /** A queue with its own dead-letter queue, encrypted, TLS only. */
  private queue(name: string, fifo = false, withDeadLetters = true): Queue {
    const common = {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      fifo: fifo || undefined,
      retentionPeriod: Duration.days(14),
    };
    const deadLetterQueue = withDeadLetters ? new Queue(this, `${name}DeadLetters`, common) : undefined;
    if (deadLetterQueue) this.deadLetterQueues.push(deadLetterQueue);
    return new Queue(this, name, {
      ...common,
      visibilityTimeout: Duration.seconds(180),
      ...(deadLetterQueue ? { deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: 5 } } : {}),
    });
  }

  /** Event sources, rules and least-privilege grants: each function gets what it touches, nothing more. */
  private wire(q: { timers: Queue; ingest: Queue; register: Queue; deadLetters: Queue }): void {
    const { advance, ingest, register, timerRelay, sweep } = this.functions;
    const feed = (f: NodejsFunction, queue: Queue) =>
      f.addEventSource(new SqsEventSource(queue, { batchSize: 10, reportBatchItemFailures: true }));
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
    for (const f of [advance, ingest, timerRelay]) this.inbox.grantSendMessages(f);
    for (const f of [advance, ingest, timerRelay]) this.inboxKey.grantRead(f);
    for (const f of [advance, timerRelay, sweep]) q.timers.grantSendMessages(f);
    this.taskQueue.grantSendMessages(advance);
    for (const queue of Object.values(this.participantQueues)) queue.grantSendMessages(advance);
    for (const f of [advance, register]) this.bus.grantPutEventsTo(f);
    for (const f of [advance, ingest]) q.deadLetters.grantSendMessages(f);
    for (const f of [advance, ingest]) this.grantPayloads(f);
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
    invoker.addEventSource(new SqsEventSource(q.invoke, { batchSize: 10, reportBatchItemFailures: true }));
    this.inbox.grantSendMessages(invoker);
    this.inboxKey.grantRead(invoker);
    q.deadLetters.grantSendMessages(invoker);
    this.grantPayloads(invoker);
    const all = Object.values(targets);
    const functions = all.flatMap((t) => (t.kind === "lambda" ? [t.function] : []));
    const machines = all.flatMap((t) => (t.kind === "sfn" ? [t.stateMachine] : []));
    if (functions.length)
      invoker.addToRolePolicy(
        new PolicyStatement({
          actions: ["lambda:InvokeFunction"],
          resources: functions.map((f) =>
            f.startsWith("arn:")
              ? f
              : Stack.of(this).formatArn({
                  service: "lambda",
                  resource: "function",
                  resourceName: f,
                  arnFormat: ArnFormat.COLON_RESOURCE_NAME,
                }),
          ),
        }),
      );
    if (machines.length) {
      invoker.addToRolePolicy(
        new PolicyStatement({ actions: ["states:StartExecution"], resources: machines }),
      );
      // Their executions' ends come on the default bus; the ingest function turns them into replies.
      new Rule(this, "ExecutionEnds", {
        eventPattern: {
          source: ["aws.states"],
          detailType: ["Step Functions Execution Status Change"],
          detail: { stateMachineArn: machines, status: ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"] },
        },
      }).addTarget(new SqsQueue(q.ingest));
    }
    return invoker;
  }

  /** Contexts, messages and task fields over the threshold are offloaded under payloads/ (read and write). */
  private grantPayloads(f: NodejsFunction): void {
    f.addToRolePolicy(
      new PolicyStatement({
        actions: ["s3:GetObject", "s3:PutObject"],
        resources: [this.bucket.arnForObjects("payloads/*")],
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
        resources: [this.bucket.arnForObjects("payloads/*")],
      }),
    );
  }

  private alarm(): void {
    for (const [i, queue] of this.deadLetterQueues.entries()) {
      new Alarm(this, `DeadLetters${i}`, {
        metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: `A message could not be processed and waits in ${queue.node.path}`,
      });
    }
  }
}

/** DocketEngine's properties (cdk/engine.ts), each documented as `cdk` users see it. */
import type { Duration, RemovalPolicy } from "aws-cdk-lib";
import type { IEventBus } from "aws-cdk-lib/aws-events";
import type { RetentionDays } from "aws-cdk-lib/aws-logs";
import type { IBucket } from "aws-cdk-lib/aws-s3";
import type { ITopic } from "aws-cdk-lib/aws-sns";
import type { TargetSpec } from "../lib/aws/targets.js";
import type { ScheduleProps } from "../lib/language/schedule.js";

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
   * reply) or `sfn:<state machine ARN>` (an execution per task; its end is the reply); or
   * `{ http: url, inputs?, outputs? }`, an HTTP service sent only its declared input fields and
   * answering only its declared output fields, each of its type (`string`, `number`, `boolean`,
   * `object`, `array`), as docket.config.yaml's `http` participants. Their tasks go to an invoke
   * queue that a function of its own drains.
   * @default - none
   */
  readonly targets?: Readonly<Record<string, TargetSpec>>;
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
   * What happens to the table, the buckets, the queues, the secret and the log groups when the
   * stack is deleted. With DESTROY, the buckets the construct made are emptied first.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * How long the invoke function lets one target call take (a `lambda:` invocation, an `http:`
   * request, an `sfn:` start); the function's timeout and its queue's visibility follow from it.
   * @default Duration.seconds(60)
   */
  readonly targetTimeout?: Duration;
  /**
   * A topic the alarms notify (anything dead-lettered, an incident opened).
   * @default - the alarms notify no one
   */
  readonly alarmTopic?: ITopic;
  /**
   * How long the Lambdas' logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Whether to alarm when anything lands in a dead-letter queue or an incident opens.
   * @default true
   */
  readonly alarms?: boolean;
  /**
   * Contexts and replies larger than this many bytes are stored in S3 and referenced; from 1024 to
   * 102400 (a step item holds three such parts within DynamoDB's 400 KB).
   * @default 65536
   */
  readonly largePayloadThreshold?: number;
  /**
   * Scheduled launches, by schedule name: `{ process, cron | rate, timezone?, fields?, overlap?,
   * catchup? }` (README: Schedules). Definitions may declare more of their own. They are checked
   * at synth (a bad cron, an unknown time zone fail it) and given to the sweep function.
   * @default - none
   */
  readonly schedules?: Readonly<Record<string, ScheduleProps>>;
}

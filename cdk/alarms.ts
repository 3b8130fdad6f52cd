/** The dead-letter and incident alarms: anything set aside, or waiting for an operator, is something to look at. */
import { Duration } from "aws-cdk-lib";
import { Alarm, ComparisonOperator, type IMetric, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import type { ITopic } from "aws-cdk-lib/aws-sns";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import { deadLettersMetric, incidentsMetric } from "./dashboard.js";
import type { DocketEngine } from "./engine.js";

/** An alarm on each dead-letter queue (named after it, so adding a participant renames none). */
export function alarmDeadLetters(
  scope: Construct,
  queues: readonly Queue[],
  topic: ITopic | undefined,
): void {
  for (const queue of queues) {
    const alarm = new Alarm(scope, `${queue.node.id}Alarm`, {
      metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: `A message could not be processed and waits in ${queue.node.path}`,
    });
    if (topic) alarm.addAlarmAction(new SnsAction(topic));
  }
}

/**
 * Alarms on the functions' own metrics (lib/aws/metrics.ts): an incident opened (an action out of
 * retries, its instance suspended until an operator retries, skips or fails it) and a record set
 * aside by a function (the dead-letter queue's alarm sees it too; this one says it happened even
 * once the queue is emptied). A minute without data is not an alarm.
 */
export function alarmEngineMetrics(engine: DocketEngine, topic: ITopic | undefined): void {
  const above0 = (id: string, metric: IMetric, alarmDescription: string) => {
    const alarm = new Alarm(engine, id, {
      metric,
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription,
    });
    if (topic) alarm.addAlarmAction(new SnsAction(topic));
  };
  above0(
    "IncidentsMetricAlarm",
    incidentsMetric(engine),
    "An action ran out of retries: its instance is suspended until an operator retries, skips or fails it",
  );
  above0(
    "DeadLettersMetricAlarm",
    deadLettersMetric(engine),
    "A function set a message aside in the dead-letter queue with its reason (see its log)",
  );
}

/** The dead-letter alarms: anything set aside is something to look at. */
import { Duration } from "aws-cdk-lib";
import { Alarm, ComparisonOperator, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import type { ITopic } from "aws-cdk-lib/aws-sns";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";

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

/**
 * The construct's part of scheduled launches (lib/aws/schedules.ts): the `schedules` prop checked
 * at synth and handed to the sweep, which arms their fires; and the relay's one write, what a fire
 * did, on the schedules' items only.
 */
import type { ITable } from "aws-cdk-lib/aws-dynamodb";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import type { IBucket } from "aws-cdk-lib/aws-s3";
import { SCHEDULES_PARTITION } from "../lib/aws/schedules.js";
import { readScheduleMap, type ScheduleProps } from "../lib/language/schedule.js";

/** The sweep's DOCKET_SCHEDULES; a bad schedule (a bad cron, an unknown time zone) fails `cdk synth`, named. */
export function scheduleEnvironment(
  schedules: Readonly<Record<string, ScheduleProps>> | undefined,
): Record<string, string> {
  if (!schedules || !Object.keys(schedules).length) return {};
  const { problems } = readScheduleMap(schedules);
  if (problems.length) throw new Error(`DocketEngine: ${problems.join("; ")}`);
  return { DOCKET_SCHEDULES: JSON.stringify(schedules) };
}

/**
 * Lets the sweep read definitions offloaded to the payload bucket (a large one's source is there):
 * it reads each process's latest version for the schedules it declares.
 */
export function grantScheduleSweep(sweep: IFunction, payloadBucket: IBucket): void {
  sweep.addToRolePolicy(
    new PolicyStatement({
      actions: ["s3:GetObject"],
      resources: [payloadBucket.arnForObjects("definitions/*")],
    }),
  );
}

/**
 * Lets the timer relay record what a schedule's fire did (UpdateItem), on the `SCHEDULES` items
 * alone (dynamodb:LeadingKeys): it writes nothing else in the table.
 */
export function grantScheduleRecords(relay: IFunction, table: ITable): void {
  relay.addToRolePolicy(
    new PolicyStatement({
      actions: ["dynamodb:UpdateItem"],
      resources: [table.tableArn],
      conditions: { "ForAllValues:StringEquals": { "dynamodb:LeadingKeys": [SCHEDULES_PARTITION] } },
    }),
  );
}

/**
 * The engine's dashboard and its alarms on the functions' own metrics (lib/aws/metrics.ts): the
 * dashboard reads each metric the functions publish and Lambda's and the inbox's; the incident and
 * dead-letter alarms read the right metric of the right functions and notify the alarm topic; no
 * grant is added (EMF goes through the logs), and cdk-nag still passes.
 */
import { Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { Topic } from "aws-cdk-lib/aws-sns";
import { AwsSolutionsChecks } from "cdk-nag";
import type { IConstruct } from "constructs";
import { beforeAll, describe, expect, it } from "vitest";
import { DocketEngine } from "../../cdk/engine.js";
import { acknowledgeNagFindings } from "../../cdk/nag.js";
import { METRIC, METRICS_NAMESPACE } from "../../lib/aws/metrics.js";
import { type Resources, resourcesOf, unbundledApp } from "./helpers.js";

let stack: Stack;
let engine: DocketEngine;
let topic: Topic;
let template: Template;

beforeAll(() => {
  stack = new Stack(unbundledApp(), "Watched");
  topic = new Topic(stack, "Pager", { enforceSSL: true });
  engine = new DocketEngine(stack, "Docket", {
    participants: ["approve"],
    targets: { score: "lambda:scorer" },
    alarmTopic: topic,
  });
  acknowledgeNagFindings(engine);
  template = Template.fromStack(stack);
}, 120_000);

const idOf = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as never);
const serviceOf = (construct: IConstruct) => ({ Name: "service", Value: { Ref: idOf(construct) } });

type AlarmProperties = {
  MetricName?: string;
  Namespace?: string;
  Dimensions?: unknown[];
  Metrics?: {
    Expression?: string;
    MetricStat?: { Metric: { MetricName: string; Namespace: string; Dimensions: unknown[] } };
  }[];
  Threshold?: number;
  ComparisonOperator?: string;
  AlarmActions?: unknown[];
};

function alarms(resources: Resources = resourcesOf(template, "AWS::CloudWatch::Alarm")): AlarmProperties[] {
  return Object.values(resources).map((r) => r.Properties as AlarmProperties);
}

/** The dashboard's body as JSON, each token in it (a Ref, a GetAtt) written `<Ref:Id>`. */
function dashboardBody(from: Template): {
  widgets: { properties: { title: string; metrics: unknown[][] } }[];
} {
  const [dashboard] = Object.values(resourcesOf(from, "AWS::CloudWatch::Dashboard"));
  const join = dashboard?.Properties?.DashboardBody as { "Fn::Join": [string, unknown[]] };
  const token = (part: unknown) => `<${JSON.stringify(part).replace(/[{}"]/g, "")}>`;
  return JSON.parse(
    join["Fn::Join"][1].map((part) => (typeof part === "string" ? part : token(part))).join(""),
  );
}

/** Each line of a graph as `namespace metric dimension=value… stat`, or `label: expression`. */
function lines(body: ReturnType<typeof dashboardBody>): string[] {
  return body.widgets.flatMap((widget) =>
    widget.properties.metrics.map((line) => {
      const options = line.at(-1) as { stat?: string; expression?: string; label?: string };
      if (options.expression) return `${options.label}: ${options.expression}`;
      const [namespace, metric, ...dimensions] = line.slice(0, -1) as string[];
      const pairs = dimensions.flatMap((d, i) => (i % 2 ? [] : [`${d}=${dimensions[i + 1]}`]));
      return [namespace, metric, ...pairs, options.stat].join(" ");
    }),
  );
}

const ref = (construct: IConstruct) => `<Ref:${idOf(construct)}>`;

describe("the engine's dashboard", () => {
  it("graphs the advance function's step metrics: counts, latency p50 and p99, faults, incidents, resends", () => {
    const graphed = lines(dashboardBody(template));
    const advance = ref(engine.functions.advance);
    for (const name of [METRIC.stepsApplied, METRIC.stepsIgnored, METRIC.faults, METRIC.incidents])
      expect(graphed).toContain(`docket ${name} service=${advance} Sum`);
    expect(graphed).toContain(`docket ${METRIC.outboxResends} service=${advance} Sum`);
    expect(graphed).toContain(`docket ${METRIC.stepLatency} service=${advance} p50`);
    expect(graphed).toContain(`docket ${METRIC.stepLatency} service=${advance} p99`);
  });

  it("graphs instances started and ended per process (and status), and dead letters of every function", () => {
    const graphed = lines(dashboardBody(template));
    const advance = ref(engine.functions.advance);
    expect(graphed).toContain(
      `\${PROP('Dim.process')}: SEARCH('{docket,service,process} MetricName="InstancesStarted" service="${advance}"', 'Sum', 60)`,
    );
    expect(graphed).toContain(
      `\${PROP('Dim.process')} \${PROP('Dim.status')}: SEARCH('{docket,service,process,status} MetricName="InstancesEnded" service="${advance}"', 'Sum', 60)`,
    );
    expect(graphed).toContain("DeadLetters: SUM([d0, d1, d2, d3])");
    const { ingest, timerRelay } = engine.functions;
    for (const fn of [engine.functions.advance, ingest, timerRelay, engine.invoker as IConstruct])
      expect(graphed).toContain(`docket ${METRIC.deadLetters} service=${ref(fn)} Sum`);
  });

  it("graphs the inbox's oldest message and depth, and Lambda's errors, throttles and duration of every function", () => {
    const graphed = lines(dashboardBody(template));
    const inbox = `<Fn::GetAtt:[${idOf(engine.inbox)},QueueName]>`;
    expect(graphed).toContain(`AWS/SQS ApproximateAgeOfOldestMessage QueueName=${inbox} Maximum`);
    expect(graphed).toContain(`AWS/SQS ApproximateNumberOfMessagesVisible QueueName=${inbox} Maximum`);
    const functions = [...Object.values(engine.functions), engine.invoker as IConstruct];
    expect(functions).toHaveLength(7);
    for (const fn of functions) {
      expect(graphed).toContain(`AWS/Lambda Errors FunctionName=${ref(fn)} Sum`);
      expect(graphed).toContain(`AWS/Lambda Throttles FunctionName=${ref(fn)} Sum`);
      expect(graphed).toContain(`AWS/Lambda Duration FunctionName=${ref(fn)} p99`);
    }
  });
});

describe("the alarms on the functions' metrics", () => {
  it("alarms on any incident opened, from the advance function's Incidents, and notifies the topic", () => {
    const incidents = alarms().filter((a) => a.MetricName === METRIC.incidents);
    expect(incidents).toEqual([
      expect.objectContaining({
        Namespace: METRICS_NAMESPACE,
        Dimensions: [serviceOf(engine.functions.advance)],
        Statistic: "Sum",
        Threshold: 0,
        ComparisonOperator: "GreaterThanThreshold",
        TreatMissingData: "notBreaching",
        AlarmActions: [{ Ref: idOf(topic) }],
      }),
    ]);
  });

  it("alarms on any record set aside, summing DeadLetters over every function that sets records aside", () => {
    const deadLetters = alarms().filter((a) =>
      a.Metrics?.some((m) => m.MetricStat?.Metric.MetricName === METRIC.deadLetters),
    );
    expect(deadLetters).toHaveLength(1);
    const [alarm] = deadLetters;
    expect(alarm).toMatchObject({ Threshold: 0, AlarmActions: [{ Ref: idOf(topic) }] });
    const stats = alarm?.Metrics?.flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : [])) ?? [];
    expect(new Set(stats.map((m) => `${m.Namespace}/${m.MetricName}`))).toEqual(
      new Set([`${METRICS_NAMESPACE}/${METRIC.deadLetters}`]),
    );
    const { advance, ingest, timerRelay } = engine.functions;
    expect(stats.map((m) => m.Dimensions)).toEqual(
      [advance, ingest, timerRelay, engine.invoker as IConstruct].map((fn) => [serviceOf(fn)]),
    );
    expect(alarm?.Metrics?.find((m) => m.Expression)?.Expression).toBe("SUM([d0, d1, d2, d3])");
  });

  it("has no metric alarms with alarms: false, and still the dashboard", () => {
    const quiet = new Stack(unbundledApp(), "Quiet");
    new DocketEngine(quiet, "Docket", { alarms: false });
    const quietTemplate = Template.fromStack(quiet);
    expect(alarms(resourcesOf(quietTemplate, "AWS::CloudWatch::Alarm"))).toEqual([]);
    expect(Object.keys(resourcesOf(quietTemplate, "AWS::CloudWatch::Dashboard"))).toHaveLength(1);
  });
});

describe("what the metrics cost in permissions", () => {
  it("grants no cloudwatch action: EMF metrics come from the functions' logs", () => {
    const policies = JSON.stringify(resourcesOf(template, "AWS::IAM::Policy"));
    expect(policies).toContain("sqs:SendMessage");
    expect(policies).not.toContain("cloudwatch:");
  });

  it("still passes cdk-nag's AwsSolutions checks", () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    const open = report.violations.filter((v) => v.severity === "error").map((v) => v.ruleName);
    expect(open).toEqual([]);
  });
});

/**
 * The engine's CloudWatch dashboard, and the metrics it and the alarms (cdk/alarms.ts) read: the
 * functions' own metrics (lib/aws/metrics.ts: EMF lines in their logs, namespace `docket`,
 * dimension `service` = the function's name), the inbox's age and depth, and Lambda's errors,
 * throttles and duration for every function of the engine. Nothing is granted: EMF metrics come
 * from the log groups the functions already write.
 */
import { Duration } from "aws-cdk-lib";
import {
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  SearchExpression,
  Stats,
} from "aws-cdk-lib/aws-cloudwatch";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { METRIC, METRICS_NAMESPACE } from "../lib/aws/metrics.js";
import type { DocketEngine } from "./engine.js";

const PERIOD = Duration.minutes(1);
const WIDTH = 8;

/** One of docket's metrics as `fn` publishes it (its `service` dimension is the function's name). */
export function docketMetric(
  fn: IFunction,
  name: string,
  options: { statistic?: string; label?: string } = {},
): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { service: fn.functionName },
    statistic: options.statistic ?? Stats.SUM,
    period: PERIOD,
    ...(options.label === undefined ? {} : { label: options.label }),
  });
}

/** Every function of the engine by a short name (the invoke function only with targets). */
function functionsOf(engine: DocketEngine): [string, IFunction][] {
  const { advance, ingest, register, timerRelay, sweep, api } = engine.functions;
  const all: [string, IFunction][] = [
    ["advance", advance],
    ["ingest", ingest],
    ["register", register],
    ["timer-relay", timerRelay],
    ["sweep", sweep],
    ["api", api],
  ];
  return engine.invoker ? [...all, ["invoke", engine.invoker]] : all;
}

/** The functions that set records aside in the dead-letter queue (lib/aws/edge.ts deadLetter). */
function deadLettering(engine: DocketEngine): [string, IFunction][] {
  const { advance, ingest, timerRelay } = engine.functions;
  const all: [string, IFunction][] = [
    ["advance", advance],
    ["ingest", ingest],
    ["timer-relay", timerRelay],
  ];
  return engine.invoker ? [...all, ["invoke", engine.invoker]] : all;
}

/** Incidents opened, per minute (only the advance function applies steps). */
export function incidentsMetric(engine: DocketEngine): Metric {
  return docketMetric(engine.functions.advance, METRIC.incidents);
}

/**
 * Records set aside, per minute, over every function that sets any aside. SUM over the array (not
 * `a + b`) adds what each function published in a minute, a function that published nothing
 * counting for nothing, as SUM(SEARCH(…)) does over sparse metrics.
 */
export function deadLettersMetric(engine: DocketEngine): MathExpression {
  const usingMetrics = Object.fromEntries(
    deadLettering(engine).map(([name, fn], i) => [
      `d${i}`,
      docketMetric(fn, METRIC.deadLetters, { label: name }),
    ]),
  );
  return new MathExpression({
    expression: `SUM([${Object.keys(usingMetrics).join(", ")}])`,
    usingMetrics,
    period: PERIOD,
    label: METRIC.deadLetters,
  });
}

/** The per-process metrics of the advance function: one line per process (and status), found by SEARCH. */
function perProcess(engine: DocketEngine, name: string, dimensions: readonly string[]): SearchExpression {
  const service = engine.functions.advance.functionName;
  const schema = [METRICS_NAMESPACE, "service", ...dimensions].join(",");
  return new SearchExpression({
    expression: `SEARCH('{${schema}} MetricName="${name}" service="${service}"', 'Sum', ${PERIOD.toSeconds()})`,
    // A dynamic label: each line named by its process (and status).
    label: dimensions.map((dimension) => `\${PROP('Dim.${dimension}')}`).join(" "),
    period: PERIOD,
  });
}

const graph = (title: string, left: IMetric[], right: IMetric[] = []) =>
  new GraphWidget({ title, left, right, width: WIDTH, height: 6, period: PERIOD });

/** A line per function of one of Lambda's own metrics. */
function perFunction(engine: DocketEngine, metric: (fn: IFunction, label: string) => IMetric): IMetric[] {
  return functionsOf(engine).map(([name, fn]) => metric(fn, name));
}

/** The dashboard: steps, latency, faults and incidents, instances, outbox and dead letters, the inbox, Lambda. */
export function addDashboard(engine: DocketEngine): Dashboard {
  const advance = engine.functions.advance;
  const step = (name: string, statistic?: string, label?: string) =>
    docketMetric(advance, name, { statistic, label });
  const rows = [
    [
      graph("Steps", [step(METRIC.stepsApplied), step(METRIC.stepsIgnored)]),
      graph("Step latency (ms)", [
        step(METRIC.stepLatency, Stats.p(50), "p50"),
        step(METRIC.stepLatency, Stats.p(99), "p99"),
      ]),
      graph("Faults and incidents", [step(METRIC.faults), incidentsMetric(engine)]),
    ],
    [
      graph("Instances started, by process", [perProcess(engine, METRIC.instancesStarted, ["process"])]),
      graph("Instances ended, by process and status", [
        perProcess(engine, METRIC.instancesEnded, ["process", "status"]),
      ]),
      graph("Outbox resends and dead letters", [step(METRIC.outboxResends), deadLettersMetric(engine)]),
    ],
    [
      graph("Inbox: oldest message (s)", [
        engine.inbox.metricApproximateAgeOfOldestMessage({ period: PERIOD, statistic: Stats.MAXIMUM }),
      ]),
      graph("Inbox: messages", [
        engine.inbox.metricApproximateNumberOfMessagesVisible({ period: PERIOD, label: "waiting" }),
        engine.inbox.metricApproximateNumberOfMessagesNotVisible({ period: PERIOD, label: "in flight" }),
      ]),
      graph(
        "Lambda errors and throttles",
        perFunction(engine, (fn, label) => fn.metricErrors({ period: PERIOD, label: `${label} errors` })),
        perFunction(engine, (fn, label) =>
          fn.metricThrottles({ period: PERIOD, label: `${label} throttles` }),
        ),
      ),
    ],
    [
      graph(
        "Lambda duration p99 (ms)",
        perFunction(engine, (fn, label) =>
          fn.metricDuration({ period: PERIOD, statistic: Stats.p(99), label }),
        ),
      ),
    ],
  ];
  return new Dashboard(engine, "Dashboard", { widgets: rows, defaultInterval: Duration.hours(3) });
}

/**
 * The engine's CloudWatch metrics, through Powertools Metrics: Embedded Metric Format lines on
 * stdout, which Lambda's log group turns into metrics (no PutMetricData call, no grant). A
 * function's counts are summed over its invocation and published once at its end (processBatch in
 * edge.ts), so an invocation costs one EMF line, plus one per process that started or ended
 * instances in it: a per-process dimension needs a metric of its own (Powertools' singleMetric).
 * The dashboard and alarms (cdk/dashboard.ts, cdk/alarms.ts) read these names.
 */
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { RuntimeObserver, StepObservation } from "../ports.js";
import { endedInstance } from "../runtime/observe.js";

export const METRICS_NAMESPACE = "docket";

/** The metric names; every metric has the `service` dimension, the function's name. */
export const METRIC = {
  stepsApplied: "StepsApplied",
  stepsIgnored: "StepsIgnored",
  faults: "Faults",
  incidents: "Incidents",
  /** Dimensions `service`, `process`. */
  instancesStarted: "InstancesStarted",
  /** Dimensions `service`, `process`, `status` (completed, faulted, canceled). */
  instancesEnded: "InstancesEnded",
  /** Milliseconds, one value per step applied or ignored. */
  stepLatency: "StepLatency",
  outboxResends: "OutboxResends",
  deadLetters: "DeadLetters",
} as const;

type Counted = "stepsApplied" | "stepsIgnored" | "faults" | "incidents" | "outboxResends" | "deadLetters";

/** The step counts an invocation that applied anything publishes, zeros included (alarms see data). */
const STEP_COUNTS: readonly Counted[] = [
  "stepsApplied",
  "stepsIgnored",
  "faults",
  "incidents",
  "outboxResends",
];

/** The observer the AWS functions run the advance loop with, and the dead-letter count. */
export class EngineMetrics implements RuntimeObserver {
  private readonly metrics: Metrics;
  private counts = new Map<Counted, number>();
  /** Instances started per process, and ended per process and status, this invocation. */
  private started = new Map<string, number>();
  private ended = new Map<string, { process: string; status: string; count: number }>();

  /** `service`: the function's name (each function's metrics apart). */
  constructor(service: string) {
    this.metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: service });
  }

  stepObserved(step: StepObservation): void {
    if (!this.counts.has("stepsApplied")) for (const name of STEP_COUNTS) this.count(name, 0);
    this.count(step.outcome === "applied" ? "stepsApplied" : "stepsIgnored");
    this.count("faults", step.faults);
    this.count("incidents", step.incidentsOpened);
    if (step.resentOutbox) this.count("outboxResends");
    this.metrics.addMetric(METRIC.stepLatency, MetricUnit.Milliseconds, step.elapsedMs);
    if (step.outcome !== "applied") return;
    if (step.statusBefore === undefined)
      this.started.set(step.process, (this.started.get(step.process) ?? 0) + 1);
    if (endedInstance(step)) {
      const key = JSON.stringify([step.process, step.statusAfter]);
      const ended = this.ended.get(key) ?? { process: step.process, status: step.statusAfter, count: 0 };
      this.ended.set(key, { ...ended, count: ended.count + 1 });
    }
  }

  /** A record set aside in the dead-letter queue (edge.ts deadLetter). */
  deadLettered(): void {
    this.count("deadLetters");
  }

  private count(name: Counted, by = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + by);
  }

  /** Publishes what this invocation counted (nothing when it counted nothing) and starts afresh. */
  flush(): void {
    for (const [name, value] of this.counts) this.metrics.addMetric(METRIC[name], MetricUnit.Count, value);
    const started = this.started;
    const ended = this.ended;
    this.counts = new Map();
    this.started = new Map();
    this.ended = new Map();
    if (this.metrics.hasStoredMetrics()) this.metrics.publishStoredMetrics();
    for (const [process, count] of started)
      this.metrics
        .singleMetric()
        .addDimension("process", process)
        .addMetric(METRIC.instancesStarted, MetricUnit.Count, count);
    for (const { process, status, count } of ended.values())
      this.metrics
        .singleMetric()
        .addDimension("process", process)
        .addDimension("status", status)
        .addMetric(METRIC.instancesEnded, MetricUnit.Count, count);
  }
}

/** A deployed function's metrics, named after it; none outside Lambda (`docket local`, tests pass their own). */
export function lambdaMetrics(
  env: Record<string, string | undefined> = process.env,
): EngineMetrics | undefined {
  const name = env.AWS_LAMBDA_FUNCTION_NAME;
  return name ? new EngineMetrics(name) : undefined;
}

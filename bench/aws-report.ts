/** The tables `npm run bench:aws` prints, and its results as JSON on the last line. */
import {
  ASSUMED_LATENCY_MS,
  type Counts,
  estimatedDurationMs,
  perStep,
  SERVICES,
  type Service,
} from "./aws-calls.js";
import type { LevelResult } from "./aws-level.js";
import { formatRate } from "./harness.js";

export interface Report {
  readonly date: string;
  readonly node: string;
  readonly cpus: number;
  readonly emulator: string;
  readonly minutes: number;
  /** The one-minute load average when the run began and when it ended: the machine may be shared. */
  readonly load: readonly [number, number];
  /** Each level with the requests of the event source mapping's poller, the worker and the launches. */
  readonly levels: (LevelResult & { poller: number; worker: number; launcher: number })[];
}

const NAMES: Record<Service, string> = {
  dynamodb: "DynamoDB",
  sqs: "SQS",
  events: "EventBridge",
  s3: "S3",
  secrets: "Secrets Manager",
};

const fixed = (n: number, digits = 1) => n.toFixed(digits);

const total = (counts: Counts) => SERVICES.reduce((sum, s) => sum + counts[s], 0);

/** "6.0 (DynamoDB 4.0, SQS 1.0, EventBridge 1.0)": the total and each service that had any. */
function byService(counts: Counts): string {
  const parts = SERVICES.filter((s) => counts[s] > 0).map((s) => `${NAMES[s]} ${fixed(counts[s], 2)}`);
  return `${fixed(total(counts), 2)} (${parts.join(", ")})`;
}

/** The derived figures of one level: rates over the wall clock, the handlers' time per step. */
export function figures(level: Report["levels"][number]) {
  const seconds = level.wallMs / 1000;
  const { steps } = level;
  const computeMs = (level.handlerMs - level.awsMs) / steps;
  const roundTrips = perStep(level.roundTrips, steps);
  const allRequests =
    SERVICES.reduce((sum, s) => sum + level.requests[s], 0) + level.poller + level.worker + level.launcher;
  return {
    launchedPerSecond: (1000 * Math.min(level.concurrency, level.instances)) / level.burstMs,
    completedPerSecond: level.instances / seconds,
    stepsPerSecond: steps / seconds,
    instanceLatencyMs: level.meanLatencyMs,
    invocationsPerStep: level.invocations / steps,
    handlerMsPerStep: level.handlerMs / steps,
    awsMsPerStep: level.awsMs / steps,
    computeMsPerStep: computeMs,
    processCpuMsPerStep: level.cpuMs / steps,
    requestsPerStep: perStep(level.requests, steps),
    roundTripsPerStep: roundTrips,
    estimatedLambdaMsPerStep: estimatedDurationMs(computeMs, roundTrips),
    pollerRequestsPerStep: level.poller / steps,
    workerRequestsPerStep: level.worker / steps,
    launchRequestsPerStep: level.launcher / steps,
    emulatorRequestsPerSecond: allRequests / seconds,
  };
}

function throughputTable(levels: Report["levels"]): string {
  const lines = [
    "| concurrent | instances | wall | launched/s (the first N at once) | completed/s | steps/s | launch → completed |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const level of levels) {
    const f = figures(level);
    lines.push(
      `| ${level.concurrency} | ${level.instances} | ${fixed(level.wallMs / 1000)} s | ${formatRate(f.launchedPerSecond)} | ` +
        `${formatRate(f.completedPerSecond)} | ${formatRate(f.stepsPerSecond)} | ${fixed(f.instanceLatencyMs / 1000, 2)} s |`,
    );
  }
  return lines.join("\n");
}

function handlerTable(levels: Report["levels"]): string {
  const lines = [
    "| concurrent | invocations/step | handler ms/step | in emulator calls | own compute | process CPU | AWS requests/step | round trips | est. Lambda ms/step on AWS |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |",
  ];
  for (const level of levels) {
    const f = figures(level);
    lines.push(
      `| ${level.concurrency} | ${fixed(f.invocationsPerStep, 2)} | ${fixed(f.handlerMsPerStep)} | ${fixed(f.awsMsPerStep)} | ` +
        `${fixed(f.computeMsPerStep)} | ${fixed(f.processCpuMsPerStep)} | ${byService(f.requestsPerStep)} | ${fixed(total(f.roundTripsPerStep), 2)} | ${fixed(f.estimatedLambdaMsPerStep)} |`,
    );
  }
  return lines.join("\n");
}

/** Which handlers were handed what, per level: the advance handler should be all of it. */
function handlerNotes(levels: Report["levels"]): string[] {
  return levels.map((level) => {
    const parts = Object.entries(level.byHandler).map(
      ([name, t]) =>
        `${name} ${t.batches} batches of ${fixed(t.messages / t.batches)} messages, ${fixed(t.handlerMs / level.steps, 2)} ms/step (${fixed((t.handlerMs - t.awsMs) / level.steps, 2)} own)`,
    );
    const f = figures(level);
    const commands = Object.entries(level.commands)
      .sort(([, a], [, b]) => b - a)
      .map(([name, n]) => `${name.replace(/Command$/, "")} ${fixed(n / level.steps, 2)}`);
    return (
      `- ${level.concurrency} concurrent (${level.lanes} runner${level.lanes > 1 ? "s" : ""}): ${parts.join("; ")}; ` +
      `requests per step ${commands.join(", ")}. ` +
      `Besides the handlers, per step: the event source mapping's receives and deletes ${fixed(f.pollerRequestsPerStep, 2)} ` +
      `(its idle polling included), the worker ${fixed(f.workerRequestsPerStep, 2)}, launching ${fixed(f.launchRequestsPerStep, 2)}; ` +
      `the emulator served ${Math.round(f.emulatorRequestsPerSecond)} requests/s in all.`
    );
  });
}

export function printReport(report: Report): void {
  const latencies = SERVICES.map((s) => `${NAMES[s]} ${ASSUMED_LATENCY_MS[s]} ms`).join(", ");
  console.log(
    [
      "",
      `Throughput on the emulator: ${report.emulator}, ${report.cpus} CPUs, node ${report.node}, load average`,
      `${fixed(report.load[0])} at the start and ${fixed(report.load[1])} at the end. Each row keeps that many instances of`,
      "a 10-action process in flight until the instances shown have completed. The emulator is the",
      "bottleneck: moto's server answers a few dozen to a few hundred requests a second, fewer the more",
      "arrive at once (its threads queue for one lock and Python's GIL), so these rates say what moto",
      "sustains, not what AWS would.",
      "",
      throughputTable(report.levels),
      "",
      "Per action step, the advance handler (a step is a reply applied; each instance's launch message",
      "is applied too: 11 messages for 10 steps). 'in emulator calls' is the wall time",
      "with at least one of a handler's requests on the wire; 'own compute' the rest of its time (wall",
      "time: on a busy machine it includes waiting for a CPU); 'process CPU' is all this process's CPU",
      "(handlers, worker, poller, launches) per step, a bound on compute that waiting does not inflate.",
      `The estimate is own compute plus each round trip at an assumed AWS latency (${latencies}):`,
      "Lambda concurrency ≈ steps/s × that / 1000. A round trip is a request sent while none of the",
      "handler's was in flight (requests sent together cost one latency).",
      "",
      handlerTable(report.levels),
      "",
      ...handlerNotes(report.levels),
      "",
      `(${fixed(report.minutes)} minutes)`,
    ].join("\n"),
  );
  console.log(JSON.stringify({ ...report, levels: report.levels.map((l) => ({ ...l, ...figures(l) })) }));
}

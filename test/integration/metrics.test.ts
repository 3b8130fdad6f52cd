/**
 * The functions' metrics on the emulator: the very handlers, run by the LocalRunner, print
 * Powertools' Embedded Metric Format lines at the end of each invocation (CloudWatch makes them
 * metrics from the log group): steps applied with their latency, an instance started and ended
 * per process and status, an incident opened, a record set aside.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, type MockInstance, vi } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type AwsClients, type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import { makeAdvanceHandler } from "../../lib/aws/handlers.js";
import { EngineMetrics, METRIC, METRICS_NAMESPACE } from "../../lib/aws/metrics.js";
import { taskRef, type WireTask } from "../../lib/runtime/wire.js";
import { sqsConnection } from "../../lib/worker/index.js";
import { emulatorClients, emulatorConfig } from "./emulator.js";

const clients: AwsClients = emulatorClients(emulatorConfig(inject("endpoint")).endpoint);
const run = Date.now().toString(36);
/** The function name the metrics go under (Lambda's AWS_LAMBDA_FUNCTION_NAME when deployed). */
const SERVICE = `docket-advance-${run}`;
let resources: Provisioned;
let deps: AwsDeps;
let runner: LocalRunner;
let stdout: MockInstance<typeof process.stdout.write>;
/** The EMF documents printed since the test began. */
let printed: Record<string, unknown>[] = [];

interface EmfDocument {
  readonly _aws: {
    readonly CloudWatchMetrics: {
      readonly Namespace: string;
      readonly Dimensions: string[][];
      readonly Metrics: { Name: string; Unit: string }[];
    }[];
  };
  readonly [key: string]: unknown;
}

beforeAll(async () => {
  resources = await provisionEngine(clients, `met${run}`);
  deps = makeAwsDeps(clients, resources, { metrics: new EngineMetrics(SERVICE) });
  runner = new LocalRunner(deps, resources.feeds, { visibilityTimeout: 1 });
  await deps.definitions.register("quick.yaml", "do: [ { assign: { property: x, value: '1' } } ]\n");
  await deps.definitions.register("risky.yaml", "do: [ { action: risky } ]\n");
  // Powertools prints EMF with its own console on process.stdout: kept here, anything else passes.
  const write = process.stdout.write.bind(process.stdout);
  stdout = vi.spyOn(process.stdout, "write").mockImplementation((chunk, ...rest) => {
    const text = String(chunk);
    if (!text.includes('"_aws"')) return write(chunk, ...(rest as []));
    for (const line of text.split("\n").filter(Boolean)) printed.push(JSON.parse(line));
    return true;
  });
}, 120_000);

afterEach(() => {
  printed = [];
});

afterAll(() => stdout?.mockRestore());

/** Each value printed for `metric`, with the dimensions it was printed with. */
function emitted(metric: string): { value: unknown; unit: string; dimensions: Record<string, unknown> }[] {
  return (printed as unknown as EmfDocument[]).flatMap((doc) =>
    doc._aws.CloudWatchMetrics.flatMap((directive) => {
      const definition = directive.Metrics.find((m) => m.Name === metric);
      if (!definition || directive.Namespace !== METRICS_NAMESPACE) return [];
      const names = directive.Dimensions.flat();
      const dimensions = Object.fromEntries(names.map((name) => [name, doc[name]]));
      return [{ value: doc[metric], unit: definition.Unit, dimensions }];
    }),
  );
}

/** The sum of `metric` over what was printed with exactly these dimensions. */
function total(metric: string, dimensions: Record<string, string> = { service: SERVICE }): number {
  return emitted(metric)
    .filter((e) => JSON.stringify(e.dimensions) === JSON.stringify(dimensions))
    .reduce((sum, e) => sum + [e.value].flat().reduce((a: number, v) => a + Number(v), 0), 0);
}

describe("the functions' metrics (EMF on stdout)", () => {
  it("counts a step applied with its latency, and the instance started and ended under its process", async () => {
    await deps.runtime.launch({ process: "quick", id: `quick-${run}` });
    await runner.settle();
    expect((await deps.runtime.deps.store.load(`quick-${run}`))?.snapshot.status).toBe("completed");
    expect(total(METRIC.stepsApplied)).toBe(1);
    expect(total(METRIC.stepsIgnored)).toBe(0);
    expect(total(METRIC.faults)).toBe(0);
    expect(total(METRIC.incidents)).toBe(0);
    expect(total(METRIC.instancesStarted, { service: SERVICE, process: "quick" })).toBe(1);
    expect(total(METRIC.instancesEnded, { service: SERVICE, process: "quick", status: "completed" })).toBe(1);
    const latencies = emitted(METRIC.stepLatency);
    expect(latencies).toEqual([
      { value: expect.any(Number), unit: "Milliseconds", dimensions: { service: SERVICE } },
    ]);
    expect(latencies[0]?.value).toBeGreaterThan(0);
  }, 60_000);

  it("counts an incident opened when an action's error reply finds no retries left", async () => {
    await deps.runtime.launch({ process: "risky", id: `risky-${run}` });
    await runner.settle();
    // The risky participant's worker (the worker SDK's connection) answers its task with an error.
    const worker = sqsConnection({
      queue: resources.queues.tasks,
      participant: "risky",
      sqs: clients.sqs,
      s3: clients.s3,
      waitSeconds: 0,
    });
    const delivery = (await worker.receive(10)).find((d) => d.task.task.instance === `risky-${run}`);
    expect(delivery).toBeDefined();
    const task = taskRef(delivery?.task as WireTask);
    await delivery?.reply({ task, status: "error", error: { code: "Down", message: "no" } });
    await delivery?.acknowledge();
    await runner.settle();
    expect((await deps.runtime.deps.store.load(`risky-${run}`))?.snapshot.status).toBe("suspended");
    expect(total(METRIC.stepsApplied)).toBe(2);
    expect(total(METRIC.incidents)).toBe(1);
    expect(total(METRIC.instancesStarted, { service: SERVICE, process: "risky" })).toBe(1);
    expect(emitted(METRIC.instancesEnded)).toEqual([]);
    expect(emitted(METRIC.stepLatency).flatMap((e) => [e.value].flat())).toHaveLength(2);
  }, 60_000);

  it("counts a record set aside in the dead-letter queue", async () => {
    const result = await makeAdvanceHandler(deps)({
      Records: [
        { messageId: `junk-${run}`, body: "not json", attributes: { MessageGroupId: `junk-${run}` } },
      ],
    });
    expect(result.batchItemFailures).toEqual([]);
    expect(total(METRIC.deadLetters)).toBe(1);
    // Nothing was applied: no step counts are printed for this invocation.
    expect(emitted(METRIC.stepsApplied)).toEqual([]);
  }, 30_000);
});

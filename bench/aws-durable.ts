/**
 * The three interpreter workloads on AWS's durable execution SDK, run by its local test runner:
 * the handler runs in this process and every operation is checkpointed through the runner's
 * checkpoint server (a worker thread holding the execution's operations, as the Lambda service
 * would), the path a deployed function takes, not skipped. Each docket action (a task answered by a
 * reply, its result recorded) is a `context.step` whose result is checkpointed: the participant's
 * work done inline, as docket's bench answers each task in-process at once. A step needs no
 * suspension and re-invocation, which a callback answered from outside would: that favours the SDK.
 *
 * Time skipping stays off: it installs fake timers that advance 20 ms at a time, which would add
 * up to 20 ms to each checkpoint, and these workloads have no waits to skip.
 */
import { type DurableContext, withDurableExecution } from "@aws/durable-execution-sdk-js";
import { LocalDurableTestRunner } from "@aws/durable-execution-sdk-js-testing";
import type { Peer, Workload } from "./peer.js";

type Handler = ReturnType<typeof withDurableExecution>;

/** A docket action: the participant's work, its result checkpointed. */
const action = (context: DurableContext, name: string, i: number): Promise<number> =>
  context.step(name, async () => i + 1);

const handlers: Record<Workload | "prime", { handler: Handler; expect: number }> = {
  sequence: {
    handler: withDurableExecution(async (_event: unknown, context: DurableContext) => {
      let i = 0;
      for (let n = 0; n < 100; n++) i = await action(context, `p${n % 10}`, i);
      return i;
    }),
    expect: 100,
  },
  while: {
    handler: withDurableExecution(async (_event: unknown, context: DurableContext) => {
      let i = 0;
      while (i < 1000) i = await action(context, "work", i);
      return i;
    }),
    expect: 1000,
  },
  all: {
    handler: withDurableExecution(async (_event: unknown, context: DurableContext) => {
      const branches = Array.from(
        { length: 10 },
        (_, n) => (branch: DurableContext) => action(branch, `p${n}`, 0),
      );
      const result = await context.parallel(branches);
      return result.successCount;
    }),
    expect: 10,
  },
  prime: {
    handler: withDurableExecution(async (_event: unknown, context: DurableContext) =>
      action(context, "p", 0),
    ),
    expect: 1,
  },
};

async function runOnce(name: Workload | "prime"): Promise<number> {
  const { handler, expect } = handlers[name];
  const runner = new LocalDurableTestRunner<number>({ handlerFunction: handler });
  const execution = await runner.run({ payload: {} });
  const result = execution.getResult();
  if (execution.getStatus() !== "SUCCEEDED" || result !== expect)
    throw new Error(`aws durable ${name} ended ${execution.getStatus()} with ${String(result)}`);
  return execution.getOperations().length;
}

/**
 * Starts the runner's checkpoint server and runs a one-step function once: the first run in a
 * process loads and compiles the SDK (seconds), which is no part of any workload.
 */
export async function awsDurable(): Promise<Peer> {
  await LocalDurableTestRunner.setupTestEnvironment({ skipTime: false });
  await runOnce("prime");
  return {
    name: "aws-durable",
    run: runOnce,
    close: () => LocalDurableTestRunner.teardownTestEnvironment(),
  };
}

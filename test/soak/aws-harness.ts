/**
 * The crash soak on the AWS adapters, against an emulator: the very handlers run by the local
 * runner, faults injected at the advance loop's port calls (a failure: the handler reports the
 * message failed and SQS redelivers it; a kill: the same, and the process's memory is dropped), and
 * a worker that answers tasks in a shuffled order, sometimes twice. Every run must end as the
 * fault-free one: same status and context, no step applied twice, each attempt one task id.
 */
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type AwsClients, makeAwsDeps } from "../../lib/aws/deps.js";
import { rootContext } from "../../lib/engine/index.js";
import { type Fault, FaultInjector } from "../../lib/runtime/faults.js";

export const AWS_MIX = `context: { k: "" }
do:
  - all: { do: [ { action: left }, { action: right } ] }
  - await: { event: go, key: context.k, into: signal }
  - action: last
`;

export interface AwsOutcome {
  readonly status?: string;
  readonly context: unknown;
  readonly problems: string[];
  /** Task messages the worker got beyond one per task id (re-sent outboxes; receivers dedupe). */
  readonly resent: number;
  readonly calls: number;
  readonly fired: readonly string[];
}

function shuffled<T>(items: T[], next: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export async function runAwsMix(
  clients: AwsClients,
  resources: Provisioned,
  id: string,
  faults: readonly Fault[],
  seed = 1,
): Promise<AwsOutcome> {
  let state = seed >>> 0 || 1;
  const next = () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state / 4294967296;
  };
  const injector = new FaultInjector(faults);
  const boot = () => {
    const deps = makeAwsDeps(clients, resources, Date.now, () => crypto.randomUUID(), injector);
    return {
      deps,
      runner: new LocalRunner(deps, resources.feeds, { visibilityTimeout: 1, sweepEveryMs: 60_000 }),
    };
  };
  let proc = boot();
  const clean = makeAwsDeps(clients, resources);
  await clean.runtime.launch({ process: "awsmix", id, fields: { k: id } });
  // Published twice with one id: the second is a duplicate.
  for (let i = 0; i < 2; i++)
    await clean.runtime.publish({ name: "go", key: id, data: { n: 1 }, id: `go-${id}` });
  const received = new Map<string, number>();
  let kills = 0;
  for (let round = 0; round < 60; round++) {
    await proc.runner.tick();
    if (injector.fired.filter((f) => f.includes(" kill ")).length > kills) {
      // The process died: a new one starts with nothing in memory.
      kills++;
      proc = boot();
    }
    const { Messages = [] } = await clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: resources.queues.tasks,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
      }),
    );
    for (const m of shuffled(Messages, next)) {
      const body = JSON.parse(m.Body ?? "{}") as {
        task: { id: string; instance: string; participant: string; reply_to: string };
      };
      if (body.task.instance !== id) continue;
      received.set(body.task.id, (received.get(body.task.id) ?? 0) + 1);
      const copies = next() < 0.3 ? 2 : 1;
      for (let c = 0; c < copies; c++)
        await clients.sqs.send(
          new SendMessageCommand({
            QueueUrl: body.task.reply_to,
            MessageGroupId: id,
            MessageDeduplicationId: `${body.task.id}-${c}`,
            MessageBody: JSON.stringify({
              task: body.task,
              status: "done",
              fields: { [body.task.participant]: true },
            }),
          }),
        );
      await clients.sqs.send(
        new DeleteMessageCommand({
          QueueUrl: resources.queues.tasks,
          ReceiptHandle: m.ReceiptHandle as string,
        }),
      );
    }
    const stored = await clean.runtime.deps.store.load(id);
    if (stored?.snapshot.status === "completed") break;
    if (!Messages.length) await new Promise((r) => setTimeout(r, 250));
  }
  const stored = await makeAwsDeps(clients, resources).runtime.deps.store.load(id);
  const problems: string[] = [];
  const history = (await clean.runtime.deps.store.history(id, { limit: 1000 })).records;
  const applied = new Set<string>();
  for (const r of history) {
    if (r.notes.some((n) => n.kind === "ignored" || n.kind === "rejected")) continue;
    const key = JSON.stringify(r.message);
    if (applied.has(key)) problems.push(`applied twice: ${key}`);
    applied.add(key);
  }
  const attempts = new Map<string, string>();
  for (const taskId of received.keys()) {
    const attempt = taskId.replace(/\/\d+$/, "");
    if (attempts.has(attempt))
      problems.push(`two task ids for ${attempt}: ${attempts.get(attempt)}, ${taskId}`);
    attempts.set(attempt, taskId);
  }
  return {
    status: stored?.snapshot.status,
    context: stored ? rootContext(stored.snapshot) : undefined,
    problems,
    resent: [...received.values()].reduce((a, b) => a + b - 1, 0),
    calls: injector.calls,
    fired: injector.fired,
  };
}

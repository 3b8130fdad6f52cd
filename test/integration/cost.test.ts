/**
 * What an action step costs on AWS, counted on the emulator by SDK middleware: DynamoDB units by
 * item size, SQS requests, EventBridge requests, Lambda invocations, for a process whose context
 * holds 10 KB. Prints the cost per million steps at public prices; the design keeps a step near
 * one kilobyte of writes whatever the context's size.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import { costPerMillion, emptyLedger, meterDynamo, meterRequests } from "../../emulator/metering.js";
import { makeAwsDeps } from "../../lib/aws/deps.js";

const config = {
  endpoint: inject("endpoint"),
  region: "us-east-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
};

/**
 * Runs `instances` instances of the reference process for `steps` steps each, with a worker that
 * takes up to `batch` tasks per receive and answers them in one SendMessageBatch, and Lambda's
 * poller handing over up to 10 messages per invocation. Returns the ledger per step.
 */
async function measure(instances: number, steps: number, batch: number) {
  const ledger = emptyLedger();
  const clients = {
    dynamo: new DynamoDBClient(config),
    sqs: new SQSClient(config),
    events: new EventBridgeClient(config),
    s3: new S3Client(config),
    secrets: new SecretsManagerClient(config),
  };
  meterDynamo(clients.dynamo, ledger);
  meterRequests(clients.sqs, ledger, "sqs");
  meterRequests(clients.events, ledger, "events");
  meterRequests(clients.s3, ledger, "s3");
  const resources = await provisionEngine(
    { ...clients, dynamo: new DynamoDBClient(config), sqs: new SQSClient(config) },
    `cost${Date.now().toString(36)}`,
  );
  const deps = makeAwsDeps(clients, resources);
  // Polling is Lambda's event source mapping: one receive and one batch delete per batch it hands over.
  const runner = new LocalRunner(deps, resources.feeds, {
    visibilityTimeout: 5,
    // The sweep runs once a minute on AWS, not once per step: its reads are not a step's.
    sweepEveryMs: 60_000,
    poller: new SQSClient(config),
    onBatch: (queue) => {
      if (queue.endsWith(".fifo")) ledger.sqsFifo += 2;
      else ledger.sqsStandard += 2;
    },
  });
  await deps.definitions.register(
    "reference.yaml",
    `context: { i: 0, payload: "${"p".repeat(10 * 1024)}" }\ndo:\n  - while:\n      condition: context.i < ${steps + 1}\n      do: [ { action: work } ]\n`,
  );
  const ids = Array.from({ length: instances }, (_, i) => `ref-${i}`);
  for (const id of ids) await deps.runtime.launch({ process: "reference", id });
  await runner.settle();
  const worker = new SQSClient(config);
  const answer = async (): Promise<number> => {
    const { Messages = [] } = await worker.send(
      new ReceiveMessageCommand({ QueueUrl: resources.queues.tasks, MaxNumberOfMessages: batch }),
    );
    if (!Messages.length) return 0;
    const bodies = Messages.map(
      (m) =>
        JSON.parse(m.Body ?? "{}") as {
          task: { id: string; reply_to: string; reply_group: string };
          fields: { i: number };
        },
    );
    // The worker's receive, batch reply and batch delete are part of a step's cost too.
    ledger.sqsStandard += 2;
    ledger.sqsFifo += 1;
    await worker.send(
      new SendMessageBatchCommand({
        QueueUrl: bodies[0]?.task.reply_to,
        Entries: bodies.map((body, n) => ({
          Id: String(n),
          MessageGroupId: body.task.reply_group,
          MessageDeduplicationId: body.task.id,
          MessageBody: JSON.stringify({ task: body.task, status: "done", fields: { i: body.fields.i + 1 } }),
        })),
      }),
    );
    await worker.send(
      new DeleteMessageBatchCommand({
        QueueUrl: resources.queues.tasks,
        Entries: Messages.map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle as string })),
      }),
    );
    return Messages.length;
  };
  // Warm up one step each, then measure from a clean ledger.
  for (let answered = 0; answered < instances; ) answered += await answer();
  await runner.settle();
  Object.assign(ledger, emptyLedger());
  runner.invocations = 0;
  runner.handlerMs = 0;
  for (let answered = 0; answered < instances * steps; ) {
    answered += await answer();
    await runner.settle();
  }
  ledger.invocations = runner.invocations;
  const total = instances * steps;
  const measuredMs = runner.handlerMs / Math.max(1, runner.invocations);
  const nominal = costPerMillion(ledger, total, 20 * (total / Math.max(1, runner.invocations)));
  const per = (n: number) => (n / total).toFixed(2);
  console.log(
    [
      `${instances} instance(s) × ${steps} steps, batches of up to ${batch}: per action step DynamoDB ${per(ledger.writeUnits)} WCU, ${per(ledger.readUnits)} RCU; SQS ${per(ledger.sqsStandard)} standard + ${per(ledger.sqsFifo)} FIFO requests; EventBridge ${per(ledger.events)}; Lambda ${per(ledger.invocations)} invocations`,
      `cost per million steps, Lambda at 20 ms per message/512 MB: ${Object.entries(nominal)
        .map(([k, v]) => `${k} $${v.toFixed(2)}`)
        .join(", ")}`,
      `(${measuredMs.toFixed(0)} ms per invocation measured on the emulator)`,
    ].join("\n"),
  );
  const stored = await Promise.all(ids.map((id) => deps.runtime.deps.store.load(id)));
  expect(stored.map((s) => s?.snapshot.status)).toEqual(ids.map(() => "completed"));
  return { writes: ledger.writeUnits / total, total: nominal.total ?? 0 };
}

describe("the cost of an action step (10 KB context)", () => {
  // A step writes its ~1 KB step item and, once its commands are sent, a marker of a write unit
  // (so a redriven or later message knows what is left to send), and the head every 20 steps.
  it("writes about a kilobyte per step and its sent marker, never the state, one instance at a time", async () => {
    const { writes } = await measure(1, 40, 1);
    expect(writes).toBeLessThan(3.5); // rewriting the 10 KB state would be 11
  }, 120_000);

  it("and under load, where SQS and Lambda work in batches of ten", async () => {
    const { writes } = await measure(10, 20, 10);
    expect(writes).toBeLessThan(3.5); // rewriting the 10 KB state would be 11
  }, 180_000);
});

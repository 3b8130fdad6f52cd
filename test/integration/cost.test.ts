/**
 * What an action step costs on AWS, counted on the emulator by SDK middleware: DynamoDB units by
 * item size, SQS requests, EventBridge requests, Lambda invocations, for a process whose context
 * holds 10 KB. Prints the cost per million steps at public prices; the design keeps a step near
 * one kilobyte of writes whatever the context's size.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { S3Client } from "@aws-sdk/client-s3";
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { makeAwsDeps } from "../../lib/aws/deps.js";
import { LocalRunner } from "../../lib/aws/local.js";
import { costPerMillion, emptyLedger, meterDynamo, meterRequests } from "../../lib/aws/metering.js";

const STEPS = 40;
const config = {
  endpoint: inject("endpoint"),
  region: "us-east-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
};

describe("the cost of an action step", () => {
  it(`is about one kilobyte of writes per step with a 10 KB context (${STEPS} steps)`, async () => {
    const ledger = emptyLedger();
    const clients = {
      dynamo: new DynamoDBClient(config),
      sqs: new SQSClient(config),
      events: new EventBridgeClient(config),
      s3: new S3Client(config),
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
      poller: new SQSClient(config),
      onBatch: (queue) => {
        if (queue.endsWith(".fifo")) ledger.sqsFifo += 2;
        else ledger.sqsStandard += 2;
      },
    });
    await deps.definitions.register(
      "reference.yaml",
      `context: { i: 0, payload: "${"p".repeat(10 * 1024)}" }\ndo:\n  - while:\n      condition: context.i < ${STEPS + 1}\n      do: [ { action: work } ]\n`,
    );
    await deps.runtime.launch({ process: "reference", id: "ref-1" });
    await runner.settle();
    const worker = new SQSClient(config);
    const answer = async () => {
      const { Messages = [] } = await worker.send(
        new ReceiveMessageCommand({ QueueUrl: resources.queues.tasks, MaxNumberOfMessages: 1 }),
      );
      for (const m of Messages) {
        const body = JSON.parse(m.Body ?? "{}") as {
          task: { reply_to: string; reply_group: string };
          fields: { i: number };
        };
        // The worker's receive, delete and reply are part of a step's cost too.
        ledger.sqsStandard += 2;
        ledger.sqsFifo += 1;
        await worker.send(
          new SendMessageCommand({
            QueueUrl: body.task.reply_to,
            MessageGroupId: body.task.reply_group,
            MessageDeduplicationId: String(Math.random()),
            MessageBody: JSON.stringify({
              task: body.task,
              status: "done",
              fields: { i: body.fields.i + 1 },
            }),
          }),
        );
        await worker.send(
          new DeleteMessageCommand({
            QueueUrl: resources.queues.tasks,
            ReceiptHandle: m.ReceiptHandle as string,
          }),
        );
      }
      return Messages.length;
    };
    // Warm up one step, then measure STEPS steps from a clean ledger.
    await answer();
    await runner.settle();
    Object.assign(ledger, emptyLedger());
    runner.invocations = 0;
    runner.handlerMs = 0;
    for (let step = 0; step < STEPS; step++) {
      expect(await answer()).toBe(1);
      await runner.settle();
    }
    ledger.invocations = runner.invocations;
    const measuredMs = runner.handlerMs / Math.max(1, runner.invocations);
    const withMeasured = costPerMillion(ledger, STEPS, measuredMs);
    const nominal = costPerMillion(ledger, STEPS, 20);
    const per = (n: number) => (n / STEPS).toFixed(2);
    console.log(
      [
        `per action step (10 KB context, ${STEPS} steps): DynamoDB ${per(ledger.writeUnits)} WCU, ${per(ledger.readUnits)} RCU; SQS ${per(ledger.sqsStandard)} standard + ${per(ledger.sqsFifo)} FIFO requests; EventBridge ${per(ledger.events)}; Lambda ${per(ledger.invocations)} invocations`,
        `cost per million steps, Lambda at 20 ms/512 MB: ${Object.entries(nominal)
          .map(([k, v]) => `${k} $${v.toFixed(2)}`)
          .join(", ")}`,
        `(with the emulator-inflated ${measuredMs.toFixed(0)} ms per invocation measured here: total $${withMeasured.total?.toFixed(2)})`,
      ].join("\n"),
    );
    const stored = await deps.runtime.deps.store.load("ref-1");
    expect(stored?.snapshot.status).toBe("completed");
    // The design bound: a step writes about a kilobyte, never the 10 KB state.
    expect(ledger.writeUnits / STEPS).toBeLessThan(3);
  }, 120_000);
});

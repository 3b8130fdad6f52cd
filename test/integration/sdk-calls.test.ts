/**
 * The batch and paged AWS calls (lib/aws/calls.ts) on the emulator, each against the partial
 * failure AWS may answer with (test/support/sdk-faults.ts makes the emulator answer so): nothing
 * lost, nothing done twice, counted on the table and on the queues themselves.
 */
import { CreateEventBusCommand, PutRuleCommand, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import type { Provisioned } from "../../emulator/provision.js";
import {
  batchWriteAll,
  deleteMessagesAll,
  putEventsAll,
  queryAll,
  sendMessageBatchAll,
  type WriteRequest,
} from "../../lib/aws/calls.js";
import type { AwsClients } from "../../lib/aws/deps.js";
import { DynamoSubscriptionIndex } from "../../lib/aws/subscriptions.js";
import type { TableRef } from "../../lib/aws/table.js";
import { InfrastructureError } from "../../lib/errors.js";
import { type SdkFaultPlan, SdkFaults } from "../support/sdk-faults.js";
import { emulatorClients, emulatorConfig } from "./emulator.js";

const config = emulatorConfig(inject("endpoint"));
const clean: AwsClients = emulatorClients(config.endpoint);
const run = Date.now().toString(36);
let resources: Provisioned;
const QUICK = { attempts: 8, baseMs: 5, capMs: 50 };

beforeAll(async () => {
  resources = await provisionEngine(clean, `sdk${run}`);
});

/** Fresh clients with the faults on (a client keeps the middlewares it was given). */
function faulty(plan: SdkFaultPlan): { clients: AwsClients; faults: SdkFaults; table: TableRef } {
  const faults = new SdkFaults(plan);
  const clients = emulatorClients(config.endpoint);
  for (const client of [clients.dynamo, clients.sqs, clients.events]) faults.attach(client);
  const client = DynamoDBDocumentClient.from(clients.dynamo);
  return { clients, faults, table: { client, name: resources.table } };
}

const cleanTable = (): TableRef => ({
  client: DynamoDBDocumentClient.from(clean.dynamo),
  name: resources.table,
});

/** Every message on a queue, deleting as it goes (FIFO hands a group's next only after that). */
async function drain(url: string): Promise<{ body: string; group?: string }[]> {
  const out: { body: string; group?: string }[] = [];
  for (let empty = 0; empty < 3; ) {
    const { Messages = [] } = await clean.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 30,
        MessageSystemAttributeNames: ["MessageGroupId"],
      }),
    );
    empty = Messages.length ? 0 : empty + 1;
    for (const m of Messages) out.push({ body: m.Body ?? "", group: m.Attributes?.MessageGroupId });
    if (Messages.length)
      await deleteMessagesAll(
        clean.sqs,
        url,
        Messages.map((m) => m.ReceiptHandle as string),
      );
  }
  return out;
}

async function queue(name: string, fifo = false): Promise<{ url: string; arn: string }> {
  const { QueueUrl } = await clean.sqs.send(
    new CreateQueueCommand({
      QueueName: `${name}${fifo ? ".fifo" : ""}`,
      ...(fifo ? { Attributes: { FifoQueue: "true" } } : {}),
    }),
  );
  const { Attributes } = await clean.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }),
  );
  return { url: QueueUrl as string, arn: Attributes?.QueueArn as string };
}

describe("batch and paged calls under partial failures (emulator)", () => {
  it("batchWriteAll writes every item once UnprocessedItems are retried, and names what is left when retries run out", async () => {
    const { table, faults } = faulty({ seed: 1, rates: { unprocessed: 0.8 } });
    const requests: WriteRequest[] = Array.from({ length: 60 }, (_, i) => ({
      PutRequest: { Item: { pk: `BW#${run}`, sk: String(i).padStart(3, "0"), n: i } },
    }));
    await batchWriteAll(table, "writing", requests, QUICK);
    const written = await queryAll(cleanTable(), "reading", {
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": `BW#${run}` },
      ConsistentRead: true,
    });
    expect(written.map((i) => i.n)).toEqual(requests.map((_, i) => i));
    expect(faults.injected.unprocessed).toBeGreaterThan(2);
    expect(faults.withheld).toBeGreaterThan(5);

    const stuck = faulty({ seed: 2, rates: { unprocessed: 1 } });
    const one: WriteRequest[] = [{ PutRequest: { Item: { pk: `BW#${run}`, sk: "stuck" } } }];
    const failure = batchWriteAll(stuck.table, "writing", one, { ...QUICK, attempts: 3 });
    await expect(failure).rejects.toBeInstanceOf(InfrastructureError);
    await expect(failure).rejects.toThrow(
      `writing failed: 1 item(s) still unprocessed after 3 tries: BW#${run}/stuck`,
    );
  });

  it("sendMessageBatchAll sends each message once, in order per group, when entries fail", async () => {
    const { clients, faults } = faulty({ seed: 3, rates: { partial: 0.7 } });
    const fifo = await queue(`sdkf-${run}`, true);
    const standard = await queue(`sdks-${run}`);
    const entries = Array.from({ length: 25 }, (_, i) => ({
      MessageBody: `m${i}`,
      MessageGroupId: `g${i % 4}`,
      MessageDeduplicationId: `d${i}`,
    }));
    await sendMessageBatchAll(clients.sqs, fifo.url, entries, QUICK);
    const plain = entries.map(({ MessageBody }) => ({ MessageBody }));
    await sendMessageBatchAll(clients.sqs, standard.url, plain, QUICK);
    expect(faults.injected.partial).toBeGreaterThan(3);

    const fromFifo = await drain(fifo.url);
    expect(fromFifo.map((m) => m.body).sort()).toEqual(entries.map((e) => e.MessageBody).sort());
    for (const group of ["g0", "g1", "g2", "g3"])
      expect(fromFifo.filter((m) => m.group === group).map((m) => m.body)).toEqual(
        entries.filter((e) => e.MessageGroupId === group).map((e) => e.MessageBody),
      );
    expect((await drain(standard.url)).map((m) => m.body).sort()).toEqual(
      plain.map((e) => e.MessageBody).sort(),
    );

    const stuck = faulty({ seed: 4, rates: { partial: 1 } });
    const attributes = { task: { DataType: "String", StringValue: "i/n/t1" } };
    await expect(
      sendMessageBatchAll(
        stuck.clients.sqs,
        standard.url,
        [{ MessageBody: "x", MessageAttributes: attributes }],
        {
          ...QUICK,
          attempts: 2,
        },
      ),
    ).rejects.toThrow(/failed after 2 tries: entry 0 \(task i\/n\/t1\): InternalError/);
  });

  it("deleteMessagesAll deletes every message when entries fail (none comes back)", async () => {
    const { clients, faults } = faulty({ seed: 5, rates: { partial: 0.8 } });
    const q = await queue(`sdkd-${run}`);
    for (let i = 0; i < 25; i++)
      await clean.sqs.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: `d${i}` }));
    const handles: string[] = [];
    while (handles.length < 25) {
      const { Messages = [] } = await clean.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: q.url, MaxNumberOfMessages: 10, VisibilityTimeout: 1 }),
      );
      handles.push(...Messages.map((m) => m.ReceiptHandle as string));
    }
    await deleteMessagesAll(clients.sqs, q.url, handles, QUICK);
    expect(faults.withheld).toBeGreaterThan(3);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await drain(q.url)).toEqual([]);
  });

  it("putEventsAll puts every event once when entries fail, and names the failed ones when retries run out", async () => {
    const { clients, faults } = faulty({
      seed: 6,
      rates: { partial: 0.5 },
      schedule: [{ call: 1, fault: "partial" }],
    });
    const watch = await queue(`sdke-${run}`);
    // A bus of its own: moto's PutEvents on the engine's bus is slow (seconds a call).
    const bus = `sdke-${run}`;
    const rule = `sdke-${run}`;
    await clean.events.send(new CreateEventBusCommand({ Name: bus }));
    await clean.events.send(
      new PutRuleCommand({
        Name: rule,
        EventBusName: bus,
        EventPattern: JSON.stringify({ "detail-type": [`sdke.${run}`] }),
      }),
    );
    await clean.events.send(
      new PutTargetsCommand({
        Rule: rule,
        EventBusName: bus,
        Targets: [{ Id: "w", Arn: watch.arn }],
      }),
    );
    const entries = Array.from({ length: 25 }, (_, i) => ({
      EventBusName: bus,
      Source: "sdkf",
      DetailType: `sdke.${run}`,
      Detail: JSON.stringify({ n: i }),
    }));
    await putEventsAll(clients.events, "putting", entries, QUICK);
    expect(faults.injected.partial).toBeGreaterThan(0);
    expect(faults.withheld).toBeGreaterThan(0);
    const seen = (await drain(watch.url)).map((m) => (JSON.parse(m.body).detail as { n: number }).n);
    expect(seen.sort((a, b) => a - b)).toEqual(entries.map((_, i) => i));

    const stuck = faulty({ seed: 7, rates: { partial: 1 } });
    await expect(
      putEventsAll(stuck.clients.events, "putting", entries.slice(0, 1), { ...QUICK, attempts: 2 }),
    ).rejects.toThrow(`putting failed: sdke.${run}: InternalFailure injected by sdk-faults (after 2 tries)`);
  }, 90_000);

  it("reads an event buffer of more than 1 MB (DynamoDB's page) whole", async () => {
    const index = new DynamoSubscriptionIndex(cleanTable());
    const big = "x".repeat(100_000);
    const event = `big.${run}`;
    for (let i = 0; i < 14; i++)
      await index.record({ id: `e${i}`, name: event, data: { i, big }, at: 1000 + i }, 0);
    const found = await index.subscribe(
      { subscription: `sub${run}/n/s1`, instance: `sub${run}`, node: "n", event },
      0,
    );
    expect(found.map((e) => e.id)).toEqual(Array.from({ length: 14 }, (_, i) => `e${i}`));
  });
});

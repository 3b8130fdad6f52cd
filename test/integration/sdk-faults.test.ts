/**
 * The AWS dispatcher's batched sends, and a whole instance, with the emulator misbehaving as AWS
 * may at the SDK clients (test/support/sdk-faults.ts): throttles, unprocessed items, batch entries
 * failed. Nothing is lost; nothing a receiver would count twice is sent twice.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type AwsClients, makeAwsDeps } from "../../lib/aws/deps.js";
import { rootContext } from "../../lib/engine/index.js";
import type { TaskCommand } from "../../lib/engine/types.js";
import { quickRetries, type SdkFaultPlan, SdkFaults } from "../support/sdk-faults.js";
import { emulatorClients, emulatorConfig } from "./emulator.js";

const config = emulatorConfig(inject("endpoint"));
const clean: AwsClients = emulatorClients(config.endpoint);
const run = Date.now().toString(36);
let resources: Provisioned;

beforeAll(async () => {
  resources = await provisionEngine(clean, `flt${run}`, { participants: ["approve"] });
});

/** Clients with the faults on, retrying throttles as the SDK does (with short delays). */
function faulty(plan: SdkFaultPlan): { clients: AwsClients; faults: SdkFaults } {
  const faults = new SdkFaults(plan);
  const retrying = { ...config, ...quickRetries() };
  const clients = {
    ...emulatorClients(config.endpoint),
    dynamo: new DynamoDBClient(retrying),
    sqs: new SQSClient(retrying),
    events: new EventBridgeClient(retrying),
  };
  for (const client of [clients.dynamo, clients.sqs, clients.events]) faults.attach(client);
  return { clients, faults };
}

interface Received {
  body: Record<string, unknown>;
  group?: string;
  attributes: Record<string, string | undefined>;
}

/**
 * Every message on a queue now, deleted as read (a FIFO group's next comes only after). Raw, not the
 * worker SDK: the tests count every message sent (none twice), whatever its participant.
 */
async function drain(url: string): Promise<Received[]> {
  const out: Received[] = [];
  for (let empty = 0; empty < 3; ) {
    const { Messages = [] } = await clean.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ["All"],
        MessageSystemAttributeNames: ["MessageGroupId"],
      }),
    );
    empty = Messages.length ? 0 : empty + 1;
    for (const m of Messages) {
      out.push({
        body: JSON.parse(m.Body ?? "{}"),
        group: m.Attributes?.MessageGroupId,
        attributes: Object.fromEntries(
          Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue]),
        ),
      });
      await clean.sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
    }
  }
  return out;
}

const task = (instance: string, n: number, participant: string): TaskCommand => ({
  type: "task",
  task: { id: `${instance}/n/t${n}`, instance, node: "n", participant, attempt: 1 },
  fields: { n },
});

describe("the AWS dispatcher and an instance under SDK faults (emulator)", () => {
  it("sendTasks sends each task once to its queue; enqueueMany each message as enqueue would, in order", async () => {
    // Rates far above AWS's, yet low enough that one entry failing all 8 tries stays improbable
    // (calls interleave, so which draw meets which entry varies from run to run).
    const { clients, faults } = faulty({ seed: 11, rates: { partial: 0.3, throttle: 0.2 } });
    const deps = makeAwsDeps(clients, resources);
    const tasks = Array.from({ length: 30 }, (_, i) => task(`st${run}`, i, i % 3 ? "any" : "approve"));
    await deps.dispatcher.sendTasks(tasks);
    // Which queue a participant's tasks take is the dispatcher's routing (tested elsewhere); here: all, once.
    const sent = [
      ...(await drain(resources.queues.tasks)),
      ...(await drain(resources.queues.participants?.approve as string)),
    ];
    expect(sent.map((m) => m.attributes.task).sort()).toEqual(tasks.map((t) => t.task.id).sort());

    const entries = Array.from({ length: 12 }, (_, i) => ({
      instance: `em${i % 3}-${run}`,
      message: { type: "operator" as const, action: "resume" as const, n: i } as never,
    }));
    await deps.dispatcher.enqueueMany(entries);
    // The same message sent by enqueue has the same deduplication id: the inbox drops it.
    await deps.dispatcher.enqueue(entries[0]?.instance as string, entries[0]?.message as never);
    const inbox = await drain(resources.queues.inbox);
    expect(inbox.map((m) => [m.group, (m.body as { n: number }).n]).sort()).toEqual(
      entries.map((e) => [e.instance, (e.message as { n: number }).n]).sort(),
    );
    for (const group of new Set(entries.map((e) => e.instance)))
      expect(inbox.filter((m) => m.group === group).map((m) => (m.body as { n: number }).n)).toEqual(
        entries.filter((e) => e.instance === group).map((e) => (e.message as { n: number }).n),
      );
    if (deps.signer) expect(inbox.every((m) => m.attributes["docket-signature"] !== undefined)).toBe(true);
    expect(faults.injected.partial).toBeGreaterThan(0);
  }, 60_000);

  it("runs a parallel foreach of 30 tasks, an await and a delay to completion under throttles and partial failures", async () => {
    const { clients, faults } = faulty({
      seed: 12,
      rates: { throttle: 0.15, unprocessed: 0.3, partial: 0.3 },
      // Whatever the draws, the first batch call of each kind fails in part.
      schedule: [
        { fault: "partial", call: 1 },
        { fault: "unprocessed", call: 1 },
      ],
    });
    let clock = Date.now();
    const deps = makeAwsDeps(clients, resources, () => clock);
    // The poller stands for Lambda's event source mapping: its deletes may fail in part, it is never throttled.
    const poller = new SdkFaults({ seed: 13, rates: { partial: 0.3 } });
    const pollerClient = emulatorClients(config.endpoint).sqs;
    poller.attach(pollerClient, ["partial"]);
    const runner = new LocalRunner(deps, resources.feeds, { visibilityTimeout: 1, poller: pollerClient });
    await deps.definitions.register(
      "fanout.yaml",
      `process: fanout
context: { ref: "", items: [] }
do:
  - foreach: { select: context.items, parallel: true, do: [{ action: work }] }
  - await: { event: fanout.go, key: context.ref, into: go }
  - delay: 2
  - action: finish
`,
    );
    const id = `fan-${run}`;
    const items = Array.from({ length: 30 }, (_, i) => i);
    await deps.runtime.launch({ process: "fanout", id, fields: { ref: id, items } });
    const answered = new Set<string>();
    let deliveries = 0;
    for (let round = 0; round < 200; round++) {
      await runner.settle(20);
      const stored = await deps.runtime.deps.store.load(id);
      if (stored?.snapshot.status === "completed") break;
      for (const m of await drain(resources.queues.tasks)) {
        const t = m.body.task as { id: string; reply_to: string; reply_group: string; participant: string };
        deliveries += 1;
        answered.add(t.id);
        await clean.sqs.send(
          new SendMessageCommand({
            QueueUrl: t.reply_to,
            MessageGroupId: t.reply_group,
            MessageDeduplicationId: `${t.id}-reply`,
            MessageBody: JSON.stringify({ task: t, status: "done", fields: {} }),
          }),
        );
      }
      if (answered.size === 30 && round % 5 === 0)
        await clean.events.send(
          new PutEventsCommand({
            Entries: [
              {
                EventBusName: resources.bus,
                Source: "test",
                DetailType: "fanout.go",
                Detail: JSON.stringify({ key: id, data: { go: true } }),
              },
            ],
          }),
        );
      clock += 1000;
    }
    const stored = await deps.runtime.deps.store.load(id);
    expect(stored?.snapshot.status).toBe("completed");
    expect(rootContext(stored?.snapshot ?? ({} as never))).toMatchObject({ go: { go: true } });
    expect(answered.size).toBe(31);
    expect(deliveries).toBe(31);
    expect(faults.injected.throttle).toBeGreaterThan(0);
    expect(faults.injected.unprocessed + faults.injected.partial).toBeGreaterThan(0);
    expect(faults.retriedBySdk).toBeGreaterThan(0);
  }, 240_000);
});

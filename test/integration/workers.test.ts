/**
 * Workers as a user writes them, on the emulator: a participant's tasks found on its own queue by
 * name (the functions get only the queue-name prefix), a participant without one served from the
 * default queue, and replies sent with no MessageDeduplicationId (the inbox deduplicates by content).
 */

import {
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { RemovalPolicy } from "aws-cdk-lib";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import { participantQueueUrl } from "../../lib/aws/dispatcher.js";
import { emulatorClients } from "./emulator.js";

const clients = emulatorClients(inject("endpoint"));

let resources: Provisioned;
let deps: AwsDeps;
let runner: LocalRunner;

beforeAll(async () => {
  // DESTROY adds the buckets' auto-delete custom resource, which provisioning must skip.
  resources = await provisionEngine(clients, `wk${Date.now().toString(36)}`, {
    participants: ["approve"],
    removalPolicy: RemovalPolicy.DESTROY,
  });
  // As the advance function is configured: the prefix, no list of participant queues.
  const { participants: _listed, ...queues } = resources.queues;
  deps = makeAwsDeps(clients, { ...resources, queues });
  runner = new LocalRunner(deps, resources.feeds, { visibilityTimeout: 1 });
}, 60_000);

async function receive(url: string, visibility?: number): Promise<Message[]> {
  const { Messages = [] } = await clients.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      MessageAttributeNames: ["All"],
      ...(visibility === undefined ? {} : { VisibilityTimeout: visibility }),
    }),
  );
  return Messages;
}

/** A worker's reply exactly as the README shows it: no deduplication id. */
async function reply(message: Message, fields: Record<string, unknown>): Promise<void> {
  const { task } = JSON.parse(message.Body ?? "{}") as { task: { reply_to: string; reply_group: string } };
  await clients.sqs.send(
    new SendMessageCommand({
      QueueUrl: task.reply_to,
      MessageGroupId: task.reply_group,
      MessageBody: JSON.stringify({ task, status: "done", fields }),
    }),
  );
}

describe("workers on the emulator", () => {
  it("creates the inbox as a high-throughput FIFO queue deduplicating by content", async () => {
    const { Attributes } = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: resources.queues.inbox, AttributeNames: ["All"] }),
    );
    expect(Attributes).toMatchObject({
      FifoQueue: "true",
      ContentBasedDeduplication: "true",
      DeduplicationScope: "messageGroup",
      FifoThroughputLimit: "perMessageGroupId",
    });
  });

  it("routes tasks to a participant's own queue by name, others to the default queue; replies need no id", async () => {
    await deps.definitions.register("review.yaml", "do: [ { action: approve }, { action: file } ]\n");
    await deps.runtime.launch({ process: "review", id: "review-1" });
    await runner.settle();
    const own = participantQueueUrl(resources.queues, "approve") as string;
    expect(own).toBe(resources.queues.participants?.approve);
    const [approve] = await receive(own);
    expect(approve?.MessageAttributes?.participant?.StringValue).toBe("approve");
    // A worker that sends its reply twice (a retry after a timeout): the inbox keeps one.
    await reply(approve as Message, { approved: true });
    await reply(approve as Message, { approved: true });
    expect(await receive(resources.queues.inbox, 0)).toHaveLength(1);
    await runner.settle();
    const [file] = await receive(resources.queues.tasks);
    expect(file?.MessageAttributes?.participant?.StringValue).toBe("file");
    await reply(file as Message, { filed: true });
    await runner.settle();
    const stored = await deps.runtime.deps.store.load("review-1");
    expect(stored?.snapshot.status).toBe("completed");
  }, 60_000);
});

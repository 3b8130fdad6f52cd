/**
 * The Lambda edge on the emulator: what fails for one record fails that record only, a message
 * other than a launch or a reply that finds no instance is not acknowledged, a launch without an
 * id is started once however often the bus delivers it, and an event's data is the same on the
 * bus as through `docket publish`.
 */
import type { AddressInfo } from "node:net";
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type AwsClients, type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import { makeAdvanceHandler, makeIngestHandler, type SqsRecord } from "../../lib/aws/handlers.js";
import { serveApi } from "../../lib/embedded/api.js";
import type { EmbeddedEngine } from "../../lib/embedded/engine.js";
import { rootContext } from "../../lib/engine/index.js";
import { open, project, until } from "../embedded/helpers.js";
import { emulatorClients, emulatorConfig } from "./emulator.js";

const clients: AwsClients = emulatorClients(emulatorConfig(inject("endpoint")).endpoint);
const run = Date.now().toString(36);
let resources: Provisioned;
let deps: AwsDeps;
let runner: LocalRunner;

/** The await both hosts run: `event` must be the data alone, and `into` keeps it. */
const PAID = `process: paid
context: { ref: "" }
do:
  - await: { event: paid, key: context.ref, into: got, condition: 'event == {"amount": 70}' }
`;

beforeAll(async () => {
  resources = await provisionEngine(clients, `edg${run}`);
  deps = makeAwsDeps(clients, resources);
  runner = new LocalRunner(deps, resources.feeds, { visibilityTimeout: 1 });
  await deps.definitions.register("solo.yaml", "do: [ { action: solo } ]\n");
  await deps.definitions.register("paid.yaml", PAID);
});

/** Inbox messages as Lambda hands them over (the signature attribute included). */
async function inboxRecords(): Promise<SqsRecord[]> {
  const { Messages = [] } = await clients.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: resources.queues.inbox,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 1,
      MessageSystemAttributeNames: ["MessageGroupId"],
      MessageAttributeNames: ["All"],
    }),
  );
  return Messages.map((m) => ({
    messageId: m.MessageId as string,
    body: m.Body ?? "",
    attributes: { MessageGroupId: m.Attributes?.MessageGroupId },
    messageAttributes: Object.fromEntries(
      Object.entries(m.MessageAttributes ?? {}).map(([name, v]) => [name, { stringValue: v.StringValue }]),
    ),
  }));
}

/**
 * The reasons of what was set aside in the dead-letter queue whose body mentions `marker` (raw: an
 * operator's read of the dead-letter queue).
 */
async function setAside(marker: string): Promise<string[]> {
  const reasons: string[] = [];
  for (let i = 0; i < 3; i++) {
    const { Messages = [] } = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: resources.queues.deadLetters, MaxNumberOfMessages: 10 }),
    );
    for (const m of Messages) {
      const { reason, body } = JSON.parse(m.Body ?? "{}") as { reason: string; body: string };
      if (body.includes(marker)) reasons.push(reason);
    }
  }
  return reasons;
}

describe("the Lambda edge (emulator)", () => {
  it("fails only the record whose payload read fails, and the rest of its group; the others are applied", async () => {
    await deps.runtime.launch({ process: "solo", id: `good-${run}` });
    const [launch] = await inboxRecords();
    expect(launch).toBeDefined();
    const group = `other-${run}`;
    const records: SqsRecord[] = [
      // An offloaded message whose object is gone: reading it fails (retried, not set aside).
      {
        messageId: "lost-payload",
        body: `{"docket_payload":"s3ref:transient/${run}-missing.json"}`,
        attributes: { MessageGroupId: group },
      },
      // Later in that group: not applied before the one ahead of it (FIFO), so failed too, not set aside.
      { messageId: "behind-it", body: `not json ${group}`, attributes: { MessageGroupId: group } },
      launch as SqsRecord,
      // Another group: never applicable, set aside, acknowledged.
      { messageId: "garbage", body: `not json garbage-${run}`, attributes: { MessageGroupId: `g-${run}` } },
    ];
    const result = await makeAdvanceHandler(deps)({ Records: records });
    expect(result.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual([
      "behind-it",
      "lost-payload",
    ]);
    expect((await deps.runtime.deps.store.load(`good-${run}`))?.snapshot.status).toBe("running");
    expect(await setAside(`garbage-${run}`)).toEqual([expect.stringMatching(/^not JSON/)]);
    expect(await setAside(group)).toEqual([]);
  }, 30_000);

  it("fails only the records whose signing key cannot be read; a worker's reply needs none", async () => {
    const keyless = makeAwsDeps(clients, { ...resources, inboxKeySecret: `missing-${run}` });
    await deps.runtime.launch({ process: "solo", id: `keyless-${run}` });
    const [launch] = await inboxRecords();
    const reply = {
      messageId: "orphan-reply",
      body: JSON.stringify({
        task: { id: `nobody-${run}/0.0/1`, instance: `nobody-${run}`, node: "0.0", attempt: 1 },
        status: "done",
      }),
      attributes: { MessageGroupId: `nobody-${run}` },
    };
    const result = await makeAdvanceHandler(keyless)({ Records: [launch as SqsRecord, reply] });
    // The launch: the key could not be read, retried. The reply is checked without it: it finds no
    // instance, and is set aside (acknowledged) with that reason (test/integration/aws-replies.test.ts).
    expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([launch?.messageId]);
    expect(await deps.runtime.deps.store.load(`keyless-${run}`)).toBeUndefined();
    expect(await setAside(`keyless-${run}`)).toEqual([]);
  }, 30_000);

  it("never acknowledges a message other than a launch or a reply that finds no instance: SQS delivers it again", async () => {
    const ghost = `ghost-${run}`;
    // docket's own (signed) message for an instance not there (yet); a reply would be set aside.
    await deps.dispatcher.enqueue(ghost, { type: "operator", action: "cancel", reason: ghost });
    const advance = makeAdvanceHandler(deps);
    // Only the ghost's: the keyless launch above comes back to the inbox too, after its visibility.
    const first = (await inboxRecords()).filter((r) => r.body.includes(ghost));
    expect(first).toHaveLength(1);
    expect((await advance({ Records: first })).batchItemFailures).toEqual([
      { itemIdentifier: first[0]?.messageId },
    ]);
    // Back after its visibility timeout (until the inbox's maxReceiveCount sends it to its dead-letter queue).
    const again = await until(
      async () => (await inboxRecords()).find((r) => r.body === first[0]?.body),
      5000,
    );
    expect(again.messageId).toBe(first[0]?.messageId);
    expect(await setAside(ghost)).toEqual([]);
    await advance({ Records: [again] });
  }, 30_000);

  it("starts one instance for a launch without an id that the bus delivers twice: the bus event's id", async () => {
    const event = {
      version: "0",
      id: `bus-${run}`,
      "detail-type": "docket.launch",
      source: "shop",
      detail: { process: "solo", fields: { n: 1 } },
    };
    const record = (n: number): SqsRecord => ({ messageId: `launch-${n}`, body: JSON.stringify(event) });
    const ingest = makeIngestHandler(deps);
    expect(await ingest({ Records: [record(1)] })).toEqual({ batchItemFailures: [] });
    expect(await ingest({ Records: [record(2)] })).toEqual({ batchItemFailures: [] });
    await runner.settle();
    const started = (await deps.runtime.deps.store.list({ process: "solo", limit: 100 })).filter(
      (i) => i.id === `bus-${run}` || !i.id.includes(run),
    );
    expect(started.map((i) => i.id)).toEqual([`bus-${run}`]);
  }, 30_000);
});

/** One event in each shape, as `docket publish` (HTTP API) and as an event put on the bus. */
const SHAPES = [
  { as: "docket publish", api: { name: "paid", data: { amount: 70 } }, detail: { data: { amount: 70 } } },
  { as: "fields beside the key", api: { name: "paid", amount: 70 }, detail: { amount: 70 } },
  { as: "bureaucrat's", api: { event: "paid", amount: 70 }, detail: { event: "paid", amount: 70 } },
] as const;

describe("an event's data, the same on both hosts", () => {
  let engine: EmbeddedEngine;
  let base: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const { config } = project({ "definitions/paid.yaml": PAID });
    engine = await open(config);
    const server = serveApi(engine);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = async () => {
      server.close();
      await engine.close();
    };
  });
  afterAll(() => close());

  async function embedded(ref: string, body: object): Promise<unknown> {
    const post = (path: string, json: object) =>
      fetch(`${base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(json),
      });
    expect((await post("/instances", { process: "paid", id: ref, fields: { ref } })).status).toBe(202);
    await until(async () => (await engine.snapshot(ref))?.status === "running");
    expect((await post("/events", { ...body, key: ref })).status).toBe(202);
    const done = await until(async () => {
      const s = await engine.snapshot(ref);
      return s?.status === "completed" ? s : undefined;
    });
    return rootContext(done).got;
  }

  async function onTheBus(ref: string, detail: object): Promise<unknown> {
    await deps.runtime.launch({ process: "paid", id: ref, fields: { ref } });
    await runner.settle();
    await clients.events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: resources.bus,
            Source: "bank",
            DetailType: "paid",
            Detail: JSON.stringify({ ...detail, key: ref }),
          },
        ],
      }),
    );
    await runner.settle();
    const stored = await deps.runtime.deps.store.load(ref);
    expect(stored?.snapshot.status).toBe("completed");
    return rootContext(stored?.snapshot ?? ({} as never)).got;
  }

  it.each(SHAPES)(
    "gives `into` and `event` the same data for $as",
    async ({ as, api, detail }) => {
      const id = `${as.replaceAll(/[^a-z]/g, "")}-${run}`;
      const local = await embedded(`e-${id}`, api);
      const aws = await onTheBus(`a-${id}`, detail);
      expect({ local, aws }).toEqual({ local: { amount: 70 }, aws: { amount: 70 } });
    },
    30_000,
  );
});

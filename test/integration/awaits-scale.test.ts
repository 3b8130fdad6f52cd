/**
 * Awaits at scale on the emulator: an event wakes every await it matches exactly once, whatever
 * their number, for a constant number of queries plus one SendMessageBatch per ten woken
 * instances, its routing continuing on the ingest queue page after page. DOCKET_SCALE sets the
 * number of keyed awaits (default 500, as moto serves ~50 calls a second under load; `npm run soak`
 * runs 10,000).
 */
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { batchWriteAll, forEachLimited } from "../../lib/aws/calls.js";
import { type AwsClients, type AwsDeps, type AwsResources, makeAwsDeps } from "../../lib/aws/deps.js";
import { subscriptionItems } from "../../lib/aws/subscriptions.js";
import type { Subscription } from "../../lib/ports.js";
import { hearCalls, type SdkCall } from "../support/sdk-calls.js";
import { emulatorClients } from "./emulator.js";
import { depsOfFunctions, provisioning } from "./roles.js";

const KEYED = Number(process.env.DOCKET_SCALE ?? 500);
const UNKEYED = 1000;
const PAGE = 250;

const endpoint = inject("endpoint");
let resources: Provisioned;
/** Calls made by the clients the routing code runs with, by service. */
const calls = { dynamo: 0, sqs: 0 };

/** Clients that count each call they make (SDK middleware), as the routing's cost is its calls. */
function counted(clients: AwsClients): AwsClients {
  for (const service of ["dynamo", "sqs"] as const)
    hearCalls(clients[service], {
      sent: () => {
        calls[service] += 1;
      },
    });
  hearCalls(clients.sqs, { answered: recordInbox });
  return clients;
}

/** The ingest function's resources: it continues routing on its own queue. */
function ingestResources(): AwsResources {
  const ingest = resources.functions.ingest;
  if (!ingest?.queues.ingest) throw new Error("the ingest function has no DOCKET_INGEST_URL");
  return ingest;
}

let deps: AwsDeps;

beforeAll(async () => {
  resources = await provisionEngine(provisioning(emulatorClients(endpoint)), `aw${Date.now().toString(36)}`);
  deps = makeAwsDeps(counted(emulatorClients(endpoint)), ingestResources(), { routePage: PAGE });
});

/** Subscriptions written as `subscribe` writes them, 25 items a call (what launching N awaits leaves). */
async function seed(subscriptions: readonly Subscription[]): Promise<void> {
  const requests = subscriptions.flatMap(subscriptionItems).map((Item) => ({ PutRequest: { Item } }));
  const chunks = Array.from({ length: Math.ceil(requests.length / 250) }, (_, i) =>
    requests.slice(i * 250, (i + 1) * 250),
  );
  await forEachLimited(chunks, 4, (chunk) => batchWriteAll(deps.table, "seeding", chunk));
}

/**
 * Every message SQS accepted into the inbox, by instance (message group): read back from the
 * requests and their results, since moto's FIFO receive takes seconds a call with thousands queued.
 */
const woken = new Map<string, { id: string; key?: string }[]>();

/** What a message offloaded to S3 is recorded as (its body is a pointer). */
const OFFLOADED = "(offloaded to S3)";

type Entry = { Id?: string; MessageBody?: string; MessageGroupId?: string };
function recordInbox({ input, output }: SdkCall): void {
  if (input.QueueUrl !== resources.queues.inbox || !output) return;
  const entries = (input.Entries as Entry[] | undefined) ?? [input as Entry];
  const failed = new Set(((output.Failed as Entry[] | undefined) ?? []).map((f) => f.Id));
  for (const entry of entries) {
    if (entry.Id !== undefined && failed.has(entry.Id)) continue;
    const body = JSON.parse(entry.MessageBody ?? "{}") as {
      id: string;
      key?: string;
      type: string;
      docket_payload?: string;
    };
    const group = entry.MessageGroupId as string;
    if (body.docket_payload !== undefined) {
      woken.set(group, [...(woken.get(group) ?? []), { id: OFFLOADED }]);
      continue;
    }
    expect(body.type).toBe("event");
    woken.set(group, [...(woken.get(group) ?? []), { id: body.id, ...(body.key ? { key: body.key } : {}) }]);
  }
}

/** What the inbox holds, as SQS counts it. */
async function queued(): Promise<number> {
  const { Attributes = {} } = await emulatorClients(endpoint).sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: resources.queues.inbox,
      AttributeNames: ["ApproximateNumberOfMessages"],
    }),
  );
  return Number(Attributes.ApproximateNumberOfMessages);
}

/**
 * The ingest function, run here as Lambda would: it takes each continuation and routes its page.
 * As its role when IAM is enforced (`npm run test:iam`): its grant to send to its own queue is used.
 */
function ingestFunction(): LocalRunner {
  const own = depsOfFunctions(
    resources,
    (clients, its) => makeAwsDeps(counted(clients), its, { routePage: PAGE }),
    deps,
  );
  return new LocalRunner(
    own("ingest"),
    resources.feeds.filter((feed) => feed.handler === "ingest"),
    { poller: emulatorClients(endpoint).sqs, sweepEveryMs: Number.POSITIVE_INFINITY },
  );
}

const awaiting = (instance: string, event: string, key?: string): Subscription => ({
  subscription: `${instance}/n1/s1`,
  instance,
  node: "n1",
  event,
  ...(key === undefined ? {} : { key }),
});

const perWoken = (n: number, woken: number) => (n / woken).toFixed(3);

describe(`awaits at scale (${KEYED} keyed, ${UNKEYED} unkeyed)`, () => {
  it(`wakes ${KEYED} instances awaiting distinct keys once each, a constant cost per event`, async () => {
    const instances = Array.from({ length: KEYED }, (_, i) => `keyed-${i}`);
    const started = performance.now();
    await seed(instances.map((id, i) => awaiting(id, "payment", `order-${i}`)));
    const seeded = performance.now();
    Object.assign(calls, { dynamo: 0, sqs: 0 });
    await forEachLimited([...instances.keys()], 8, async (i) => {
      await deps.runtime.publish({ name: "payment", key: `order-${i}`, id: `pay-${i}`, data: { i } });
    });
    const spent = { ...calls };
    console.log(
      `${KEYED} keyed events, each waking one await: per woken instance ${perWoken(spent.dynamo, KEYED)} DynamoDB and ${perWoken(spent.sqs, KEYED)} SQS calls (emulator: ${((seeded - started) / 1000).toFixed(0)} s seeding, ${((performance.now() - seeded) / 1000).toFixed(0)} s publishing)`,
    );
    // Buffering (one BatchWriteItem), the two subscription partitions it may match, one send.
    expect(spent.dynamo / KEYED).toBeLessThanOrEqual(3);
    expect(spent.sqs / KEYED).toBeLessThanOrEqual(1);
    const keyed = [...woken].filter(([instance]) => instance.startsWith("keyed-"));
    expect(keyed.length).toBe(KEYED);
    for (const [instance, events] of keyed) {
      const i = instance.slice("keyed-".length);
      expect(events).toEqual([{ id: `pay-${i}`, key: `order-${i}` }]);
    }
    expect(await queued()).toBe(KEYED);
  }, 900_000);

  it(`wakes ${UNKEYED} instances awaiting one unkeyed event once each, its routing continued page after page`, async () => {
    const instances = Array.from({ length: UNKEYED }, (_, i) => `unkeyed-${i}`);
    await seed(instances.map((id) => awaiting(id, "shutdown")));
    Object.assign(calls, { dynamo: 0, sqs: 0 });
    await deps.runtime.publish({ name: "shutdown", id: "stop-1", data: { at: "now" } });
    // The ingest function (run here as Lambda would) takes each continuation and routes its page.
    const ingest = ingestFunction();
    await ingest.settle();
    const spent = { ...calls };
    const pages = Math.ceil(UNKEYED / PAGE);
    console.log(
      `1 unkeyed event waking ${UNKEYED} awaits in ${ingest.invocations + 1} invocations: per woken instance ${perWoken(spent.dynamo, UNKEYED)} DynamoDB and ${perWoken(spent.sqs, UNKEYED)} SQS calls`,
    );
    // One query a page; a SendMessageBatch per ten woken, a continuation per page after the first.
    expect(ingest.invocations).toBeGreaterThanOrEqual(pages - 1);
    expect(spent.dynamo).toBeLessThanOrEqual(pages + 3);
    expect(spent.sqs).toBeLessThanOrEqual(UNKEYED / 10 + pages + 1);
    const unkeyed = [...woken].filter(([instance]) => instance.startsWith("unkeyed-"));
    expect(unkeyed.length).toBe(UNKEYED);
    for (const [, events] of unkeyed) expect(events).toEqual([{ id: "stop-1" }]);
    expect(await queued()).toBe(KEYED + UNKEYED);
  }, 900_000);

  it("routes an event too large for an SQS message: its continuation and its messages go through S3", async () => {
    const instances = Array.from({ length: 120 }, (_, i) => `large-${i}`);
    await seed(instances.map((id) => awaiting(id, "manifest")));
    // 300 KB of data: over SQS's 256 KB, so every message is offloaded; ~34 awaits a page.
    const data = { lines: "x".repeat(300 * 1024) };
    await deps.runtime.publish({ name: "manifest", id: "manifest-1", data });
    const ingest = ingestFunction();
    await ingest.settle();
    expect(ingest.invocations).toBeGreaterThanOrEqual(3);
    const large = [...woken].filter(([instance]) => instance.startsWith("large-"));
    expect(large.length).toBe(instances.length);
    for (const [, events] of large) expect(events).toEqual([{ id: OFFLOADED }]);
  }, 300_000);

  it("buffers an event over DynamoDB's 400 KB item with its data in S3, read back whole by a late await", async () => {
    const index = deps.runtime.deps.subscriptions;
    const data = { lines: "y".repeat(600 * 1024) };
    await index.record({ id: "huge-1", name: "archive", key: "k", data, at: Date.now() }, 0);
    const [keyed] = await index.subscribe(awaiting("huge-a", "archive", "k"), 0);
    const [unkeyed] = await index.subscribe(awaiting("huge-b", "archive"), 0);
    expect(keyed?.data).toEqual(data);
    expect(unkeyed?.data).toEqual(data);
  }, 60_000);

  it("an await subscribing later reads only its own key's buffered events, or every shard when unkeyed", async () => {
    const index = deps.runtime.deps.subscriptions;
    const at = Date.now();
    for (let i = 0; i < 30; i++)
      await index.record({ id: `late-${i}`, name: "parcel", key: `k${i % 3}`, data: i, at: at + i }, 0);
    await index.record({ id: "late-unkeyed", name: "parcel", data: null, at: at + 40 }, 0);
    Object.assign(calls, { dynamo: 0, sqs: 0 });
    const keyed = await index.subscribe(awaiting("late-a", "parcel", "k1"), at - 1);
    expect(keyed.map((e) => e.id)).toEqual(Array.from({ length: 10 }, (_, n) => `late-${n * 3 + 1}`));
    // The subscription and its pointer in one write, one query of the key's own partition.
    expect(calls.dynamo).toBe(2);
    const all = await index.subscribe(awaiting("late-b", "parcel"), at - 1);
    expect(all.map((e) => e.id)).toEqual([
      ...Array.from({ length: 30 }, (_, n) => `late-${n}`),
      "late-unkeyed",
    ]);
  });
});

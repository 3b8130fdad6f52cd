/**
 * The operations API on the emulator, through the api function's handler (API Gateway's payload
 * format 2.0) as the api function's role: definitions, launch, list a page at a time, show,
 * history, diagram, operate, publish and delete. Under `npm run test:iam` each call signs as the
 * role the template gives the api function, so a grant it lacks fails here as on AWS; the keys of
 * every item it writes are checked against its role's dynamodb:LeadingKeys conditions here, as
 * moto does not evaluate those.
 */
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { API_BATCH_WRITE_KEYS } from "../../cdk/api.js";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type HttpApiEvent, makeApiHandler } from "../../lib/aws/api.js";
import { type AwsClients, type AwsDeps, type AwsResources, makeAwsDeps } from "../../lib/aws/deps.js";
import { embeddedOperations } from "../../lib/embedded/api.js";
import type { OperationsPort } from "../../lib/runtime/operations.js";
import type { WireTask } from "../../lib/runtime/wire.js";
import { open, project } from "../embedded/helpers.js";
import { emulatorClients } from "./emulator.js";
import { drainQueue } from "./queues.js";
import { depsOfFunctions, iamEnforced, provisioning } from "./roles.js";
import { whileRunning } from "./running.js";

const clients: AwsClients = emulatorClients(inject("endpoint"));
const run = Date.now().toString(36);
let resources: Provisioned;
let deps: AwsDeps;
let runner: LocalRunner;
let api: ReturnType<typeof makeApiHandler>;

/** Over 1 KB: contexts and inbox messages go to the payload bucket, as the api role must read and delete. */
const small = (r: AwsResources): AwsResources => ({ ...r, largePayloadBytes: 1024 });
const bulky = "x".repeat(2048);

beforeAll(async () => {
  resources = await provisionEngine(provisioning(clients), `api${run}`);
  deps = makeAwsDeps(clients, small(resources));
  const functions = depsOfFunctions(resources, (own, its) => makeAwsDeps(own, small(its)), deps);
  runner = new LocalRunner(functions, resources.feeds, { visibilityTimeout: 1 });
  // Clients of its own without IAM too (the shared ones carry the test's own writes), whose writes are recorded.
  const own = iamEnforced()
    ? functions("api")
    : makeAwsDeps(emulatorClients(inject("endpoint")), small(resources));
  recordWrites(own);
  api = makeApiHandler(own);
  await deps.definitions.register("paid.yaml", "do: [ { action: pack } ]\n");
  await deps.definitions.register(
    "paid.yaml",
    "context: { ref: '' }\ndo:\n  - action: pack\n  - await: { event: paid, key: context.ref }\n",
  );
  await deps.definitions.register("broken.yaml", "do: [ { nonsense: 1 } ]\n");
});

/** Each table write the api function makes: the call and the partition key of every item it writes. */
const writes: { call: string; keys: string[] }[] = [];

function recordWrites(own: AwsDeps): void {
  type Key = { pk?: { S?: string } };
  type Requests = { PutRequest?: { Item: Key }; DeleteRequest?: { Key: Key } }[];
  own.clients.dynamo.middlewareStack.add(
    (next, context) => async (args) => {
      // At the build step the document client has marshalled the input: `{ pk: { S: … } }`.
      const input = args.input as { Item?: Key; Key?: Key; RequestItems?: Record<string, Requests> };
      const call = String(context.commandName).replace(/Command$/, "");
      const batch = Object.values(input.RequestItems ?? {}).flat();
      const items = [input.Item, input.Key, ...batch.map((r) => r.PutRequest?.Item ?? r.DeleteRequest?.Key)];
      if (!/^(Get|Query|Scan|BatchGet|TransactGet)/.test(call))
        writes.push({ call, keys: items.flatMap((k) => (k?.pk?.S === undefined ? [] : [k.pk.S])) });
      return next(args);
    },
    { step: "build", name: "recordTableWrites" },
  );
}

/** The writes the role's LeadingKeys conditions would refuse on AWS (cdk/api.ts), and any other write. */
function writesBeyondTheRole(): { call: string; keys: string[] }[] {
  // StringLike: `*` is any run of characters, everything else itself.
  const literal = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  const like = (patterns: readonly string[]) => (key: string) =>
    patterns.some((p) => new RegExp(`^${p.split("*").map(literal).join(".*")}$`).test(key));
  const allowed: Record<string, (key: string) => boolean> = {
    BatchWriteItem: like(API_BATCH_WRITE_KEYS),
  };
  return writes.filter(({ call, keys }) => !allowed[call] || !keys.length || !keys.every(allowed[call]));
}

/** The keys of an instance's offloaded parts in the payload bucket. */
async function payloadsOf(id: string): Promise<string[]> {
  const { Contents = [] } = await clients.s3.send(
    new ListObjectsV2Command({ Bucket: resources.payloadBucket, Prefix: `instances/${id}/` }),
  );
  return Contents.map((o) => o.Key as string);
}

/** The task a worker would take for `participant` of `instance` from the shared task queue. */
async function taskOf(instance: string, participant: string): Promise<WireTask["task"]> {
  for (let i = 0; i < 10; i++)
    for (const { body } of await drainQueue(clients.sqs, resources.queues.tasks)) {
      const task = body.task as WireTask["task"];
      if (task.instance === instance && task.participant === participant) return task;
    }
  throw new Error(`no ${participant} task of ${instance} came`);
}

/** The task an embedded engine's worker claims for `participant`. */
async function claimed(local: OperationsPort, participant: string): Promise<WireTask["task"]> {
  const wire = (await local.tasks?.claim(participant, 5000, 60_000)) as WireTask | undefined;
  if (!wire) throw new Error(`no ${participant} task came`);
  return wire.task;
}

/** An instance's step items, oldest first (as the administrator). */
async function stepsOf(instance: string): Promise<Record<string, unknown>[]> {
  const { Items = [] } = await deps.table.client.send(
    new QueryCommand({
      TableName: deps.table.name,
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :v)",
      FilterExpression: "attribute_not_exists(kind)",
      ExpressionAttributeValues: { ":pk": `I#${instance}`, ":v": "V#" },
      ConsistentRead: true,
    }),
  );
  return Items;
}

/** Rewrites a step's commands as summaries were stored before they kept the node. */
async function storeAsBefore(step: Record<string, unknown>): Promise<void> {
  const commands = JSON.parse(String(step.commands)) as {
    type: string;
    task?: WireTask["task"];
    timer?: string;
  }[];
  const before = commands.map((c) =>
    c.task
      ? { type: c.type, task: c.task.id, participant: c.task.participant }
      : c.timer === undefined
        ? { type: c.type }
        : { type: c.type, timer: c.timer },
  );
  await deps.table.client.send(
    new UpdateCommand({
      TableName: deps.table.name,
      Key: { pk: step.pk, sk: step.sk },
      UpdateExpression: "SET commands = :c",
      ExpressionAttributeValues: { ":c": JSON.stringify(before) },
    }),
  );
}

/** One request as API Gateway hands it to the function; the answer with its body parsed. */
async function call(method: string, target: string, body?: unknown) {
  const [path, query = ""] = target.split("?");
  const event: HttpApiEvent = {
    rawPath: path as string,
    rawQueryString: query,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)).toString("base64"),
    isBase64Encoded: true,
    requestContext: { http: { method } },
  };
  const result = await api(event);
  const json = result.headers?.["content-type"] === "application/json";
  return { status: result.statusCode, body: json ? JSON.parse(result.body ?? "") : result.body };
}

describe("the operations API as the api function's role (emulator)", () => {
  it("lists the definitions: each process with its versions newest first, and the rejected files", async () => {
    const { status, body } = await call("GET", "/definitions");
    expect(status).toBe(200);
    const paid = body.processes.find((p: { name: string }) => p.name === "paid");
    expect(paid.versions).toHaveLength(2);
    expect(paid.hash).toBe(paid.versions[0].hash);
    expect(paid.versions[0].registeredAt).toBeGreaterThanOrEqual(paid.versions[1].registeredAt);
    expect(body.rejected).toEqual([
      { name: "broken", problems: [expect.any(String)], at: expect.any(Number) },
    ]);
    await deps.definitions.register("broken.yaml", "do: [ { action: mend } ]\n");
    const after = (await call("GET", "/definitions")).body;
    expect(after.rejected).toEqual([]);
    expect(after.processes.map((p: { name: string }) => p.name)).toEqual(["broken", "paid"]);
  }, 30_000);

  it("launches, lists a page at a time, shows, operates, publishes and deletes", async () => {
    const ids = [1, 2, 3].map((n) => `i${n}-${run}`);
    for (const id of ids) {
      const launched = await call("POST", "/instances", { process: "paid", id, fields: { ref: id, bulky } });
      expect(launched).toEqual({ status: 202, body: { id } });
      await runner.settle();
    }
    // Newest first, a page of two, then the rest after the cursor.
    const first = await call("GET", "/instances?process=paid&limit=2");
    expect(first.body.instances.map((i: { id: string }) => i.id)).toEqual([ids[2], ids[1]]);
    const rest = await call(
      "GET",
      `/instances?process=paid&limit=2&after=${encodeURIComponent(first.body.next)}`,
    );
    expect(rest.body).toEqual({ instances: [expect.objectContaining({ id: ids[0] })] });

    const [one, two, three] = ids as [string, string, string];
    const shown = await call("GET", `/instances/${one}`);
    expect(shown.body).toMatchObject({ id: one, status: "running", context: { ref: one, bulky } });
    expect(shown.body.active).toContainEqual(
      expect.objectContaining({ state: "action", task: `${one}/0.0/1`, wait: "reply" }),
    );
    expect((await call("GET", `/instances/${one}/diagram`)).body).toMatch(/^flowchart/);

    // Operate: a cancel is queued (signed) and, the functions running meanwhile, answered applied;
    // a pause on a finished instance is refused.
    expect(await whileRunning(runner, call("POST", `/instances/${one}/cancel`, { reason: "test" }))).toEqual({
      status: 202,
      body: { id: one, action: "cancel", state: "applied" },
    });
    expect((await call("GET", `/instances/${one}`)).body.status).toBe("canceled");
    const history = (await call("GET", `/instances/${one}/history`)).body;
    expect(history.records.map((r: { message: { type: string } }) => r.message.type)).toEqual([
      "launch",
      "operator",
    ]);
    expect((await call("POST", `/instances/${one}/pause`, {})).status).toBe(409);

    // Publish wakes the await of the instance whose task was answered.
    for (const task of await drainQueue(clients.sqs, resources.queues.tasks))
      if ((task.body.task as { instance: string }).instance === two)
        await deps.runtime.reply({ task: task.body.task, status: "done", fields: {} });
    await runner.settle();
    expect((await call("POST", "/events", { name: "paid", key: two, data: { bulky } })).status).toBe(202);
    await runner.settle();
    expect((await call("GET", `/instances/${two}`)).body.status).toBe("completed");

    // Delete: refused while running; a finished one goes with its history and offloaded payloads.
    expect((await call("DELETE", `/instances/${three}`)).status).toBe(409);
    expect((await payloadsOf(one)).length).toBeGreaterThan(0);
    expect(await call("DELETE", `/instances/${one}`)).toEqual({ status: 204, body: undefined });
    expect((await call("GET", `/instances/${one}`)).status).toBe(404);
    expect(await payloadsOf(one)).toEqual([]);

    // Publish batch-wrote a buffered event (its key's partition and a shard of its name's) and
    // delete the instance's items, within the role's keys.
    expect(writes.filter((w) => w.call === "BatchWriteItem").flatMap((w) => w.keys)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^E#/), expect.stringMatching(/^I#/)]),
    );
    expect(writesBeyondTheRole()).toEqual([]);
  }, 60_000);

  it("colours an instance's diagram as the embedded engine does: the actions answered done", async () => {
    const parcel =
      "context: { ref: '' }\ndo:\n  - action: pack\n  - action: ship\n  - await: { event: shipped, key: context.ref }\n";
    await deps.definitions.register("parcel.yaml", parcel);
    const embedded = await open(project({ "definitions/parcel.yaml": parcel }).config);
    const local = embeddedOperations(embedded);
    const id = `parcel-${run}`;
    const settled = () => Promise.all([runner.settle(), embedded.idle()]);
    const diagrams = async () => ({
      aws: (await call("GET", `/instances/${id}/diagram`)).body as string,
      embedded: await local.diagram(id),
    });
    try {
      // The same launch, replies and event on both hosts.
      await call("POST", "/instances", { process: "parcel", id, fields: { ref: id } });
      await local.launch({ process: "parcel", id, fields: { ref: id } });
      for (const participant of ["pack", "ship"]) {
        await settled();
        await deps.runtime.reply({ task: await taskOf(id, participant), status: "done", fields: {} });
        await embedded.reply({ task: await claimed(local, participant), status: "done", fields: {} });
      }
      await settled();
      const waiting = await diagrams();
      for (const line of ["class n0_0 done", "class n0_1 done", "class n0_2 waiting"])
        expect(waiting.aws).toContain(line);
      expect(waiting.aws).toBe(waiting.embedded);

      // A step keeps its tasks without their fields: id, instance, node, participant, attempt.
      const steps = await stepsOf(id);
      expect(JSON.parse(String(steps[1]?.commands))).toEqual([
        {
          type: "task",
          task: { id: `${id}/0.1/1`, instance: id, node: "0.1", participant: "ship", attempt: 1 },
        },
      ]);
      // Steps stored as summaries were before (a task's id and participant, a timer's id) read the
      // same: the same nodes in the same states (an await's `class` line comes later, its
      // subscription's node not kept then).
      for (const step of steps) await storeAsBefore(step);
      const before = (await call("GET", `/instances/${id}/diagram`)).body as string;
      expect(before.split("\n").sort()).toEqual(waiting.embedded.split("\n").sort());
      const history = (await call("GET", `/instances/${id}/history`)).body;
      expect(history.records[0].commands).toContainEqual({
        type: "task",
        task: { id: `${id}/0.0/1`, instance: id, node: "0.0", participant: "pack", attempt: 1 },
      });

      await call("POST", "/events", { name: "shipped", key: id });
      await local.publish({ name: "shipped", key: id });
      await settled();
      const finished = await diagrams();
      for (const diagram of [finished.aws, finished.embedded]) {
        expect(diagram).toMatch(/class n0_0 done\n {2}class n0_1 done\n/);
        expect(diagram).toMatch(/class n0 done/);
        expect(diagram).not.toMatch(/class \S+ active/);
      }
      expect(writesBeyondTheRole()).toEqual([]);
    } finally {
      await embedded.close();
    }
  }, 60_000);

  it("pages through instances created in one millisecond, across statuses: newest first, ties by id descending", async () => {
    const registered = await deps.definitions.register("tie.yaml", "do: [ { action: pack } ]\n");
    const hash = registered.ok ? registered.hash : "";
    const sameMoment = makeAwsDeps(clients, small(resources), () => 1_000_000);
    const ids = ["a", "b", "c"].map((n) => `tie-${n}-${run}`);
    for (const id of ids)
      await sameMoment.runtime.apply(id, { type: "launch", instance: id, version: hash, process: "tie" });
    // The middle one canceled: it is listed from another status's partition of the index.
    await sameMoment.runtime.apply(ids[1] as string, { type: "operator", action: "cancel" });
    const pages: [string, string][][] = [];
    for (let next = ""; pages.length < 4; ) {
      const after = next ? `&after=${encodeURIComponent(next)}` : "";
      const { body } = await call("GET", `/instances?process=tie&limit=1${after}`);
      pages.push(body.instances.map((i: { id: string; status: string }) => [i.id, i.status]));
      if (!body.next) break;
      next = body.next;
    }
    expect(pages).toEqual([[[ids[2], "running"]], [[ids[1], "canceled"]], [[ids[0], "running"]]]);
  });

  it("answers a body over 1 MB with 413 and an unknown route with 404, as JSON errors", async () => {
    const big = await api({
      rawPath: "/events",
      headers: { "content-type": "application/json" },
      body: "x".repeat(1024 * 1024 + 1),
      requestContext: { http: { method: "POST" } },
    });
    expect(big.statusCode).toBe(413);
    expect(JSON.parse(big.body ?? "")).toEqual({ error: { code: "TooLarge", message: expect.any(String) } });
    expect((await call("GET", "/nowhere")).status).toBe(404);
    expect((await call("GET", "/health")).body).toEqual({ ok: true, host: "aws" });
  });
});

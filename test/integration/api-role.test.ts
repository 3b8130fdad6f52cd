/**
 * The operations API on the emulator, through the api function's handler (API Gateway's payload
 * format 2.0) as the api function's role: definitions, launch, list a page at a time, show,
 * history, diagram, operate, publish and delete. Under `npm run test:iam` each call signs as the
 * role the template gives the api function, so a grant it lacks fails here as on AWS.
 */
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { type HttpApiEvent, makeApiHandler } from "../../lib/aws/api.js";
import { type AwsClients, type AwsDeps, type AwsResources, makeAwsDeps } from "../../lib/aws/deps.js";
import { LocalRunner } from "../../lib/aws/local.js";
import type { Provisioned } from "../../lib/aws/provision.js";
import { emulatorClients } from "./emulator.js";
import { drainQueue } from "./queues.js";
import { depsOfFunctions, provisioning } from "./roles.js";

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
  api = makeApiHandler(functions("api"));
  await deps.definitions.register("paid.yaml", "do: [ { action: pack } ]\n");
  await deps.definitions.register(
    "paid.yaml",
    "context: { ref: '' }\ndo:\n  - action: pack\n  - await: { event: paid, key: context.ref }\n",
  );
  await deps.definitions.register("broken.yaml", "do: [ { nonsense: 1 } ]\n");
});

/** The keys of an instance's offloaded parts in the payload bucket. */
async function payloadsOf(id: string): Promise<string[]> {
  const { Contents = [] } = await clients.s3.send(
    new ListObjectsV2Command({ Bucket: resources.payloadBucket, Prefix: `instances/${id}/` }),
  );
  return Contents.map((o) => o.Key as string);
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

    // Operate: a cancel is queued (signed) and applied; a pause on a finished instance is refused.
    expect(await call("POST", `/instances/${one}/cancel`, { reason: "test" })).toEqual({
      status: 202,
      body: { id: one, action: "cancel" },
    });
    await runner.settle();
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

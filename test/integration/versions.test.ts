/**
 * Versions visible and reversible on AWS (the emulator), through the api function's handler as its
 * role (under `npm run test:iam`, signed as the template's role): the instances pinned to each
 * version from the byDefinition index, `latest` moved back and kept back when the bucket's file
 * is uploaded again, and a version deleted only when it is not latest and nothing pins it. The key
 * of every item the role writes in a transaction is checked against its dynamodb:LeadingKeys
 * patterns, which moto does not evaluate.
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { API_DEFINITION_WRITE_KEYS } from "../../cdk/api.js";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type HttpApiEvent, makeApiHandler } from "../../lib/aws/api.js";
import { type AwsClients, type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import { emulatorClients } from "./emulator.js";
import { depsOfFunctions, iamEnforced, provisioning } from "./roles.js";
import { whileRunning } from "./running.js";

const clients: AwsClients = emulatorClients(inject("endpoint"));
const run = Date.now().toString(36);
let resources: Provisioned;
let deps: AwsDeps;
let runner: LocalRunner;
let api: ReturnType<typeof makeApiHandler>;

/** Waits for `go` keyed by the instance's ref; a comment tells the versions apart. */
const source = (marker: string) =>
  `# ${marker}\ncontext: { ref: "" }\ndo:\n  - await: { event: go, key: context.ref }\n`;

/** The partition keys of the items in each transaction the api role made. */
const transactions: string[][] = [];

function recordTransactions(own: AwsDeps): void {
  type Key = { pk?: { S?: string } };
  type Entry = Record<string, { Key?: Key } | undefined>;
  own.clients.dynamo.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === "TransactWriteItemsCommand") {
        const items = (args.input as { TransactItems?: Entry[] }).TransactItems ?? [];
        transactions.push(items.map((item) => String(Object.values(item)[0]?.Key?.pk?.S)));
      }
      return next(args);
    },
    { step: "build", name: "recordTransactions" },
  );
}

beforeAll(async () => {
  resources = await provisionEngine(provisioning(clients), `ver${run}`);
  deps = makeAwsDeps(clients, resources);
  const functions = depsOfFunctions(resources, (own, its) => makeAwsDeps(own, its), deps);
  runner = new LocalRunner(functions, resources.feeds, { visibilityTimeout: 1 });
  const own = iamEnforced() ? functions("api") : makeAwsDeps(emulatorClients(inject("endpoint")), resources);
  recordTransactions(own);
  api = makeApiHandler(own);
}, 60_000);

/** One request as API Gateway hands it to the function (the functions running meanwhile). */
async function call(method: string, path: string, body?: unknown) {
  const [rawPath, rawQueryString = ""] = path.split("?");
  const event: HttpApiEvent = {
    rawPath: rawPath as string,
    rawQueryString,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    requestContext: { http: { method } },
  };
  const result = await whileRunning(runner, api(event));
  return { status: result.statusCode, body: result.body ? JSON.parse(result.body) : undefined };
}

/** Uploads a definition to the bucket and lets the register function take it, as a deploy does. */
async function upload(key: string, text: string): Promise<void> {
  await clients.s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: key, Body: text }));
  await runner.settle();
}

async function catalogued(name: string) {
  const { status, body } = await call("GET", `/definitions?process=${encodeURIComponent(name)}`);
  expect(status).toBe(200);
  expect(body.processes).toHaveLength(1);
  return body.processes[0];
}

async function launch(process: string, id: string): Promise<string> {
  expect((await call("POST", "/instances", { process, id, fields: { ref: id } })).status).toBe(202);
  await runner.settle();
  return (await call("GET", `/instances/${id}`)).body.version;
}

const sourceItem = async (hash: string) =>
  (
    await deps.table.client.send(
      new GetCommand({
        TableName: deps.table.name,
        Key: { pk: `D#${hash}`, sk: "DEF" },
        ConsistentRead: true,
      }),
    )
  ).Item;

describe("definition versions on AWS, as the api function's role (emulator)", () => {
  const name = "versions/order";
  let v1 = "";
  let v2 = "";

  it("counts the instances pinned to each version from the byDefinition index", async () => {
    await upload(`${name}.yaml`, source("v1"));
    v1 = (await catalogued(name)).hash;
    for (const id of ["a1", "a2", "a3"]) expect(await launch(name, `${id}-${run}`)).toBe(v1);
    expect((await call("POST", "/events", { name: "go", key: `a3-${run}` })).status).toBe(202);
    await runner.settle();
    await upload(`${name}.yaml`, source("v2"));
    const listed = await catalogued(name);
    v2 = listed.hash;
    expect(listed.registered).toBe(v2);
    expect(listed.versions).toEqual([
      { hash: v2, registeredAt: expect.any(Number), pinned: 0, unfinished: 0, capped: false },
      { hash: v1, registeredAt: expect.any(Number), pinned: 3, unfinished: 2, capped: false },
    ]);
    expect((await call("DELETE", `/instances/a3-${run}`)).status).toBe(204);
    expect((await catalogued(name)).versions[1]).toMatchObject({ pinned: 2, unfinished: 2 });
  }, 60_000);

  it("follows a head whose pinned definition is rewritten, as a migration rewrites it", async () => {
    const head = { pk: `I#a2-${run}`, sk: "HEAD" };
    const pin = (hash: string) =>
      deps.table.client.send(
        new UpdateCommand({
          TableName: deps.table.name,
          Key: head,
          UpdateExpression: "SET #d = :h",
          ExpressionAttributeNames: { "#d": "definition" },
          ExpressionAttributeValues: { ":h": hash },
        }),
      );
    await pin(v2);
    expect((await catalogued(name)).versions.map((v: { pinned: number }) => v.pinned)).toEqual([1, 1]);
    await pin(v1);
    expect((await catalogued(name)).versions.map((v: { pinned: number }) => v.pinned)).toEqual([0, 2]);
  });

  it("moves latest back; the same file uploaded again keeps it back, a changed one moves it on", async () => {
    expect(
      await call("PUT", `/definitions/${encodeURIComponent(name)}/latest`, { version: v1.slice(0, 6) }),
    ).toEqual({
      status: 200,
      body: { name, hash: v1, previous: v2 },
    });
    expect(await launch(name, `b1-${run}`)).toBe(v1);
    await upload(`${name}.yaml`, source("v2"));
    expect(await catalogued(name)).toMatchObject({ hash: v1, registered: v2 });
    expect(await launch(name, `b2-${run}`)).toBe(v1);
    await upload(`${name}.yaml`, source("v3"));
    const listed = await catalogued(name);
    expect(listed.hash).toBe(listed.registered);
    expect(listed.versions.map((v: { hash: string }) => v.hash).slice(1)).toEqual([v2, v1]);
    expect(await launch(name, `b3-${run}`)).toBe(listed.hash);
  }, 60_000);

  it("deletes only a version that is not latest and that no instance pins; a shared source stays", async () => {
    const path = (version: string) => `/definitions/${encodeURIComponent(name)}/versions/${version}`;
    const v3 = (await catalogued(name)).hash;
    const latest = await call("DELETE", path(v3));
    expect(latest.status).toBe(409);
    expect(latest.body.error.message).toMatch(/is the latest of versions\/order/);
    const pinned = await call("DELETE", path(v1));
    expect(pinned).toEqual({
      status: 409,
      body: {
        error: {
          code: "NotApplicable",
          message: `version ${v1.slice(0, 8)} of ${name} is pinned by 4 instances (4 unfinished): delete or migrate them first`,
        },
      },
    });
    // The same source as v2 under another name: deleting v2 of this process keeps the source.
    await upload("versions/copy.yaml", source("v2"));
    expect((await call("DELETE", path(v2.slice(0, 10)))).status).toBe(204);
    expect((await catalogued(name)).versions.map((v: { hash: string }) => v.hash)).toEqual([v3, v1]);
    expect((await call("GET", path(v2))).status).toBe(404);
    expect(await sourceItem(v2)).toBeDefined();
    expect((await call("GET", "/definitions/versions%2Fcopy/versions/latest")).body.hash).toBe(v2);

    expect((await call("PUT", "/definitions/versions%2Fcopy/latest", { version: "ffff" })).status).toBe(404);
    expect((await call("PUT", "/definitions/nope/latest", { version: v1 })).body.error.code).toBe(
      "UnknownProcess",
    );
    expect(
      (await call("PUT", `/definitions/${encodeURIComponent(name)}/latest`, {})).body.error.message,
    ).toBe("version is required");
    // Every transaction the role made wrote within its keys.
    const like = (key: string) =>
      API_DEFINITION_WRITE_KEYS.some((p) => new RegExp(`^${p.replace("*", ".*")}$`).test(key));
    expect(transactions.length).toBeGreaterThanOrEqual(2);
    expect(transactions.flat().filter((key) => !like(key))).toEqual([]);
  }, 60_000);

  it("deletes the source of a version no other process has; uploading it again brings nothing back", async () => {
    const solo = "/definitions/versions%2Fsolo";
    await upload("versions/solo.yaml", source("s1"));
    const s1 = (await catalogued("versions/solo")).hash;
    await upload("versions/solo.yaml", source("s2"));
    const s2 = (await catalogued("versions/solo")).hash;
    expect((await call("PUT", `${solo}/latest`, { version: s1 })).status).toBe(200);
    expect((await call("DELETE", `${solo}/versions/${s2}`)).status).toBe(204);
    expect(await sourceItem(s2)).toBeUndefined();
    // The bucket still holds s2's file: uploaded again (a redeploy), it changes nothing.
    await upload("versions/solo.yaml", source("s2"));
    expect(await catalogued("versions/solo")).toMatchObject({
      hash: s1,
      registered: s2,
      versions: [{ hash: s1 }],
    });
    expect(await sourceItem(s2)).toBeUndefined();
    await upload("versions/solo.yaml", source("s3"));
    expect((await catalogued("versions/solo")).versions).toHaveLength(2);
  }, 30_000);
});

/**
 * lib/api/openapi.yaml against the router (the same operations, no more, no fewer), its own
 * consistency (every `$ref` resolves, every schema compiles in ajv's strict mode), and the
 * embedded host's answers to every operation (openapi-aws.test.ts: the AWS host's).
 */
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "../../lib/api/router.js";
import { serveApi } from "../../lib/embedded/api.js";
import type { EmbeddedEngine } from "../../lib/embedded/engine.js";
import { open, project } from "../embedded/helpers.js";
import { ContractClient } from "./client.js";
import { Contract, refsOf, resolvePointer } from "./contract.js";
import {
  BROKEN,
  contractSteps,
  expectEveryOperation,
  type HostUnderTest,
  ORDER,
  type Step,
} from "./scenario.js";

const contract = new Contract();
const { doc } = contract;
type Node = Record<string, unknown>;

describe("the OpenAPI document", () => {
  it("is OpenAPI 3.1.0 of docket's version", () => {
    const version = JSON.parse(readFileSync("package.json", "utf8")).version;
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info).toMatchObject({ title: "docket operations API", version });
  });

  it("has an operation for every route, with its method, path and operationId, and no other", () => {
    const routes = ROUTES.map((r) => `${r.method} ${r.path} ${r.operationId}`).sort();
    const operations = contract.operations.map((o) => `${o.method} ${o.path} ${o.operationId}`).sort();
    expect(operations).toEqual(routes);
    expect(new Set(operations.map((o) => o.split(" ")[2])).size).toBe(operations.length);
  });

  it("resolves every $ref", () => {
    const refs = refsOf(doc);
    expect(refs.length).toBeGreaterThan(50);
    expect(refs.filter((ref) => resolvePointer(doc, ref) === undefined)).toEqual([]);
  });

  it("compiles every schema in ajv's strict mode (JSON Schema 2020-12)", () => {
    const schemas = (doc.components as Node).schemas as Node;
    for (const name of Object.keys(schemas))
      expect(() => contract.validator({ $ref: `#/components/schemas/${name}` }), name).not.toThrow();
    for (const operation of contract.operations) {
      const contents = Object.values(operation.spec.responses as Node).map((r) => contract.deref(r).content);
      if (operation.spec.requestBody) contents.push(contract.deref(operation.spec.requestBody).content);
      const schemas = [
        ...contents.flatMap((c) => Object.values((c ?? {}) as Node).map((m) => (m as Node).schema)),
        ...operation.parameters.map((p) => p.schema),
      ];
      for (const schema of schemas)
        expect(() => contract.validator(schema), operation.operationId).not.toThrow();
    }
  });

  it("declares each path's parameters, and which hosts serve each operation", () => {
    for (const operation of contract.operations) {
      const inPath = [...operation.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const declared = operation.parameters.filter((p) => p.in === "path").map((p) => p.name);
      expect(declared, operation.operationId).toEqual(inPath);
      const hosts = ["claimTask", "leaseTask", "reply"].includes(operation.operationId)
        ? ["embedded"]
        : ["embedded", "aws"];
      expect(operation.hosts, operation.operationId).toEqual(hosts);
    }
  });

  it("documents the refusals every operation can make", () => {
    for (const operation of contract.operations) {
      const statuses = Object.keys(operation.spec.responses as Node);
      const expected = [
        ...(operation.operationId === "health" ? [] : ["401"]),
        ...(operation.spec.requestBody ? ["400", "413", "415"] : []),
        ...(operation.path.includes("{id}") ? ["404"] : []),
        ...(operation.parameters.some((p) => p.in === "query") ? ["400"] : []),
        "403",
        "500",
      ];
      expect(statuses, operation.operationId).toEqual(expect.arrayContaining(expected));
    }
    expect(Object.keys(doc["x-docket-unrouted"] as Node).sort()).toEqual(["404", "405"]);
  });
});

let engine: EmbeddedEngine;
let base: string;
let closeServer: () => Promise<void>;

beforeAll(async () => {
  const { config } = project({ "definitions/order.yaml": ORDER, "definitions/broken.xml": BROKEN });
  engine = await open(config);
  const server = serveApi(engine);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closeServer = () => new Promise((resolve) => server.close(() => resolve()));
});
afterAll(async () => {
  await closeServer?.();
  await engine?.close();
});

/** An external worker claims both instances' tasks over HTTP, and answers contract-1's. */
const tasks: Step = [
  "serves tasks to external workers and takes their replies",
  async ({ client, settle }) => {
    const claimed = [];
    for (let i = 0; i < 2; i++)
      claimed.push((await client.call("GET", "/tasks?participant=worker&wait=0&lease=60", 200)).body);
    await client.call("GET", "/tasks?participant=worker&wait=0", 204);
    const task = claimed.find((t) => t.task.instance === "contract-1");
    expect(task?.task).toMatchObject({
      participant: "worker",
      reply_to: "/replies",
      reply_group: "contract-1",
    });
    for (const query of ["wait=0", "participant=worker&wait=61", "participant=worker&lease=0"])
      await client.call("GET", `/tasks?${query}`, 400, { docRejects: true });
    // A heartbeat keeps the lease; 0 gives the task back, for the next claim.
    const lease = `/tasks/${encodeURIComponent(task.task.id)}/lease`;
    const kept = (await client.call("POST", lease, 200, { body: { seconds: 120 } })).body;
    expect(kept).toEqual({ task: task.task.id, leasedUntil: expect.any(Number) });
    expect(kept.leasedUntil).toBeGreaterThan(Date.now() + 100_000);
    await client.call("POST", lease, 200, { body: { seconds: 0 } });
    const again = (await client.call("GET", "/tasks?participant=worker&wait=0&lease=60", 200)).body;
    expect(again.task.id).toBe(task.task.id);
    for (const body of [{ seconds: -1 }, { seconds: 3601 }, { seconds: 1.5 }, {}, { secs: 1 }])
      await client.call("POST", lease, 400, { body, docRejects: true });
    await client.call("POST", "/tasks/x%2F0.9%2F1/lease", 404, { body: { seconds: 1 } });
    const reply = { task: task.task, status: "done", fields: { done: true } };
    expect((await client.call("POST", "/replies", 202, { body: reply })).body).toEqual({ accepted: true });
    await settle();
    await client.call("POST", "/replies", 409, { body: reply });
    await client.call("POST", lease, 409, { body: { seconds: 60 } });
    await client.call("POST", "/replies", 404, {
      body: { ...reply, task: { ...task.task, instance: "ghost" } },
    });
    await client.call("POST", "/replies", 404, { body: { ...reply, task: { ...task.task, id: "x/0.9/1" } } });
    await client.call("POST", "/replies", 400, { body: { status: "done" }, docRejects: true });
    await client.call("POST", "/replies", 415, { raw: "x", contentType: "text/plain" });
  },
];

const completes: Step = [
  "completes the instance the worker answered and the event woke",
  async ({ client }) => {
    const { body } = await client.call("GET", "/instances/contract-1", 200);
    expect(body).toMatchObject({ status: "completed", context: { done: true, payment: { amount: 5 } } });
  },
];

const unauthorized: Step = [
  "asks for the token when one is set, except for its health",
  async () => {
    const server = serveApi(engine, { token: "s3cret" });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const at = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const anonymous = new ContractClient(at, contract, "embedded");
      await anonymous.call("GET", "/instances", 401);
      await anonymous.call("POST", "/instances", 401, { body: { process: "order" } });
      await anonymous.call("GET", "/health", 200);
      const bearer = new ContractClient(at, contract, "embedded", { authorization: "Bearer s3cret" });
      await bearer.call("GET", "/definitions", 200);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  },
];

describe("the embedded host's answers", () => {
  const host = (): HostUnderTest => ({
    client: embeddedClient(),
    settle: () => engine.idle(),
    register: async (key, source) => void (await engine.definitions.register(key, source)),
  });
  let client: ContractClient | undefined;
  const embeddedClient = () => {
    client ??= new ContractClient(base, contract, "embedded");
    return client;
  };
  for (const [name, run] of contractSteps(tasks, [completes, unauthorized])) it(name, () => run(host()));
  it("exercised every operation", () => expectEveryOperation(contract, embeddedClient()));
});

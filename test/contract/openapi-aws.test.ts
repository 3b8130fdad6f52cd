/**
 * The AWS host's answers to every operation of lib/api/openapi.yaml: the `api` function's handler
 * (lib/aws/api.ts, the operations over DynamoDB and the inbox of an engine provisioned on the
 * emulator) behind a stand-in for API Gateway (gateway.ts), with the other Lambda handlers run
 * here (LocalRunner) so a launched instance advances. Tasks are not served over HTTP on AWS:
 * claimTask and reply answer 404 NoRoute, as documented.
 */
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import { makeApiHandler } from "../../lib/aws/api.js";
import { type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import { emulatorClients } from "../integration/emulator.js";
import { depsOfFunctions, provisioning } from "../integration/roles.js";
import { whileRunning } from "../integration/running.js";
import { ContractClient } from "./client.js";
import { Contract } from "./contract.js";
import { serveHandler } from "./gateway.js";
import {
  BROKEN,
  contractSteps,
  expectEveryOperation,
  type HostUnderTest,
  ORDER,
  type Step,
} from "./scenario.js";

const contract = new Contract();
const clients = emulatorClients(inject("endpoint"));

let deps: AwsDeps;
let runner: LocalRunner;
let client: ContractClient;
let closeServer: () => Promise<void>;

beforeAll(async () => {
  const resources = await provisionEngine(provisioning(clients), `oa${Date.now().toString(36)}`);
  deps = makeAwsDeps(clients, resources);
  const functions = depsOfFunctions(resources, (own, its) => makeAwsDeps(own, its), deps);
  runner = new LocalRunner(functions, resources.feeds, { visibilityTimeout: 1 });
  await deps.definitions.register("order.yaml", ORDER);
  await deps.definitions.register("broken.xml", BROKEN);
  const server = serveHandler(makeApiHandler(deps));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = new ContractClient(base, contract, "aws", {}, (pending) => whileRunning(runner, pending));
  closeServer = () => new Promise((resolve) => server.close(() => resolve()));
});
afterAll(() => closeServer?.());

/** Workers read their SQS queue on AWS: the task routes answer 404 NoRoute. */
const tasks: Step = [
  "does not serve tasks over HTTP",
  async ({ client }) => {
    const claim = await client.call("GET", "/tasks?participant=worker&wait=0", 404);
    expect(claim.body.error).toMatchObject({ code: "NoRoute", message: expect.stringMatching(/SQS queue/) });
    const task = { id: "contract-1/0.0/1", instance: "contract-1", node: "0.0", attempt: 1 };
    const lease = await client.call("POST", "/tasks/contract-1%2F0.0%2F1/lease", 404, {
      body: { seconds: 60 },
    });
    expect(lease.body.error.code).toBe("NoRoute");
    const reply = await client.call("POST", "/replies", 404, { body: { task, status: "done" } });
    expect(reply.body.error.code).toBe("NoRoute");
  },
];

describe("the AWS host's answers", () => {
  const host = (): HostUnderTest => ({
    client,
    settle: () => runner.settle(),
    register: async (key, source) => void (await deps.definitions.register(key, source)),
  });
  for (const [name, run] of contractSteps(tasks)) it(name, () => run(host()));
  it("exercised every operation", () => expectEveryOperation(contract, client));
});

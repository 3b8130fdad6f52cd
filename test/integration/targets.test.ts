/**
 * Participants the engine calls itself, against moto's server over HTTP: an `http:` service (a real
 * server in this process), a `lambda:` function (moto's Lambda without Docker answers what the test
 * queued for it), and an `sfn:` state machine (moto runs the execution; moto sends no status-change
 * events: one test puts the one AWS would send on the default bus, where the engine's rule takes it,
 * another gets the answer by the invoke function's polling alone). Then a target that hangs.
 */
import { createServer, type Server } from "node:http";
import { PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { CreateRoleCommand, IAMClient } from "@aws-sdk/client-iam";
import { CreateFunctionCommand, LambdaClient } from "@aws-sdk/client-lambda";
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  ListExecutionsCommand,
  SFNClient,
} from "@aws-sdk/client-sfn";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import { type AwsClients, type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import { makeInvokeHandler, type SqsRecord } from "../../lib/aws/handlers.js";
import { rootContext } from "../../lib/engine/index.js";
import type { WireTask } from "../../lib/runtime/wire.js";
import { emulatorClients, emulatorConfig } from "./emulator.js";
import { depsOfFunctions, provisioning } from "./roles.js";

const endpoint = inject("endpoint");
const config = emulatorConfig(endpoint);
const clients: AwsClients = {
  ...emulatorClients(endpoint),
  lambda: new LambdaClient(config),
  sfn: new SFNClient(config),
};
const suffix = Date.now().toString(36);

let server: Server;
let deps: AwsDeps;
let runner: LocalRunner;
let machine: string;
let serviceUrl: string;
const posted: unknown[] = [];

/** A pricing service: answers fields, or 400 for a quantity it cannot price. */
function startService(): Promise<string> {
  server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      // A service that hangs: answers long after any sensible time limit.
      if (request.url?.endsWith("/slow")) {
        setTimeout(() => response.writeHead(200).end("{}"), 5000).unref();
        return;
      }
      const task = JSON.parse(body) as { fields: { qty: number } };
      posted.push(task);
      if (task.fields.qty < 0) {
        response.writeHead(400).end("qty must not be negative");
        return;
      }
      response
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ price: task.fields.qty * 2, currency: "EUR" }));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`),
    ),
  );
}

/** moto's Lambda without Docker: each invocation answers the next queued result. */
async function queueLambdaResults(...results: unknown[]): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/static/lambda-simple/response`, {
    method: "POST",
    body: JSON.stringify({
      results: results.map((r) => JSON.stringify(r)),
      region: "us-east-1",
      // moto's API defaults to its built-in account, not the one the server runs as.
      account_id: machine.split(":")[4],
    }),
  });
  expect(response.status).toBe(201);
}

beforeAll(async () => {
  const url = await startService();
  serviceUrl = url;
  await fetch(`${endpoint}/moto-api/config`, {
    method: "POST",
    body: JSON.stringify({ lambda: { use_docker: false } }),
  });
  const { Role } = await new IAMClient(config).send(
    new CreateRoleCommand({ RoleName: `docket-${suffix}`, AssumeRolePolicyDocument: "{}" }),
  );
  await clients.lambda?.send(
    new CreateFunctionCommand({
      FunctionName: `scorer-${suffix}`,
      Runtime: "nodejs20.x",
      Handler: "index.handler",
      Role: Role?.Arn,
      Code: { ZipFile: new Uint8Array([80, 75, 5, 6, ...new Array(18).fill(0)]) },
    }),
  );
  const created = await clients.sfn?.send(
    new CreateStateMachineCommand({
      name: `shipper-${suffix}`,
      roleArn: Role?.Arn,
      definition: JSON.stringify({
        StartAt: "Ship",
        States: { Ship: { Type: "Pass", Result: { shipped: true, carrier: "dhl" }, End: true } },
      }),
    }),
  );
  machine = created?.stateMachineArn as string;
  const resources = await provisionEngine(provisioning(clients), `tg${suffix}`, {
    targets: {
      quote: `http:${url}/quote`,
      score: `lambda:scorer-${suffix}`,
      ship: `sfn:${machine}`,
      // The field contract of docket.config.yaml's http participants.
      priced: { http: `${url}/quote`, inputs: { qty: "number" }, outputs: { price: "number" } },
    },
  });
  deps = makeAwsDeps(clients, resources);
  // With IAM enforced, each handler signs as its function's role (test/integration/roles.ts).
  const functions = depsOfFunctions(resources, (own, its) => makeAwsDeps(own, its), deps);
  runner = new LocalRunner(functions, resources.feeds, { visibilityTimeout: 1 });
  await deps.definitions.register(
    "fulfil.yaml",
    "do:\n  - action: quote\n  - action: score\n  - action: ship\n",
  );
  await deps.definitions.register("ship-only.yaml", "do:\n  - action: ship\n");
  await deps.definitions.register("priced.yaml", "do:\n  - action: priced\n");
}, 60_000);

afterAll(() => server?.close());

/** What AWS puts on the default bus when an execution ends, built from the execution moto ran. */
async function forwardExecutionEnd(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { executions = [] } =
      (await clients.sfn?.send(new ListExecutionsCommand({ stateMachineArn: machine }))) ?? {};
    const done = [];
    for (const e of executions) {
      const execution = await clients.sfn?.send(
        new DescribeExecutionCommand({ executionArn: e.executionArn }),
      );
      if (execution?.status !== "RUNNING") done.push(execution);
    }
    if (done.length) {
      for (const execution of done)
        await clients.events.send(
          new PutEventsCommand({
            Entries: [
              {
                Source: "aws.states",
                DetailType: "Step Functions Execution Status Change",
                Detail: JSON.stringify({
                  executionArn: execution?.executionArn,
                  stateMachineArn: machine,
                  name: execution?.name,
                  status: execution?.status,
                  input: execution?.input,
                  output: execution?.output ?? null,
                }),
              },
            ],
          }),
        );
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the execution did not end in 10 s");
}

describe("participants the engine calls (lambda:, http:, sfn:)", () => {
  it("posts to the HTTP service, invokes the Lambda, runs the state machine, and takes each answer as the reply", async () => {
    await queueLambdaResults({ score: 7 });
    await deps.runtime.launch({ process: "fulfil", id: "f-1", fields: { qty: 3 } });
    await runner.settle();
    const started = await clients.sfn?.send(new ListExecutionsCommand({ stateMachineArn: machine }));
    // The execution is named after the task: a redelivered task starts nothing new.
    expect(started?.executions?.map((e) => e.name)).toEqual([expect.stringMatching(/^f-1/)]);
    await forwardExecutionEnd();
    await runner.settle();
    const stored = await deps.runtime.deps.store.load("f-1");
    expect(stored?.snapshot.status).toBe("completed");
    expect(rootContext(stored?.snapshot ?? ({} as never))).toMatchObject({
      qty: 3,
      price: 6,
      score: 7,
      shipped: true,
      carrier: "dhl",
    });
    expect(posted).toEqual([expect.objectContaining({ docket: 1, fields: { qty: 3 } })]);
  }, 60_000);

  it("faults the action when the service turns the task down (4xx), naming the status and its text", async () => {
    await deps.runtime.launch({ process: "fulfil", id: "f-2", fields: { qty: -1 } });
    await runner.settle();
    const stored = await deps.runtime.deps.store.load("f-2");
    expect(stored?.snapshot.status).toBe("faulted");
    expect(JSON.stringify(stored?.snapshot.fault)).toMatch(/HttpError|400: qty must not be negative/);
  }, 30_000);
});

describe("an http target with a field contract ({ http, inputs, outputs })", () => {
  it("is sent only its declared inputs, and only its declared outputs are taken, each of its type", async () => {
    await deps.runtime.launch({ process: "priced", id: "pr-1", fields: { qty: 4, secret: "s3cret" } });
    await deps.runtime.launch({ process: "priced", id: "pr-2", fields: { qty: "4" } });
    await runner.settle();
    const sent = await deps.runtime.deps.store.load("pr-1");
    expect(sent?.snapshot.status).toBe("completed");
    expect(rootContext(sent?.snapshot ?? ({} as never))).toEqual({ qty: 4, secret: "s3cret", price: 8 });
    expect(posted.at(-1)).toMatchObject({ task: { instance: "pr-1" }, fields: { qty: 4 } });
    expect(JSON.stringify(posted)).not.toContain("s3cret");
    const refused = (await deps.runtime.deps.store.load("pr-2"))?.snapshot;
    expect([refused?.status, refused?.fault?.code]).toEqual(["faulted", "BadInput"]);
    expect(refused?.fault?.message).toMatch(/input "qty" must be a number, got string/);
  }, 30_000);
});

describe("participants the engine calls, when AWS and the participants let it down", () => {
  it("answers an sfn task by polling its execution, with no status-change event on the bus", async () => {
    await deps.runtime.launch({ process: "ship-only", id: "poll-1" });
    // No event is forwarded: the invoke function's first poll comes 10 s after the start.
    for (let i = 0; i < 60; i++) {
      await runner.settle();
      if ((await deps.runtime.deps.store.load("poll-1"))?.snapshot.status !== "running") break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const stored = await deps.runtime.deps.store.load("poll-1");
    expect(stored?.snapshot.status).toBe("completed");
    expect(rootContext(stored?.snapshot ?? ({} as never))).toMatchObject({ shipped: true, carrier: "dhl" });
  }, 60_000);

  it("fails only the task whose target does not answer in time; the batch's others are answered", async () => {
    const hurried = makeAwsDeps(clients, {
      ...deps.resources,
      targetTimeoutMs: 500,
      targets: { quote: `http:${serviceUrl}/quote`, stall: `http:${serviceUrl}/slow` },
    });
    const record = (participant: string, qty: number): SqsRecord => {
      const task: WireTask = {
        docket: 1,
        task: {
          id: `late-1/0.${qty}/1`,
          instance: "late-1",
          node: `0.${qty}`,
          participant,
          attempt: 1,
          reply_to: deps.resources.queues.inbox,
          reply_group: "late-1",
        },
        fields: { qty },
      };
      return { messageId: participant, body: JSON.stringify(task) };
    };
    const started = Date.now();
    const result = await makeInvokeHandler(hurried)({ Records: [record("stall", 1), record("quote", 2)] });
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: "stall" }]);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(posted).toContainEqual(expect.objectContaining({ fields: { qty: 2 } }));
  }, 30_000);
});

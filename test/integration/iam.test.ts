/**
 * Least privilege, proven on the emulator: with IAM enforced (tools/moto-server.py --iam), the
 * handlers sign as their functions' roles from the synthesized template, so a grant taken out of
 * the template fails the very call that needs it, with AccessDenied, as AWS would. Under plain
 * `npm test` this file starts a moto of its own with IAM on (a few seconds); under
 * `npm run test:iam` it uses the suite's.
 */
import type { ChildProcess } from "node:child_process";
import { IAMClient } from "@aws-sdk/client-iam";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type CloudFormationTemplate, synthesizeEngineTemplate } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import { reachable, startMoto } from "../../emulator/moto.js";
import { type Provisioned, provisionTemplate } from "../../emulator/provision.js";
import { depsPerRole, type FunctionName } from "../../emulator/provision-iam.js";
import { type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import { emulatorClients, emulatorConfig } from "./emulator.js";

let moto: ChildProcess | undefined;
let endpoint: string;
let template: CloudFormationTemplate;
const run = Date.now().toString(36);

/** A moto of this file's own with IAM on, unless the suite's enforces it already. */
async function iamEndpoint(): Promise<string> {
  if (inject("iam")) return inject("endpoint");
  const started = await startMoto({ iam: true });
  moto = started.moto;
  if (!(await reachable(`${started.endpoint}/moto-api/`)))
    throw new Error(`moto with IAM on did not start at ${started.endpoint}`);
  return started.endpoint;
}

beforeAll(async () => {
  endpoint = await iamEndpoint();
  template = synthesizeEngineTemplate();
}, 120_000);

afterAll(() => moto?.kill());

/** The statement of a role's policy that grants `action` on the resource the template names `id`. */
function grantOf(policy: { Statement: Record<string, unknown>[] }, action: string, id: string) {
  return policy.Statement.findIndex(
    (s) => [s.Action].flat().includes(action) && JSON.stringify(s.Resource).includes(`"${id}"`),
  );
}

/** The template with the advance role's grant to send to the task queue taken out. */
function withoutAdvanceTaskSend(): CloudFormationTemplate {
  type Resource = { Type: string; Properties: Record<string, unknown> };
  const copy = structuredClone(template) as { Resources: Record<string, Resource> };
  const tasks = Object.keys(copy.Resources).find((id) => /^DocketTasks[0-9A-F]{8}$/.test(id)) as string;
  const policy = Object.values(copy.Resources).find(
    (r) => r.Type === "AWS::IAM::Policy" && JSON.stringify(r.Properties.Roles).includes("DocketAdvance"),
  );
  const document = policy?.Properties.PolicyDocument as { Statement: Record<string, unknown>[] };
  const at = grantOf(document, "sqs:SendMessage", tasks);
  expect(at).toBeGreaterThanOrEqual(0);
  document.Statement.splice(at, 1);
  return copy;
}

/**
 * The template provisioned with its roles, the test's own deps (the administrator), a runner whose
 * handlers sign as their roles, and every call the advance role was refused.
 */
async function engine(prefix: string, cfn: CloudFormationTemplate) {
  const config = emulatorConfig(endpoint);
  const admin = emulatorClients(endpoint);
  const resources: Provisioned = await provisionTemplate(
    { ...admin, iam: new IAMClient(config) },
    cfn,
    prefix,
  );
  const functions = depsPerRole(config, resources, (own, its) => makeAwsDeps(own, its));
  const refused: Error[] = [];
  functions("advance").clients.sqs.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        refused.push(error as Error);
        throw error;
      }
    },
    { step: "initialize", name: "recordRefusals" },
  );
  const deps: AwsDeps = makeAwsDeps(admin, resources);
  const runner = new LocalRunner((fn: FunctionName) => functions(fn), resources.feeds, {
    visibilityTimeout: 1,
  });
  await deps.definitions.register("one.yaml", "do: [ { action: pack } ]\n");
  return { admin, resources, deps, runner, refused };
}

/** The participants of the tasks on a queue, read as an operator would (raw: nothing is answered). */
async function tasksOn(admin: ReturnType<typeof emulatorClients>, queue: string): Promise<unknown[]> {
  const { Messages = [] } = await admin.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queue, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
  );
  return Messages.map((m) => JSON.parse(m.Body ?? "{}").task?.participant);
}

describe("least privilege on the emulator (IAM enforced)", () => {
  it("the template's grants carry a step to its task; without the advance role's task-queue grant, the send is refused", async () => {
    const full = await engine(`iam${run}`, template);
    await full.deps.runtime.launch({ process: "one", id: "granted-1" });
    await full.runner.settle();
    expect(full.refused).toEqual([]);
    expect(await tasksOn(full.admin, full.resources.queues.tasks)).toEqual(["pack"]);

    const cut = await engine(`cut${run}`, withoutAdvanceTaskSend());
    await cut.deps.runtime.launch({ process: "one", id: "refused-1" });
    await cut.runner.settle(3);
    expect(cut.refused.length).toBeGreaterThan(0);
    expect(cut.refused[0]).toMatchObject({
      name: "AccessDeniedException",
      message: expect.stringMatching(
        /not authorized to perform: sqs:SendMessage on resource: arn:aws:sqs:.*Tasks/,
      ),
    });
    expect(await tasksOn(cut.admin, cut.resources.queues.tasks)).toEqual([]);
  }, 120_000);
});

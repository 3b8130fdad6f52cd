/**
 * What `docket serve` offers an operator, on a deployed engine: the operations API (the router a
 * deployed API Gateway reaches) served over HTTP on a local port, over awsOperations, with the
 * Lambda handlers run by the LocalRunner against the emulator. Each case reads the real state back
 * through the API: status, incidents, context, history, listings, definitions.
 * Kept out of test/integration: the IAM of the api role is tested there, this runs once.
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type AwsClients, type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import { awsOperations } from "../../lib/aws/operations.js";
import { emulatorClients } from "../integration/emulator.js";
import { provisioning } from "../integration/roles.js";
import { whileRunning } from "../integration/running.js";
import {
  type Api,
  awaitReadings,
  listedBefore,
  pageThrough,
  QueueWorker,
  type Summary,
  serveOnLocalhost,
} from "./helpers.js";

const clients: AwsClients = emulatorClients(inject("endpoint"));
let resources: Provisioned;
let deps: AwsDeps;
let runner: LocalRunner;
let worker: QueueWorker;
let api: Api;
let close = () => {};

const DEFINITIONS: Record<string, string> = {
  "flaky.yaml": "context: { n: 0 }\ndo: [ { action: flaky } ]\n",
  "two-step.yaml": "do: [ { action: first }, { action: second } ]\n",
  "waiter.yaml": "do: [ { await: { event: never.comes } } ]\n",
  "caller.yaml": "do: [ { call: waiter }, { action: after-call } ]\n",
  "counter.yaml": "do:\n  - await: { event: reading, condition: event.n >= 2000, into: last }\n",
  "holding.yaml": "do: [ { action: hold } ]\n",
  // The listing's own processes: no other case launches them.
  "listed/holding.yaml": "# listed\ndo: [ { action: hold } ]\n",
  "listed/instant.yaml":
    "# listed\ncontext: { bad: false }\ndo:\n  - switch: [ { when: context.bad, do: [ { fault: { code: Bad } } ] } ]\n",
  "instant.yaml":
    "context: { bad: false }\ndo:\n  - switch: [ { when: context.bad, do: [ { fault: { code: Bad, message: bad input } } ] } ]\n",
};

beforeAll(async () => {
  // `hold` has a queue of its own: its tasks stay off the queue the worker reads.
  resources = await provisionEngine(provisioning(clients), `ops${Date.now().toString(36)}`, {
    participants: ["hold"],
  });
  deps = makeAwsDeps(clients, resources);
  runner = new LocalRunner(deps, resources.feeds, { visibilityTimeout: 1 });
  worker = new QueueWorker(clients.sqs, resources.queues.tasks, () => runner.tick());
  for (const [key, source] of Object.entries(DEFINITIONS)) await deps.definitions.register(key, source);
  const served = await serveOnLocalhost(awsOperations(deps));
  // The functions run while a request waits, as on AWS (an operator command waits to be applied).
  api = (method, path, body) => whileRunning(runner, served.api(method, path, body));
  close = served.close;
});
afterAll(() => close());

/** Each operator command sent to the inbox, with its FIFO deduplication id. */
const deduplicationIds: { instance: string; action: string; id: string }[] = [];
clients.sqs.middlewareStack.add(
  (next) => async (args) => {
    const input = args.input as {
      MessageBody?: string;
      MessageGroupId?: string;
      MessageDeduplicationId?: string;
    };
    const body = input.MessageBody?.startsWith('{"type":"operator"')
      ? JSON.parse(input.MessageBody)
      : undefined;
    if (body && input.MessageGroupId && input.MessageDeduplicationId)
      deduplicationIds.push({
        instance: input.MessageGroupId,
        action: body.action,
        id: input.MessageDeduplicationId,
      });
    return next(args);
  },
  { step: "initialize", name: "recordOperatorDeduplication" },
);

async function launch(process: string, id: string, fields?: object): Promise<void> {
  expect(await api("POST", "/instances", { process, id, ...(fields ? { fields } : {}) })).toEqual({
    status: 202,
    body: { id },
  });
}

async function operate(id: string, action: string, body: object = {}): Promise<void> {
  expect(await api("POST", `/instances/${id}/${action}`, body)).toEqual({
    status: 202,
    body: { id, action, state: "applied" },
  });
}

async function show(id: string) {
  const shown = await api("GET", `/instances/${id}`);
  expect(shown.status).toBe(200);
  return shown.body;
}

/** The active actions of a shown instance (its containers, the process itself first, left out). */
function actions(view: { active: { state: string }[] }) {
  return view.active.filter((node) => node.state === "action");
}

/** The messages an instance's history shows after its launch, operator commands with their action. */
async function messageTypes(id: string): Promise<string[]> {
  const page = await api("GET", `/instances/${id}/history?limit=1000`);
  return page.body.records
    .filter((r: { message: { type: string } }) => r.message.type !== "launch")
    .map((r: { message: { type: string; action?: string } }) =>
      r.message.type === "operator" ? `operator:${r.message.action}` : r.message.type,
    );
}

describe("the operations API on AWS (emulator)", () => {
  it("resolves an incident three ways: retry sends a new attempt, skip completes with fields, fail faults", async () => {
    const ids = { retry: "inc-retry", skip: "inc-skip", fail: "inc-fail" };
    for (const id of Object.values(ids)) await launch("flaky", id);
    await runner.settle();
    for (const id of Object.values(ids))
      await worker.answer(await worker.take(id, "flaky"), {
        status: "error",
        error: { code: "DiskFull", message: "no space left" },
      });
    await runner.settle();
    for (const id of Object.values(ids)) {
      const shown = await show(id);
      expect(shown).toMatchObject({ status: "suspended", paused: false });
      expect(shown.incidents).toEqual([
        expect.objectContaining({
          node: "0.0",
          task: `${id}/0.0/1`,
          attempt: 1,
          error: { code: "DiskFull", message: "no space left" },
        }),
      ]);
      expect(actions(shown)).toEqual([
        expect.objectContaining({ node: "0.0", state: "action", attempt: 1, wait: "incident" }),
      ]);
    }

    await operate(ids.retry, "retry");
    await operate(ids.skip, "skip", { fields: { n: 7, skipped: true } });
    await operate(ids.fail, "fail", { reason: "given up" });
    await runner.settle();
    const again = await worker.take(ids.retry, "flaky");
    expect(again.task).toMatchObject({ id: `${ids.retry}/0.0/2`, attempt: 2 });
    expect(actions(await show(ids.retry))).toEqual([
      expect.objectContaining({ node: "0.0", attempt: 2, wait: "reply" }),
    ]);
    await worker.answer(again, { status: "done", fields: { n: 1 } });
    await runner.settle();

    expect(await show(ids.retry)).toMatchObject({ status: "completed", incidents: [], context: { n: 1 } });
    expect(await messageTypes(ids.retry)).toEqual(["reply", "operator:retry", "reply"]);
    expect(await show(ids.skip)).toMatchObject({
      status: "completed",
      incidents: [],
      context: { n: 7, skipped: true },
    });
    expect(await messageTypes(ids.skip)).toEqual(["reply", "operator:skip"]);
    const failed = await show(ids.fail);
    expect(failed).toMatchObject({
      status: "faulted",
      incidents: [],
      fault: { code: "DiskFull", message: "no space left", node: "0.0" },
    });
    expect(await messageTypes(ids.fail)).toEqual(["reply", "operator:fail"]);
  });

  it("refuses with 409 and the reason an operator command that cannot apply, changing nothing", async () => {
    await launch("holding", "refuse-running");
    await launch("instant", "refuse-done");
    await runner.settle();
    const refusals: [string, string, object, RegExp][] = [
      [
        "refuse-running",
        "retry",
        {},
        /retry does not apply to instance refuse-running: the instance has no incident/,
      ],
      [
        "refuse-running",
        "skip",
        { node: "0.9", fields: { x: 1 } },
        /skip does not apply.*no incident at node 0\.9/,
      ],
      ["refuse-running", "resume", {}, /the instance is not paused/],
      ["refuse-done", "cancel", {}, /cancel does not apply to instance refuse-done: it is completed/],
    ];
    for (const [id, action, body, reason] of refusals) {
      const before = await show(id);
      const refused = await api("POST", `/instances/${id}/${action}`, body);
      expect({ action, status: refused.status, code: refused.body.error?.code }).toEqual({
        action,
        status: 409,
        code: "NotApplicable",
      });
      expect(refused.body.error.message).toMatch(reason);
      await runner.settle();
      expect(await show(id)).toEqual(before);
    }
    // The state is unchanged; the history keeps each refused command, with why (a note).
    expect(await messageTypes("refuse-running")).toEqual([
      "operator:retry",
      "operator:skip",
      "operator:resume",
    ]);
    expect((await show("refuse-done")).status).toBe("completed");
  });

  it("pauses an instance (its next task is held) and resumes it (the task is sent)", async () => {
    const id = "paused-1";
    await launch("two-step", id);
    await runner.settle();
    const first = await worker.take(id, "first");
    await operate(id, "pause");
    await runner.settle();
    expect(await show(id)).toMatchObject({ status: "suspended", paused: true });
    expect((await api("POST", `/instances/${id}/pause`, {})).status).toBe(409);

    await worker.answer(first, { status: "done", fields: { a: 1 } });
    await runner.settle();
    const held = await show(id);
    expect(held).toMatchObject({ status: "suspended", paused: true, context: { a: 1 } });
    expect(actions(held)).toEqual([
      expect.objectContaining({ node: "0.1", state: "action", task: `${id}/0.1/1`, wait: "held" }),
    ]);
    expect(await worker.waiting(id)).toEqual([]);

    await operate(id, "resume");
    await runner.settle();
    expect(await show(id)).toMatchObject({ status: "running", paused: false });
    const second = await worker.take(id, "second");
    expect(second.task.id).toBe(`${id}/0.1/1`);

    // The same commands again are new messages (a FIFO inbox drops a body it took in the last five minutes).
    await operate(id, "pause");
    await runner.settle();
    expect(await show(id)).toMatchObject({ status: "suspended", paused: true });
    await operate(id, "resume");
    await runner.settle();
    expect(await show(id)).toMatchObject({ status: "running", paused: false });

    // moto forgets a deduplication id once its message is consumed; SQS keeps it five minutes, so
    // check what AWS would judge by: every operator command went out with an id of its own.
    const operatorSends = deduplicationIds.filter((sent) => sent.instance === id);
    // The second pause of the first pair was refused (paused already) where it was applied.
    expect(operatorSends.map((sent) => sent.action)).toEqual(["pause", "pause", "resume", "pause", "resume"]);
    expect(new Set(operatorSends.map((sent) => sent.id)).size).toBe(5);

    await worker.answer(second, { status: "done", fields: { b: 2 } });
    await runner.settle();
    expect(await show(id)).toMatchObject({ status: "completed", context: { a: 1, b: 2 } });
    expect(await messageTypes(id)).toEqual([
      "operator:pause",
      "operator:pause", // refused: paused already (a note)
      "reply",
      "operator:resume",
      "operator:pause",
      "operator:resume",
      "reply",
    ]);
  });

  it("cancels a parent with a running child: both end canceled", async () => {
    const id = "caller-1";
    await launch("caller", id);
    await runner.settle();
    const parent = await show(id);
    const call = parent.active.find((n: { state: string }) => n.state === "call");
    expect(call).toMatchObject({ node: "0.0", child: expect.stringMatching(/^caller-1~\d+$/) });
    const child = call.child as string;
    expect(await show(child)).toMatchObject({
      status: "running",
      process: "waiter",
      parent: { instance: id, node: "0.0", child },
      active: expect.arrayContaining([expect.objectContaining({ state: "await" })]),
    });

    await operate(id, "cancel", { reason: "no longer needed" });
    await runner.settle();
    expect(await show(id)).toMatchObject({ status: "canceled", active: [] });
    expect(await show(child)).toMatchObject({ status: "canceled", active: [] });
    expect(await messageTypes(child)).toContain("operator:cancel");
  });

  it("pages a history of 2,000 steps: every step once, in order", async () => {
    const id = "counter-1";
    await launch("counter", id);
    await runner.settle();
    const started = performance.now();
    const last = await awaitReadings(deps, id, 2000);
    const took = performance.now() - started;
    expect(await show(id)).toMatchObject({
      status: "completed",
      steps: 2001,
      context: { last: { n: 2000 } },
    });

    const seqs: number[] = [];
    let pages = 0;
    for (let after: number | undefined = 0; after !== undefined; pages++) {
      const page = await api("GET", `/instances/${id}/history?limit=250&after=${after}`);
      expect(page.status).toBe(200);
      expect(page.body.records.length).toBeLessThanOrEqual(250);
      seqs.push(...page.body.records.map((r: { seq: number }) => r.seq));
      after = page.body.next;
    }
    // Every step once and in order; the readings are the last 2,000 (the launch's may come first).
    const first = seqs[0] ?? 0;
    expect(seqs).toEqual(Array.from({ length: 2002 - first }, (_, i) => first + i));
    expect(first).toBeLessThanOrEqual(2);
    expect(pages).toBeGreaterThanOrEqual(8);
    const end = await api("GET", `/instances/${id}/history?after=2000`);
    expect(end.body).toEqual({ records: [expect.objectContaining({ seq: 2001, message: last })] });
    console.info(`2,000 steps stored in ${Math.round(took)} ms; the history read in ${pages} pages`);
    // 2,000 writes to moto, one after another: 25 to 40 s measured on a busy two-core machine.
  }, 90_000);

  it("lists by status and by process, newest first, in pages that lose and repeat nothing", async () => {
    const holding = Array.from({ length: 13 }, (_, i) => `listed-h${String(i).padStart(2, "0")}`);
    const instant = Array.from({ length: 12 }, (_, i) => `listed-i${String(i).padStart(2, "0")}`);
    for (const [i, id] of holding.entries()) {
      await launch("listed/holding", id);
      if (i === 6) await launch("listed/instant", instant[0] as string, { bad: true });
    }
    for (const [i, id] of instant.slice(1).entries())
      await launch("listed/instant", id, { bad: i % 3 === 0 });
    await runner.settle();
    for (const id of holding.slice(0, 4)) await operate(id, "pause");
    for (const id of holding.slice(4, 7)) await operate(id, "cancel");
    await runner.settle();
    const expected = new Map<string, string>([
      ...holding.map((id, i): [string, string] => [id, i < 4 ? "suspended" : i < 7 ? "canceled" : "running"]),
      ...instant.map((id, i): [string, string] => [
        id,
        i === 0 || (i - 1) % 3 === 0 ? "faulted" : "completed",
      ]),
    ]);

    const check = async (query: string, wanted: (id: string, status: string) => boolean) => {
      const paged = await pageThrough(api, query);
      const whole = await api("GET", `/instances?limit=1000${query}`);
      expect(whole.body.next).toBeUndefined();
      // The pages are the whole listing, in its order: nothing lost, nothing twice.
      expect(paged).toEqual(whole.body.instances);
      expect(new Set(paged.map((s) => s.id)).size).toBe(paged.length);
      for (const [i, later] of paged.slice(1).entries())
        expect(listedBefore(paged[i] as Summary, later), `${paged[i]?.id} before ${later.id}`).toBe(true);
      const mine = [...expected].filter(([id, status]) => wanted(id, status)).map(([id]) => id);
      const listedMine = paged.filter((x) => expected.has(x.id));
      expect(listedMine.map((x) => x.id).sort()).toEqual(mine.sort());
      for (const x of listedMine) expect(x.status).toBe(expected.get(x.id));
      return paged;
    };
    expect(await check("&process=listed%2Fholding", (id) => id.startsWith("listed-h"))).toHaveLength(13);
    expect(await check("&process=listed%2Finstant", (id) => id.startsWith("listed-i"))).toHaveLength(12);
    for (const status of ["running", "suspended", "canceled", "faulted", "completed"]) {
      const listed = await check(`&status=${status}`, (_id, st) => st === status);
      expect(listed.every((x) => x.status === status)).toBe(true);
    }
    expect(
      await check(
        "&process=listed%2Fholding&status=suspended",
        (id, st) => id.startsWith("listed-h") && st === "suspended",
      ),
    ).toHaveLength(4);
    expect(
      await check(
        "&process=listed%2Finstant&status=faulted",
        (id, st) => id.startsWith("listed-i") && st === "faulted",
      ),
    ).toHaveLength(5);
    await check("", () => true);
  }, 120_000);

  it("lists definitions with their versions, newest first, and a rejected file with its problems", async () => {
    const put = (key: string, body: string) =>
      clients.s3.send(new PutObjectCommand({ Bucket: resources.bucket, Key: key, Body: body }));
    await put("catalogue/twice.yaml", "do: [ { action: v1 } ]\n");
    await runner.settle();
    await launch("catalogue/twice", "twice-v1");
    await runner.settle();
    const first = (await show("twice-v1")).version as string;
    await put("catalogue/twice.yaml", "do: [ { action: v2 } ]\n");
    await put("catalogue/broken.yaml", "do:\n  - nope: 1\n");
    await runner.settle();
    await launch("catalogue/twice", "twice-v2");
    await runner.settle();
    const second = (await show("twice-v2")).version as string;
    expect(second).not.toBe(first);

    const { status, body } = await api("GET", "/definitions");
    expect(status).toBe(200);
    const twice = body.processes.find((p: { name: string }) => p.name === "catalogue/twice");
    expect(twice).toMatchObject({ hash: second, versions: [{ hash: second }, { hash: first }] });
    expect(twice.versions[0].registeredAt).toBeGreaterThanOrEqual(twice.versions[1].registeredAt);
    expect(body.processes.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(["flaky", "caller", "waiter"]),
    );
    const broken = body.rejected.find((r: { name: string }) => r.name === "catalogue/broken");
    expect(broken.problems).toEqual([
      expect.stringMatching(/^catalogue\/broken\.yaml:2:5 .*must be a map with one activity key/),
    ]);
  });

  it("deletes a finished instance with its history, and refuses to delete a running one", async () => {
    await launch("holding", "delete-running");
    await launch("instant", "delete-done");
    await runner.settle();
    const refused = await api("DELETE", "/instances/delete-running");
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(
      /instance delete-running is running: cancel it before deleting it/,
    );
    expect((await show("delete-running")).status).toBe("running");

    expect(await api("DELETE", "/instances/delete-done")).toEqual({ status: 204, body: "" });
    expect((await api("GET", "/instances/delete-done")).status).toBe(404);
    expect((await api("GET", "/instances/delete-done/history")).status).toBe(404);
    const listed = await api("GET", "/instances?process=instant&limit=1000");
    expect(listed.body.instances.map((x: { id: string }) => x.id)).not.toContain("delete-done");
  });
});

import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embeddedOperations, serveApi } from "../../lib/embedded/api.js";
import type { EmbeddedEngine } from "../../lib/embedded/engine.js";
import { InfrastructureError } from "../../lib/errors.js";
import { open, project, until } from "./helpers.js";

let engine: EmbeddedEngine;
let base: string;
let close: () => Promise<void>;

beforeAll(async () => {
  const { config } = project({
    "definitions/order.yaml":
      "context: { n: 0 }\ndo:\n  - action: worker\n  - await: { event: paid, key: context.ref, into: payment }\n",
  });
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

async function api(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = { "content-type": "application/json" },
) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text && (response.headers.get("content-type") ?? "").includes("json") ? JSON.parse(text) : text,
  };
}

describe("the HTTP API", () => {
  it("launches, lists, shows, serves tasks to a worker, takes replies and events, and pages history", async () => {
    const launched = await api("POST", "/instances", {
      process: "order",
      fields: { ref: "R1" },
      id: "order-1",
    });
    expect(launched).toEqual({ status: 202, body: { id: "order-1" } });
    const task = await api("GET", "/tasks?participant=worker&wait=5");
    expect(task.status).toBe(200);
    expect(task.body.task).toMatchObject({
      id: "order-1/0.0/1",
      participant: "worker",
      reply_to: "/replies",
      reply_group: "order-1",
    });
    expect((await api("GET", "/tasks?participant=worker&wait=0")).status).toBe(204);
    const reply = { task: task.body.task, status: "done", fields: { n: 1 } };
    expect((await api("POST", "/replies", reply)).status).toBe(202);
    // The same reply again: refused, as the task is answered already.
    const again = await api("POST", "/replies", reply);
    expect(again).toMatchObject({ status: 409, body: { error: { code: "TaskClosed" } } });
    expect(again.body.error.message).toBe(
      "task order-1/0.0/1 is closed: answered already, or withdrawn (its action no longer waits for it)",
    );
    expect((await api("POST", "/events", { event: "paid", key: "R1", amount: 5 })).status).toBe(202);
    await until(async () =>
      (await api("GET", "/instances/order-1")).body.status === "completed" ? true : undefined,
    );
    const shown = await api("GET", "/instances/order-1");
    expect(shown.body).toMatchObject({
      id: "order-1",
      process: "order",
      status: "completed",
      context: { ref: "R1", n: 1, payment: { amount: 5 } },
    });
    const completed = await api("GET", "/instances?status=completed");
    expect(completed.body.instances.map((r: { id: string }) => r.id)).toContain("order-1");
    expect(completed.body.instances[0]).toMatchObject({
      id: "order-1",
      process: "order",
      status: "completed",
    });
    const page = await api("GET", "/instances/order-1/history?limit=2");
    expect(page.body.records).toHaveLength(2);
    expect(page.body.next).toBe(2);
    const rest = await api("GET", `/instances/order-1/history?after=${page.body.next}`);
    expect(rest.body.records[0].seq).toBe(3);
    expect((await api("GET", "/instances/order-1/diagram")).body).toMatch(/class n0_0 done/);
    expect((await api("DELETE", "/instances/order-1")).status).toBe(204);
    expect((await api("GET", "/instances/order-1")).status).toBe(404);
  });

  it("withdraws a task whose action no longer waits for it (its instance canceled), serving the next one", async () => {
    for (const id of ["gone-1", "kept-1"])
      await api("POST", "/instances", { process: "order", id, fields: { ref: id } });
    await until(async () => (engine.queues.taskState("kept-1/0.0/1") === "open" ? true : undefined));
    expect((await api("POST", "/instances/gone-1/cancel", {})).body).toMatchObject({ state: "applied" });
    const served = await api("GET", "/tasks?participant=worker&wait=1");
    expect(served.body.task.id).toBe("kept-1/0.0/1");
    expect((await api("GET", "/tasks?participant=worker&wait=0")).status).toBe(204);
    // A reply from a worker that took it before the cancel is refused as for an answered task.
    const late = await api("POST", "/replies", {
      task: { id: "gone-1/0.0/1", instance: "gone-1", node: "0.0", participant: "worker", attempt: 1 },
      status: "done",
    });
    expect(late).toMatchObject({ status: 409, body: { error: { code: "TaskClosed" } } });
    await api("POST", "/instances/kept-1/cancel", {});
  });

  it("answers an operator command once the instance took it: commands in a row each apply in order", async () => {
    expect((await api("POST", "/instances", { process: "order", id: "ops-1" })).status).toBe(202);
    await until(async () => ((await api("GET", "/instances/ops-1")).status === 200 ? true : undefined));
    // No waiting in between: each answer comes once its command is applied, so the next one is
    // judged on the state the previous one left.
    for (const action of ["pause", "resume", "pause", "resume"])
      expect(await api("POST", `/instances/ops-1/${action}`, {})).toEqual({
        status: 202,
        body: { id: "ops-1", action, state: "applied" },
      });
    const refused = await api("POST", "/instances/ops-1/retry", {});
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toBe(
      "retry does not apply to instance ops-1: the instance has no incident",
    );
    expect((await api("POST", "/instances/ops-1/cancel", { reason: "done with it" })).body.state).toBe(
      "applied",
    );
    const canceled = await api("POST", "/instances/ops-1/resume", {});
    expect(canceled.body.error.message).toBe("resume does not apply to instance ops-1: it is canceled");
  });

  it("answers 'queued' for a command not applied within the wait; the history shows it applied later", async () => {
    const impatient = embeddedOperations(engine, { operatorWaitMs: 0 });
    await engine.launch({ process: "order", id: "ops-2" });
    await engine.idle();
    // A busy inbox: the command's first application fails on the machinery and is retried 50 ms
    // later (a command is otherwise applied in the commit that queues it).
    const apply = engine.runtime.apply.bind(engine.runtime);
    let failed = false;
    engine.runtime.apply = async (instance, message, delivery) => {
      if (failed || message.type !== "operator") return apply(instance, message, delivery);
      failed = true;
      throw new InfrastructureError("the disk is busy (a test's)");
    };
    try {
      expect(await impatient.operate("ops-2", "pause", {})).toEqual({
        id: "ops-2",
        action: "pause",
        state: "queued",
      });
      await until(async () => ((await engine.snapshot("ops-2"))?.paused ? true : undefined));
    } finally {
      engine.runtime.apply = apply;
    }
  });

  it("refuses a launch id that cannot name an instance in URLs, keys and SQS message groups", async () => {
    for (const id of ["a b", "a/b", "50%", "é", "-x", "x".repeat(81), "p~1"]) {
      const refused = await api("POST", "/instances", { process: "order", id });
      expect({ id, status: refused.status }).toEqual({ id, status: 400 });
      expect(refused.body.error.message).toMatch(/id: must be 1 to 80 letters, digits/);
    }
    expect((await api("POST", "/instances", { process: "order", id: "Order-2026.11:a@b_c" })).status).toBe(
      202,
    );
  });

  it("a repeated launch id starts nothing new", async () => {
    await api("POST", "/instances", { process: "order", id: "same" });
    await api("POST", "/instances", { process: "order", id: "same", fields: { n: 9 } });
    await engine.idle();
    expect((await api("GET", "/instances/same")).body.context).toEqual({ n: 0 });
    const tasks = engine.queues.openTasks().filter((t) => t.task.task.instance === "same");
    expect(tasks).toHaveLength(1);
  });

  it("refuses bad requests with a 4xx and the reason, changing nothing", async () => {
    const before = JSON.stringify((await api("GET", "/instances")).body);
    const cases: [string, string, unknown, number, RegExp][] = [
      ["POST", "/instances", {}, 400, /process is required/],
      ["POST", "/instances", { process: "nope" }, 404, /no process "nope" is registered/],
      ["POST", "/instances", { process: "order", fields: [1] }, 400, /fields must be a JSON object/],
      ["POST", "/instances", "{not json", 400, /the body is not JSON/],
      ["POST", "/instances", "[1]", 400, /must be a JSON object/],
      ["GET", "/instances?status=sleeping", undefined, 400, /status must be one of running/],
      ["GET", "/instances/ghost", undefined, 404, /no instance ghost/],
      ["POST", "/instances/ghost/pause", {}, 404, /no instance ghost/],
      // Operator commands that would change nothing: 409 with the interpreter's reason.
      [
        "POST",
        "/instances/same/retry",
        {},
        409,
        /retry does not apply to instance same: the instance has no incident/,
      ],
      ["POST", "/instances/same/resume", {}, 409, /the instance is not paused/],
      ["POST", "/instances/same/skip", { node: "0.9" }, 409, /no incident at node 0.9/],
      ["POST", "/instances/same/explode", {}, 404, /no operation "explode"/],
      ["POST", "/instances/same/skip", { fields: "x" }, 400, /fields must be a JSON object/],
      ["DELETE", "/instances/same", undefined, 409, /cancel it before deleting it/],
      ["POST", "/events", { key: "k" }, 400, /name is required/],
      ["GET", "/tasks", undefined, 400, /participant is required/],
      [
        "POST",
        "/replies",
        { process_id: "x", type: "response" },
        400,
        /unknown fields "process_id", "type"; known: docket, task, status, fields, error, details/,
      ],
      [
        "POST",
        "/replies",
        { task: { id: "a", node: "0.0", attempt: 1 }, status: "done" },
        400,
        /task.instance: must name the instance/,
      ],
      [
        "POST",
        "/replies",
        { task: { id: "ghost/0.0/1", instance: "ghost", node: "0.0", attempt: 1 }, status: "done" },
        404,
        /no instance ghost for the reply to task ghost\/0.0\/1/,
      ],
      [
        "POST",
        "/replies",
        { task: { id: "same/0.7/1", instance: "same", node: "0.7", attempt: 1 }, status: "done" },
        404,
        /instance same has no task same\/0.7\/1/,
      ],
      ["GET", "/instances?after=nope", undefined, 400, /after must be a listing's next cursor/],
      [
        "GET",
        "/instances/same/history?limit=0",
        undefined,
        400,
        /limit must be a whole number from 1 to 1000, got 0/,
      ],
      ["PUT", "/instances", {}, 405, /not part of the API/],
      ["GET", "/nowhere", undefined, 404, /not part of the API/],
    ];
    for (const [method, path, body, status, message] of cases) {
      const response = await api(method, path, body);
      expect({ path, status: response.status }).toEqual({ path, status });
      expect(response.body.error.message).toMatch(message);
    }
    const wrongType = await api("POST", "/instances", "x", { "content-type": "text/plain" });
    expect(wrongType.status).toBe(415);
    const huge = await api("POST", "/events", { name: "big", data: "x".repeat(1_100_000) });
    expect(huge.status).toBe(413);
    expect(JSON.stringify((await api("GET", "/instances")).body)).toBe(before);
  });
});

describe("listing instances", () => {
  it("pages newest first, each page's next cursor leading to the rest, none after the last", async () => {
    for (const id of ["page-a", "page-b", "page-c"])
      await api("POST", "/instances", { process: "order", id });
    const seen: string[] = [];
    let after = "";
    for (let pages = 0; pages < 10; pages++) {
      const page = await api(
        "GET",
        `/instances?limit=2${after ? `&after=${encodeURIComponent(after)}` : ""}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.instances.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.instances.map((r: { id: string }) => r.id));
      if (!page.body.next) break;
      after = page.body.next;
    }
    const all = (await api("GET", "/instances?limit=1000")).body;
    expect(all.next).toBeUndefined();
    expect(seen).toEqual(all.instances.map((r: { id: string }) => r.id));
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.indexOf("page-c")).toBeLessThan(seen.indexOf("page-a"));
  });
});

describe("the HTTP API with DOCKET_API_TOKEN", () => {
  it("answers only requests with the token (health excepted), and changes nothing for the others", async () => {
    const server = serveApi(engine, { token: "s3cret" });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const at = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const launch = (headers: Record<string, string>) =>
        fetch(`${at}/instances`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify({ process: "order", id: "guarded-1" }),
        });
      for (const authorization of [undefined, "Bearer wrong", "Bearer s3cret2", "s3cret"]) {
        const response = await launch(authorization ? { authorization } : {});
        expect(response.status).toBe(401);
        expect(await response.json()).toEqual({
          error: { code: "Unauthorized", message: "send the API token: Authorization: Bearer <token>" },
        });
      }
      expect(await engine.store.load("guarded-1")).toBeUndefined();
      expect((await fetch(`${at}/health`)).status).toBe(200);
      expect((await launch({ authorization: "Bearer s3cret" })).status).toBe(202);
    } finally {
      server.close();
    }
  });
});

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParticipantSpec } from "../../lib/embedded/config.js";
import { asReply, runParticipant, toWire, type WireTask } from "../../lib/embedded/participants.js";
import type { TaskCommand } from "../../lib/engine/types.js";

const command: TaskCommand = {
  type: "task",
  task: { id: "i/0.0/1", instance: "i", node: "0.0", participant: "p", attempt: 1 },
  fields: { amount: 5, order: "A-1", secret: "x" },
};
const task: WireTask = toWire(command, "local");

let url = "";
let last: unknown;
const server = createServer((request, response) => {
  let body = "";
  request.on("data", (d) => {
    body += d;
  });
  request.on("end", () => {
    last = JSON.parse(body);
    const path = request.url ?? "";
    if (path === "/ok")
      response
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ receipt: "R-1", extra: 1 }));
    else if (path === "/typed-bad") response.writeHead(200).end(JSON.stringify({ receipt: 7 }));
    else if (path === "/busy") response.writeHead(503).end("try later");
    else if (path === "/refuse") response.writeHead(400).end("bad order");
    else response.writeHead(200).end("not json");
  });
});
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
});

const http = (path: string, typed = false): ParticipantSpec => ({
  kind: "http",
  url: `${url}${path}`,
  timeoutMs: 5000,
  ...(typed ? { inputs: { amount: "number", order: "string" }, outputs: { receipt: "string" } } : {}),
});

describe("participant kinds", () => {
  it("a module's plain object is done with those fields; a reply object passes as is", () => {
    expect(asReply(task, { x: 1 })).toEqual({ task: command.task, status: "done", fields: { x: 1 } });
    expect(asReply(task, { status: "critical", error: { message: "no" } })).toMatchObject({
      status: "critical",
      error: { message: "no" },
    });
    expect(asReply(task, { status: "maybe" })).toMatchObject({
      status: "critical",
      error: { code: "BadReply" },
    });
    expect(asReply(task, 42)).toMatchObject({ status: "critical", error: { code: "BadReply" } });
    // A code that is not a text would be refused where replies come in, and the task never answered.
    expect(asReply(task, { status: "error", error: { code: 503, message: "down" } })).toEqual({
      task: command.task,
      status: "critical",
      error: { code: "BadReply", message: "error.code: must be a text, got 503" },
    });
  });

  it("a shell command gets the task on stdin and answers on stdout; a non-zero exit is an error reply", async () => {
    const echo = await runParticipant(
      {
        kind: "command",
        command: `node -e "process.stdin.on('data',d=>console.log(JSON.stringify({got:JSON.parse(d).fields.amount})))"`,
        timeoutMs: 5000,
      },
      task,
    );
    expect(echo).toEqual({ task: command.task, status: "done", fields: { got: 5 } });
    const failing = await runParticipant(
      { kind: "command", command: "echo out of paper >&2; exit 3", timeoutMs: 5000 },
      task,
    );
    expect(failing).toMatchObject({
      status: "error",
      error: { code: "CommandFailed", message: expect.stringMatching(/exit code 3: out of paper/) },
    });
    const slow = await runParticipant({ kind: "command", command: "sleep 5", timeoutMs: 100 }, task);
    expect(slow).toMatchObject({
      status: "error",
      error: { message: expect.stringMatching(/killed by SIGKILL after 100 ms/) },
    });
    const garbage = await runParticipant({ kind: "command", command: "echo hello", timeoutMs: 5000 }, task);
    expect(garbage).toMatchObject({ status: "critical", error: { code: "BadReply" } });
  });

  it("an HTTP service gets the task POSTed; its response is the reply", async () => {
    expect(await runParticipant(http("/ok"), task)).toEqual({
      task: command.task,
      status: "done",
      fields: { receipt: "R-1", extra: 1 },
    });
    expect(await runParticipant(http("/busy"), task)).toMatchObject({
      status: "error",
      error: { message: expect.stringMatching(/answered 503: try later/) },
    });
    expect(await runParticipant(http("/refuse"), task)).toMatchObject({
      status: "critical",
      error: { message: expect.stringMatching(/answered 400: bad order/) },
    });
    expect(await runParticipant(http("/garbage"), task)).toMatchObject({
      status: "critical",
      error: { code: "BadReply" },
    });
    expect(
      await runParticipant({ ...http("/ok"), url: "http://127.0.0.1:1/none" } as ParticipantSpec, task),
    ).toMatchObject({ status: "error", error: { code: "HttpFailed" } });
  });

  it("typed inputs and outputs filter and check the fields, as machinery's registered services", async () => {
    expect(await runParticipant(http("/ok", true), task)).toEqual({
      task: command.task,
      status: "done",
      fields: { receipt: "R-1" },
    });
    expect((last as WireTask).fields).toEqual({ amount: 5, order: "A-1" });
    expect(await runParticipant(http("/typed-bad", true), task)).toMatchObject({
      status: "critical",
      error: {
        code: "BadOutput",
        message: expect.stringMatching(/output "receipt" must be a string, got number/),
      },
    });
    const missing = toWire({ ...command, fields: { order: "A-1" } }, "local");
    expect(await runParticipant(http("/ok", true), missing)).toMatchObject({
      status: "critical",
      error: { code: "BadInput", message: expect.stringMatching(/input "amount" is missing/) },
    });
  });

  it("an external participant is left for a worker", async () => {
    expect(await runParticipant({ kind: "external" }, task)).toBeUndefined();
  });
});

import { spawn, spawnSync } from "node:child_process";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { operatorText } from "../../lib/cli/client.js";
import { changes, describeChange } from "../../lib/cli/watch.js";
import { type InstanceView, OPERATOR_ACTIONS } from "../../lib/runtime/operations.js";
import { runScenarioFile } from "../../lib/scenario/runner.js";
import { ended } from "../support/cli.js";

function docket(...args: string[]) {
  const result = spawnSync(process.execPath, ["bin/docket.js", ...args], { encoding: "utf8" });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

describe("scenario failures", () => {
  it("show the step, the expectation and what happened", async () => {
    expect((await runScenarioFile("test/fixtures/scenarios/failing.yaml")).failure).toBe(
      'step 2 (expect_task): task for "test2": a: expected 2, got 1; the task carries {"a":1}',
    );
  });
  it("say when a step cannot happen", async () => {
    expect((await runScenarioFile("test/fixtures/scenarios/impossible.yaml")).failure).toBe(
      'step 1 (reply): no open task for participant "nobody"; status running; open tasks: test1',
    );
  });
  it("name a malformed scenario's field", async () => {
    expect((await runScenarioFile("test/fixtures/scenarios/malformed.yaml")).failure).toMatch(
      /malformed\.yaml: steps\[0\]: unknown step "dance"; allowed: expect_task/,
    );
  });
  it("name a missing definition file", async () => {
    expect((await runScenarioFile("test/fixtures/scenarios/nope.yaml")).failure).toMatch(
      /cannot read .*nope\.yaml: no such file/,
    );
  });
});

describe("the docket command", () => {
  it("test: prints each result and 'N passed, N failed', exit 1 on a failure", () => {
    const run = docket(
      "test",
      "test/scenarios/bureaucrat/BC02-switch.yaml",
      "test/fixtures/scenarios/failing.yaml",
    );
    expect(run.out).toContain("✓ test/scenarios/bureaucrat/BC02-switch.yaml");
    expect(run.out).toContain("✗ test/fixtures/scenarios/failing.yaml");
    expect(run.out.trim().split("\n").pop()).toBe("1 passed, 1 failed");
    expect(run.code).toBe(1);
  });
  it("test: exit 0 when every scenario passes", () => {
    const run = docket("test", "test/scenarios/bureaucrat/BC07-delay.yaml");
    expect(run.out.trim().split("\n").pop()).toBe("1 passed, 0 failed");
    expect(run.code).toBe(0);
  });
  it("validate: every problem with file:line:col, exit 1 when invalid", () => {
    const run = docket("validate", "definitions", "test/fixtures/bureaucrat/BC18-readme-fault-switch.xml");
    expect(run.out).toContain("ok   definitions/order.yaml");
    expect(run.out).toContain(
      "FAIL test/fixtures/bureaucrat/BC18-readme-fault-switch.xml:6:56: </context> closes <condition>",
    );
    expect(run.code).toBe(1);
  });
  it("has a command for every operator action, and watch; each client command takes --url or --stack", () => {
    const help = docket("--help").out;
    for (const command of [
      ...OPERATOR_ACTIONS,
      "watch",
      "launch",
      "publish",
      "list",
      "show",
      "history",
      "delete",
    ])
      expect(help).toMatch(new RegExp(`^  ${command} `, "m"));
    const watch = docket("watch", "--help").out;
    for (const option of ["--url <url>", "--stack <name>", "--interval <seconds>", "--json"])
      expect(watch).toContain(option);
  });
  it("exit 2 on bad usage or a missing file", () => {
    expect(docket("frobnicate").code).toBe(2);
    expect(docket("validate", "no/such/file.xml").code).toBe(2);
  });
});

describe("docket watch's changes", () => {
  const view = (over: Partial<InstanceView>): InstanceView => ({
    id: "i",
    process: "p",
    version: "v",
    status: "running",
    paused: false,
    createdAt: 0,
    updatedAt: 0,
    steps: 1,
    context: {},
    active: [
      { node: "0", state: "seq" },
      { node: "0.0", state: "action", task: "i/0.0/1", attempt: 1, wait: "reply" },
    ],
    incidents: [],
    fault: null,
    parent: null,
    ...over,
  });
  const lines = (before: InstanceView | undefined, now: InstanceView) =>
    changes(before, now).map(describeChange);

  it("prints everything at first, then only what changed", () => {
    const first = view({});
    expect(lines(undefined, first)).toEqual(["status running", "task i/0.0/1 0.0 attempt 1 waiting reply"]);
    expect(lines(first, view({ updatedAt: 5, steps: 2, context: { a: 1 } }))).toEqual([]);
    const held = view({
      status: "suspended",
      paused: true,
      active: [{ node: "0.0", state: "action", task: "i/0.0/1", attempt: 1, wait: "held" }],
    });
    expect(lines(first, held)).toEqual([
      "status suspended (paused)",
      "task i/0.0/1 0.0 attempt 1 waiting held",
    ]);
  });

  it("each new incident once, and the fault", () => {
    const incident = {
      id: "i/e1",
      node: "0.0",
      task: "i/0.0/1",
      attempt: 1,
      error: { code: "Nope", message: "it broke" },
      at: 1,
    };
    const stuck = view({ status: "suspended", incidents: [incident] });
    expect(lines(view({}), stuck)).toEqual(["status suspended", "incident i/e1 at 0.0: Nope it broke"]);
    expect(lines(stuck, stuck)).toEqual([]);
    const faulted = view({
      status: "faulted",
      active: [],
      fault: { id: "f1", code: "Broken", message: "on purpose", node: "0.1" },
    });
    expect(lines(stuck, faulted)).toEqual([
      "status faulted",
      "fault Broken at 0.1 (error id f1): on purpose",
    ]);
  });
});

describe("operator commands' answers", () => {
  it("say whether the command was applied or is still queued (an API that does not say: queued)", () => {
    expect(operatorText("pause", "a-1", { state: "applied" })).toBe("pause: applied to a-1");
    expect(operatorText("cancel", "a-1", { state: "queued" })).toBe(
      "cancel: queued for a-1 (not applied yet)",
    );
    expect(operatorText("retry", "a-1", {})).toBe("retry: queued for a-1 (not applied yet)");
  });
});

/** A step of the stub API: an answer (status and JSON body), or "drop" to close the connection unanswered. */
type Scripted = { status: number; body: unknown } | "drop";

/**
 * Runs `docket watch <id>` against a stub API that plays `script` in turn, one step per poll (the
 * last step again once played through); resolves with the exit code, stdout and stderr.
 */
async function watchAgainst(id: string, script: Scripted[]) {
  let polls = 0;
  const server = createServer((request, response: ServerResponse) => {
    const step = script[Math.min(polls++, script.length - 1)];
    if (step === "drop" || step === undefined || request.url !== `/instances/${id}`) {
      request.socket.destroy();
      return;
    }
    response.writeHead(step.status, { "content-type": "application/json" }).end(JSON.stringify(step.body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const child = spawn(process.execPath, ["bin/docket.js", "watch", id, "--interval", "0.05", "--url", url]);
    return { ...(await ended(child)), polls, url };
  } finally {
    server.close();
  }
}

describe.concurrent("docket watch through the API's bad moments", () => {
  const instance = (status: string) => ({
    status: 200,
    body: { id: "w", status, paused: false, active: [], incidents: [], fault: null },
  });
  const failure = (status: number, code: string, message: string) => ({
    status,
    body: { error: { code, message } },
  });

  it("tries again after a 5xx, a lost connection and a 429, saying each error once, until the end", async () => {
    const busy = failure(503, "Unavailable", "the store is busy");
    const { code, out, err, polls, url } = await watchAgainst("w", [
      busy,
      busy,
      instance("running"),
      "drop",
      failure(429, "TooManyRequests", "slow down"),
      instance("completed"),
    ]);
    expect({ code, out, polls }).toEqual({ code: 0, out: "status running\nstatus completed\n", polls: 6 });
    const lines = err.trim().split("\n");
    expect(lines).toHaveLength(3);
    // The second 503 is not said again; the backoff starts over once an answer came.
    expect(lines[0]).toBe("docket: the store is busy (HTTP 503); retrying in 0.5s");
    expect(lines[1]).toMatch(new RegExp(`^docket: cannot reach docket at ${url} .*; retrying in 0\\.5s$`));
    expect(lines[2]).toBe("docket: slow down (HTTP 429); retrying in 1s");
  });

  it("gives up on a 4xx answer (exit 2), even after a transient error", async () => {
    const { code, out, err } = await watchAgainst("gone", [
      failure(502, "BadGateway", "upstream down"),
      failure(404, "NotFound", "no instance gone"),
    ]);
    expect({ code, out }).toEqual({ code: 2, out: "" });
    expect(err).toBe(
      "docket: upstream down (HTTP 502); retrying in 0.5s\ndocket: no instance gone (HTTP 404)\n",
    );
  });
});

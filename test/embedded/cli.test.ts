import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { CloudFormationClient, CreateStackCommand, DeleteStackCommand } from "@aws-sdk/client-cloudformation";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { emulatorConfig } from "../integration/emulator.js";
import { project, until } from "./helpers.js";

const BIN = `${process.cwd()}/bin/docket.js`;
const docket = (cwd: string, ...args: string[]) => {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8" });
  return { code: result.status, out: result.stdout, err: result.stderr };
};

/** A command left running (watch): its output so far, and its exit code when it ends. */
function started(cwd: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env });
  const run = { out: "", err: "", code: undefined as number | null | undefined };
  child.stdout.on("data", (d: Buffer) => {
    run.out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    run.err += d.toString();
  });
  const ended = new Promise<typeof run>((resolve) =>
    child.on("close", (code) => {
      run.code = code;
      resolve(run);
    }),
  );
  return { run, ended, child };
}

describe("docket run", () => {
  const { dir } = project({
    "definitions/greet.yaml":
      "context: { name: '' }\ndo:\n  - action: hello\n  - action: { participant: manual }\n",
    "definitions/fails.yaml": "do:\n  - action: hello\n  - fault: { code: Broken, message: on purpose }\n",
    "participants/hello.ts": 'export default async (task) => ({ greeting: "hello " + task.fields.name });',
    // Doubles its text until its state is over the 16 MB an instance may hold.
    "definitions/grows.yaml":
      "context: { s: x }\ndo:\n  - while:\n      condition: size(context.s) < 20000000\n      do: [ { assign: { property: s, value: context.s + context.s } } ]\n",
    "definitions/paid.yaml":
      "context: { oid: 42 }\ndo:\n  - await: { event: paid, key: context.oid, into: payment }\n",
  });

  it("runs to the end and prints a summary; exit 1 when it faults", () => {
    const run = docket(dir, "run", "definitions/fails.yaml", "--json");
    expect(run.code).toBe(1);
    expect(JSON.parse(run.out)).toMatchObject({
      status: "faulted",
      tasks: ["hello"],
      fault: { code: "Broken", message: "on purpose" },
    });
  });

  it("stops when it waits for an external worker; exit 3, saying for what", () => {
    const run = docket(dir, "run", "definitions/greet.yaml", "--fields", '{"name":"kim"}');
    expect(run.code).toBe(3);
    expect(run.out).toMatch(/: running\ntasks \(2\): hello, manual\nwaiting for: task manual/);
    expect(run.out).toContain('"greeting": "hello kim"');
  });

  it("publishes --publish events as POST /events takes them: a number key as text, the old engine's form, the data", () => {
    const payment = (event: string) =>
      JSON.parse(docket(dir, "run", "definitions/paid.yaml", "--publish", event, "--json").out).context
        .payment;
    expect(payment('{"name":"paid","key":42,"data":{"amount":50}}')).toEqual({ amount: 50 });
    expect(payment('{"event":"paid","key":"42","amount":7}')).toEqual({ amount: 7 });
    expect(payment('{"name":"paid","key":"42","id":"e1","amount":9}')).toEqual({ amount: 9 });
    const keyless = docket(dir, "run", "definitions/paid.yaml", "--publish", '{"name":"paid","key":[42]}');
    expect([keyless.code, keyless.err]).toEqual([
      2,
      expect.stringContaining("key: must be a string or a number"),
    ]);
  });

  it("says why an instance did not start, with the error's code; exit 2", () => {
    const run = docket(dir, "run", "definitions/grows.yaml");
    expect(run.code).toBe(2);
    expect(run.err).toMatch(
      /did not start: StateTooLarge: instance \S+'s state would be \d+ bytes; the limit is 16777216/,
    );
  });

  it("refuses bad arguments with the reason; exit 2", () => {
    expect(docket(dir, "run", "definitions/greet.yaml", "--fields", "{nope").err).toMatch(
      /--fields: not JSON/,
    );
    expect(docket(dir, "run", "definitions/greet.yaml", "--fields", "[1]").code).toBe(2);
    expect(docket(dir, "run", "no/such.yaml").code).toBe(2);
  });
});

describe("docket serve and the client commands", () => {
  let server: ChildProcess;
  let url: string;
  const { dir } = project(
    {
      "definitions/order.yaml": "do:\n  - action: worker\n",
      // An external participant (no module of that name) whose error reply is an incident at once.
      "definitions/manual.yaml": "do:\n  - action: { participant: manual, retry: 0 }\n",
      "definitions/breaks.yaml": "do:\n  - fault: { code: Broken, message: on purpose }\n",
    },
    "database: state/docket.sqlite\n",
  );
  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  /** Runs a client command without blocking this process (the server's idle sockets close in time). */
  const cli = async (...args: string[]) => {
    const { code, out, err } = await started(dir, args).ended;
    return { code, out, err };
  };
  /** Claims the external participant's next task, as a worker would. */
  const claim = async () => (await api("GET", "/tasks?participant=manual&wait=5")).body.task;

  beforeAll(async () => {
    // Port 0: a free port, which the server names (a random one could be in use, and the server
    // would exit while this waited for it).
    server = spawn(process.execPath, [BIN, "serve", "--port", "0"], {
      cwd: dir,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let said = "";
    url = await new Promise<string>((resolve, reject) => {
      server.stderr?.on("data", (d: Buffer) => {
        said += d.toString();
        const serving = /serving on (http:\/\/127\.0\.0\.1:[1-9]\d*)/.exec(said);
        if (serving) resolve(serving[1] as string);
      });
      server.on("exit", (code) => reject(new Error(`docket serve exited ${code}: ${said}`)));
    });
  });
  afterAll(() => {
    server.kill("SIGTERM");
  });

  it("launch, list, show, history, diagram, cancel, delete", async () => {
    const launched = await cli("launch", "order", "--id", "o-1", "--fields", '{"n":1}', "--url", url);
    expect(launched).toMatchObject({ code: 0, out: "o-1\n" });
    const [list, show, history, diagram] = await Promise.all([
      cli("list", "--url", url),
      cli("show", "o-1", "--url", url),
      cli("history", "o-1", "--url", url),
      cli("diagram", "x", "--instance", "o-1", "--url", url),
    ]);
    expect(list.out).toMatch(/^o-1 {2}order {2}running/m);
    expect(JSON.parse(show.out)).toMatchObject({
      id: "o-1",
      status: "running",
      context: { n: 1 },
      active: expect.arrayContaining([
        { node: "0.0", state: "action", task: "o-1/0.0/1", attempt: 1, wait: "reply" },
      ]),
    });
    expect(history.out).toMatch(/1 .* launch -> publish, task/);
    expect(diagram.out).toMatch(/class n0_0 waiting/);
    expect(await cli("delete", "o-1", "--url", url)).toMatchObject({
      code: 2,
      err: "docket: instance o-1 is running: cancel it before deleting it (HTTP 409)\n",
    });
    // The answer waits for the command to be applied: the instance is canceled by then.
    expect(await cli("cancel", "o-1", "--url", url)).toMatchObject({
      code: 0,
      out: "cancel: applied to o-1\n",
    });
    expect((await api("GET", "/instances/o-1")).body.status).toBe("canceled");
    expect(await cli("cancel", "o-1", "--url", url)).toMatchObject({
      code: 2,
      err: expect.stringMatching(
        /^docket: cancel does not apply to instance o-1: .*canceled.* \(HTTP 409\)$/m,
      ),
    });
    expect(await cli("delete", "o-1", "--url", url)).toMatchObject({ code: 0, out: "deleted o-1\n" });
  });

  it("list: a page at a time, printing the cursor of the next", async () => {
    for (const id of ["l-1", "l-2", "l-3"]) await api("POST", "/instances", { process: "order", id });
    const first = await cli("list", "--process", "order", "--limit", "2", "--url", url);
    expect(first.code).toBe(0);
    const lines = first.out.trim().split("\n");
    expect(lines).toHaveLength(3);
    const cursor = /^… more: --after (\S+)$/.exec(lines[2] ?? "")?.[1];
    expect(cursor).toBeDefined();
    const rest = await cli("list", "--process", "order", "--after", cursor ?? "", "--url", url);
    const ids = (out: string) => out.split("\n").flatMap((l) => /^(l-\d) {2}/.exec(l)?.[1] ?? []);
    expect([...ids(first.out), ...ids(rest.out)].sort()).toEqual(["l-1", "l-2", "l-3"]);
    expect(rest.out).not.toContain("more:");
    const json = JSON.parse((await cli("list", "--limit", "1", "--json", "--url", url)).out);
    expect(json).toMatchObject({ instances: [expect.objectContaining({ process: "order" })] });
    expect(json.next).toMatch(/^\d{15}#/);
  });

  it("an operator command says it was applied; one the instance refuses exits 2 with the reason", async () => {
    await api("POST", "/instances", { process: "order", id: "n-1" });
    const [retry, skip, resume] = await Promise.all([
      cli("retry", "n-1", "--url", url),
      cli("skip", "n-1", "--node", "0.7", "--url", url),
      cli("resume", "n-1", "--url", url),
    ]);
    expect(retry).toEqual({
      code: 2,
      out: "",
      err: "docket: retry does not apply to instance n-1: the instance has no incident (HTTP 409)\n",
    });
    expect(skip).toMatchObject({
      code: 2,
      err: "docket: skip does not apply to instance n-1: no incident at node 0.7 (HTTP 409)\n",
    });
    expect(resume).toMatchObject({
      code: 2,
      err: expect.stringContaining("the instance is not paused (HTTP 409)"),
    });
    const paused = await cli("pause", "n-1", "--json", "--url", url);
    expect({ code: paused.code, body: JSON.parse(paused.out) }).toEqual({
      code: 0,
      body: { id: "n-1", action: "pause", state: "applied" },
    });
    // Decided where it is applied: a resume right after the pause applies, a second one does not.
    expect(await cli("resume", "n-1", "--url", url)).toEqual({
      code: 0,
      out: "resume: applied to n-1\n",
      err: "",
    });
    expect(await cli("resume", "n-1", "--url", url)).toMatchObject({
      code: 2,
      err: "docket: resume does not apply to instance n-1: the instance is not paused (HTTP 409)\n",
    });
  });

  it("watch: a line per change, the task, its incident, the retry, exit 0 on completion", async () => {
    await api("POST", "/instances", { process: "manual", id: "w-1" });
    const watch = started(dir, ["watch", "w-1", "--interval", "0.1", "--url", url]);
    await until(() => watch.run.out.includes("task w-1/0.0/1 0.0 attempt 1 waiting reply"), 15_000);
    const task = await claim();
    const failed = { task, status: "error", error: { code: "Nope", message: "it broke" } };
    expect((await api("POST", "/replies", failed)).status).toBe(202);
    await until(() => watch.run.out.includes("incident"), 10_000);
    expect(await cli("retry", "w-1", "--url", url)).toMatchObject({
      code: 0,
      out: "retry: applied to w-1\n",
    });
    const retried = await claim();
    expect(retried.id).toBe("w-1/0.0/2");
    // Replied to only once watch has seen the new attempt, so no change falls between two polls.
    await until(() => watch.run.out.includes("task w-1/0.0/2"), 10_000);
    expect((await api("POST", "/replies", { task: retried, status: "done" })).status).toBe(202);
    const { code, out, err } = await watch.ended;
    expect({ code, err }).toEqual({ code: 0, err: "" });
    expect(out.split("\n").filter(Boolean)).toEqual([
      "status running",
      "task w-1/0.0/1 0.0 attempt 1 waiting reply",
      "status suspended",
      "task w-1/0.0/1 0.0 attempt 1 waiting incident",
      "incident w-1/e1 at 0.0: Nope it broke",
      "status running",
      "task w-1/0.0/2 0.0 attempt 2 waiting reply",
      "status completed",
    ]);
    // Done: an operator command has nothing left to act on.
    expect(await cli("cancel", "w-1", "--url", url)).toMatchObject({
      code: 2,
      err: expect.stringMatching(/cancel does not apply to instance w-1: .*completed.*\(HTTP 409\)/),
    });
  });

  it("watch --json: one JSON line per change; exit 1 when the instance faults, 2 for an unknown one", async () => {
    await api("POST", "/instances", { process: "breaks", id: "f-1" });
    const { code, out } = await started(dir, ["watch", "f-1", "--json", "--interval", "0.1", "--url", url])
      .ended;
    expect(code).toBe(1);
    const changes = out
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(changes).toEqual([
      { change: "status", status: "faulted", paused: false },
      { change: "fault", id: expect.any(String), node: "0.0", code: "Broken", message: "on purpose" },
    ]);
    expect(await cli("watch", "ghost", "--url", url)).toMatchObject({
      code: 2,
      err: "docket: no instance ghost (HTTP 404)\n",
    });
  });

  it("--stack: the API URL from the stack's ApiUrl output; a clear error naming a missing stack or output", async () => {
    const endpoint = inject("endpoint");
    const cloudformation = new CloudFormationClient(emulatorConfig(endpoint));
    const suffix = Math.random().toString(36).slice(2, 8);
    const template = (outputs: Record<string, unknown>) =>
      JSON.stringify({ Resources: { Queue: { Type: "AWS::SQS::Queue" } }, Outputs: outputs });
    const withApi = `docket-cli-${suffix}`;
    const without = `docket-cli-bare-${suffix}`;
    await cloudformation.send(
      new CreateStackCommand({ StackName: withApi, TemplateBody: template({ ApiUrl: { Value: url } }) }),
    );
    await cloudformation.send(
      new CreateStackCommand({ StackName: without, TemplateBody: template({ Other: { Value: "x" } }) }),
    );
    const env = {
      ...process.env,
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
    };
    try {
      await api("POST", "/instances", { process: "order", id: "s-1" });
      const show = (stack: string) => started(dir, ["show", "s-1", "--stack", stack], env).ended;
      const [listed, missing, bare] = await Promise.all([
        show(withApi),
        show(`nope-${suffix}`),
        show(without),
      ]);
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.out)).toMatchObject({ id: "s-1", status: "running" });
      expect(missing).toMatchObject({
        code: 2,
        err: expect.stringContaining(`docket: no stack nope-${suffix} in us-east-1`),
      });
      expect(bare).toMatchObject({
        code: 2,
        err: expect.stringContaining(`docket: stack ${without} has no output ApiUrl`),
      });
    } finally {
      await cloudformation.send(new DeleteStackCommand({ StackName: withApi }));
      await cloudformation.send(new DeleteStackCommand({ StackName: without }));
    }
  });

  it("names the problem when the server is not there or the instance does not exist", async () => {
    expect(await cli("show", "ghost", "--url", url)).toMatchObject({
      code: 2,
      err: expect.stringMatching(/no instance ghost \(HTTP 404\)/),
    });
    expect(await cli("list", "--url", "http://127.0.0.1:1")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/cannot reach docket at http:\/\/127.0.0.1:1/),
    });
  });

  it("refuses a port in use, naming it and its option; exit 2", async () => {
    const { port } = new URL(url);
    const inUse = `cannot listen on 127.0.0.1:${port} (--port): the port is in use`;
    // serve in a project of its own (its engine opened, then closed), console relaying to this one.
    const other = project({ "definitions/a.yaml": "do: [ { action: a } ]\n" }).dir;
    const serving = await started(other, ["serve", "--port", port]).ended;
    expect([serving.code, serving.err]).toEqual([2, expect.stringContaining(inUse)]);
    expect(await cli("console", "--url", url, "--port", port)).toMatchObject({
      code: 2,
      err: expect.stringContaining(inUse),
    });
  });

  it("stops on SIGTERM though a console's change stream is open", async () => {
    const stream = await fetch(`${url}/changes`);
    expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const exited = new Promise<number | null>((resolve) => server.once("exit", resolve));
    server.kill("SIGTERM");
    const code = await Promise.race([
      exited,
      new Promise((resolve) => setTimeout(() => resolve("still up"), 5000)),
    ]);
    expect(code).toBe(0);
  });
});

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { project } from "./helpers.js";

const BIN = `${process.cwd()}/bin/docket.js`;
const docket = (cwd: string, ...args: string[]) => {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8" });
  return { code: result.status, out: result.stdout, err: result.stderr };
};

describe("docket run", () => {
  const { dir } = project({
    "definitions/greet.yaml":
      "context: { name: '' }\ndo:\n  - action: hello\n  - action: { participant: manual }\n",
    "definitions/fails.yaml": "do:\n  - action: hello\n  - fault: { code: Broken, message: on purpose }\n",
    "participants/hello.ts": 'export default async (task) => ({ greeting: "hello " + task.fields.name });',
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
    { "definitions/order.yaml": "do:\n  - action: worker\n" },
    "database: state/docket.sqlite\n",
  );

  beforeAll(async () => {
    const port = String(20000 + Math.floor(Math.random() * 20000));
    url = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, [BIN, "serve", "--port", port], {
      cwd: dir,
      stdio: ["ignore", "ignore", "pipe"],
    });
    await new Promise<void>((resolve) =>
      server.stderr?.on("data", (d: Buffer) => d.toString().includes("serving on") && resolve()),
    );
  });
  afterAll(() => {
    server.kill("SIGTERM");
  });

  it("launch, list, show, history, diagram, cancel, delete", () => {
    const launched = docket(dir, "launch", "order", "--id", "o-1", "--fields", '{"n":1}', "--url", url);
    expect(launched).toMatchObject({ code: 0, out: "o-1\n" });
    expect(docket(dir, "list", "--url", url).out).toMatch(/^o-1 {2}order {2}running/m);
    expect(JSON.parse(docket(dir, "show", "o-1", "--url", url).out)).toMatchObject({
      id: "o-1",
      status: "running",
      context: { n: 1 },
    });
    expect(docket(dir, "history", "o-1", "--url", url).out).toMatch(/1 .* launch -> publish, task/);
    expect(docket(dir, "diagram", "x", "--instance", "o-1", "--url", url).out).toMatch(/class n0_0 active/);
    expect(docket(dir, "delete", "o-1", "--url", url)).toMatchObject({
      code: 2,
      err: expect.stringMatching(/cancel it before deleting it \(HTTP 409\)/),
    });
    expect(docket(dir, "cancel", "o-1", "--url", url).code).toBe(0);
    // The cancel is queued; poll until the server has applied it.
    let status = "";
    for (let i = 0; i < 20 && status !== "canceled"; i++) {
      status = JSON.parse(docket(dir, "show", "o-1", "--url", url).out).status;
      if (status !== "canceled") spawnSync("sleep", ["0.2"]);
    }
    expect(status).toBe("canceled");
    expect(docket(dir, "delete", "o-1", "--url", url).code).toBe(0);
  });

  it("names the problem when the server is not there or the instance does not exist", () => {
    expect(docket(dir, "show", "ghost", "--url", url)).toMatchObject({
      code: 2,
      err: expect.stringMatching(/no instance ghost \(HTTP 404\)/),
    });
    expect(docket(dir, "list", "--url", "http://127.0.0.1:1")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/cannot reach docket at http:\/\/127.0.0.1:1/),
    });
  });
});

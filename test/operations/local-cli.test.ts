/**
 * The whole CLI against the emulator, as a user runs it: `docket local` creates the resources,
 * runs the handlers and serves the operations API; the client commands (launch, watch, publish,
 * list, show, history, cancel) talk to that API with the same output and exit codes as against
 * `docket serve`, and `docket local` logs each instance's lifecycle.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { project, until } from "../embedded/helpers.js";

const BIN = `${process.cwd()}/bin/docket.js`;
const env = {
  ...process.env,
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "test",
  AWS_SECRET_ACCESS_KEY: "test",
  DOCKET_API_TOKEN: "",
};

const { dir } = project(
  {
    "definitions/waits.yaml":
      "context: { ref: '' }\ndo:\n  - await: { event: go, key: context.ref, into: got }\n",
    "definitions/approval.yaml": "do: [ { action: approve } ]\n",
  },
  "definitions: definitions\nparticipants:\n  approve: { external: true }\n",
);

const PREFIX = `lc${Date.now().toString(36)}`;
let local: ChildProcess;
let logs = "";
let url = "";

function docket(...args: string[]) {
  const result = spawnSync(process.execPath, [BIN, ...args, "--url", url], {
    cwd: dir,
    encoding: "utf8",
    env,
  });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

beforeAll(async () => {
  const outputs = join(dir, "outputs.json");
  local = spawn(
    process.execPath,
    [
      BIN,
      "local",
      "--endpoint",
      inject("endpoint"),
      "--outputs",
      outputs,
      "--api-port",
      "0",
      "--prefix",
      PREFIX,
    ],
    { cwd: dir, env },
  );
  local.stderr?.on("data", (d: Buffer) => {
    logs += d.toString();
  });
  url = await until(
    () => (existsSync(outputs) ? JSON.parse(readFileSync(outputs, "utf8")).api : undefined),
    90_000,
  );
  // The definitions reach the engine as a user's would: uploaded to the bucket, registered by its event.
  await until(async () => {
    const listed = docket("list", "--json");
    const definitions = (await fetch(`${url}/definitions`).then((r) => r.json())) as { processes: unknown[] };
    return listed.code === 0 && definitions.processes.length === 2 ? true : undefined;
  }, 60_000);
}, 150_000);

afterAll(async () => {
  if (!local || local.exitCode !== null) return;
  const ended = new Promise((resolve) => local.once("close", resolve));
  local.kill("SIGINT");
  await ended;
});

describe("the CLI against docket local (emulator)", () => {
  it("launches, watches to the end, lists, shows, pages history, and refuses what cannot apply", async () => {
    expect(docket("launch", "waits", "--id", "w-1", "--fields", '{"ref":"r-1"}')).toMatchObject({
      code: 0,
      out: "w-1\n",
    });
    const watch = spawn(process.execPath, [BIN, "watch", "w-1", "--url", url, "--interval", "0.5"], {
      cwd: dir,
      env,
    });
    let watched = "";
    watch.stdout.on("data", (d: Buffer) => {
      watched += d.toString();
    });
    const watchEnded = new Promise<number | null>((resolve) => watch.on("close", resolve));
    await until(() => (watched.includes("status running") ? true : undefined), 30_000);

    expect(docket("publish", "go", "--key", "r-1", "--data", '{"ok":true}').code).toBe(0);
    expect(await watchEnded).toBe(0);
    expect(watched).toMatch(/status running[\s\S]*status completed/);

    const shown = JSON.parse(docket("show", "w-1").out);
    expect(shown).toMatchObject({
      id: "w-1",
      status: "completed",
      context: { ref: "r-1", got: { ok: true } },
    });
    expect(docket("list", "--status", "completed").out).toMatch(/^w-1 {2}waits {2}completed/m);
    const history = docket("history", "w-1").out;
    expect(history).toMatch(/^ +1 .* launch ->/m);
    expect(history).toMatch(/^ +2 .* event ->/m);

    // Answers say what happened: a command that cannot apply exits 2 with the reason.
    const cancel = docket("cancel", "w-1");
    expect(cancel.code).toBe(2);
    expect(cancel.err).toMatch(/cancel does not apply to instance w-1: .*completed.*\(HTTP 409\)/);
    expect(docket("show", "ghost").code).toBe(2);
    await until(() => (logs.includes("docket.instance.completed w-1") ? true : undefined), 10_000);
  }, 90_000);

  it("operates an instance waiting for a worker: pause, resume and cancel, each read back", async () => {
    expect(docket("launch", "approval", "--id", "a-1").code).toBe(0);
    await until(
      () => (JSON.parse(docket("show", "a-1").out || "{}").status === "running" ? true : undefined),
      30_000,
    );
    // Applied within the API's wait as a rule; on a loaded machine the command may still be queued.
    expect(docket("pause", "a-1").out).toMatch(
      /^pause: (applied to a-1|queued for a-1 \(not applied yet\))\n$/,
    );
    await until(() => (JSON.parse(docket("show", "a-1").out).paused ? true : undefined), 30_000);
    expect(docket("pause", "a-1")).toMatchObject({
      code: 2,
      err: "docket: pause does not apply to instance a-1: the instance is paused already (HTTP 409)\n",
    });
    expect(docket("resume", "a-1")).toMatchObject({ code: 0, out: expect.stringMatching(/^resume: /) });
    await until(() => (JSON.parse(docket("show", "a-1").out).paused === false ? true : undefined), 30_000);
    expect(docket("cancel", "a-1", "--reason", "not needed").code).toBe(0);
    await until(
      () => (JSON.parse(docket("show", "a-1").out).status === "canceled" ? true : undefined),
      30_000,
    );
    expect(docket("delete", "a-1").out).toBe("deleted a-1\n");
    expect(docket("show", "a-1").err).toMatch(/no instance a-1 \(HTTP 404\)/);
    await until(() => (logs.includes("docket.instance.canceled a-1") ? true : undefined), 10_000);
  }, 120_000);
});

import { spawn } from "node:child_process";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ended } from "../support/cli.js";
import { userProject } from "./user-project.js";

const BIN = `${process.cwd()}/bin/docket.js`;

/** Runs the real CLI (bin/docket.js) in `cwd`, without blocking this process, so runs can overlap. */
function docket(cwd: string, ...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return ended(spawn(process.execPath, [BIN, ...args], { cwd }));
}

const modules = {
  "definitions/flow.yaml": "do:\n  - action: typed\n  - action: imports\n",
  "participants/typed.ts":
    "export default async (task: { fields: { n: number } }): Promise<{ a: number }> => ({ a: task.fields.n + 1 });\n",
  "participants/imports.ts":
    'import { twice } from "./lib/twice";\nexport default async (task: { fields: { n: number } }) => ({ b: twice(task.fields.n) });\n',
  "participants/lib/twice.ts": "export const twice = (n: number): number => n * 2;\n",
};

type Run = Awaited<ReturnType<typeof docket>>;

const pay = `context: { order_id: "" }
do:
  - all:
      - await: { event: payment.received, key: context.order_id, timeout: PT1H }
      - delay: PT2H
      - action: { participant: manual, timeout: PT5M }
      - action: { participant: flaky, retry: 3, backoff: PT10M }
      - call: child
`;

/** Each test's CLI runs, started together (a CLI run takes seconds to start) and awaited by the test. */
function startRuns() {
  const commonjs = userProject("commonjs", {
    ...modules,
    "definitions/flow.yaml": "do:\n  - action: typed\n  - action: imports\n  - action: plain\n",
    "participants/plain.js": "module.exports = async (task) => ({ c: task.fields.n * 10 });\n",
  });
  const untyped = userProject(undefined, modules);
  const paths = userProject("module", {
    "definitions/flow.yaml": "do:\n  - action: typed\n  - action: shell\n",
    "participants/typed.ts": modules["participants/typed.ts"],
    "reply.json": '{ "from_shell": true }\n',
    // The command runs in the config's folder, where reply.json is.
    "docket.config.yaml": 'participants:\n  shell: { command: "cat reply.json" }\n',
    "work/fields.json": '{ "n": 5 }\n',
  });
  const waiting = userProject("module", {
    "definitions/pay.yaml": pay,
    "definitions/child.yaml": "do:\n  - action: worker\n",
    "participants/flaky.ts": 'export default async () => {\n  throw new Error("down");\n};\n',
  });
  const flow = ["run", "definitions/flow.yaml", "--fields", '{"n":2}', "--json"];
  const payArgs = ["run", "definitions/pay.yaml", "--fields", '{"order_id":"42"}'];
  return {
    modules: Promise.all([docket(commonjs, ...flow), docket(untyped, ...flow)]),
    paths: docket(
      join(paths, "work"),
      ...["run", "../definitions/flow.yaml", "--config", "../docket.config.yaml", "--fields", "@fields.json"],
      "--json",
    ),
    waiting: Promise.all([docket(waiting, ...payArgs), docket(waiting, ...payArgs, "--json")]),
  };
}

describe("docket run in a user's own project", () => {
  let runs: ReturnType<typeof startRuns>;
  beforeAll(() => {
    runs = startRuns();
  });

  it("loads .ts and CommonJS participant modules whatever the project's package type", async () => {
    const [commonjs, untyped]: Run[] = await runs.modules;
    expect([commonjs, untyped].map((r) => ({ code: r?.code, err: r?.err }))).toEqual([
      { code: 0, err: "" },
      { code: 0, err: "" },
    ]);
    expect(JSON.parse(commonjs?.out ?? "")).toMatchObject({
      status: "completed",
      context: { a: 3, b: 4, c: 20 },
    });
    expect(JSON.parse(untyped?.out ?? "")).toMatchObject({ status: "completed", context: { a: 3, b: 4 } });
  });

  it("resolves arguments from the current folder, and the config's paths from the config's folder", async () => {
    const run = await runs.paths;
    expect({ code: run.code, err: run.err }).toEqual({ code: 0, err: "" });
    expect(JSON.parse(run.out)).toMatchObject({
      status: "completed",
      context: { n: 5, a: 6, from_shell: true },
    });
  });

  it("says what a process still waits for: the event and key, each timer's due time, the task, the subprocess", async () => {
    const [text, json] = await runs.waiting;
    expect([text.code, json.code]).toEqual([3, 3]);
    const iso = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/.source;
    const id = /[\w-]+/.source;
    expect(text.out).toMatch(
      new RegExp(
        [
          `waiting for: event payment.received key "42" at 0.0.0, times out ${iso}`,
          `waiting for: timer at 0.0.1 due ${iso}`,
          `waiting for: task manual \\(${id}/0.0.2/1\\) at 0.0.2, times out ${iso}`,
          `waiting for: retry of flaky at 0.0.3 due ${iso}`,
          `waiting for: subprocess ${id}~\\d+ \\(child\\) at 0.0.4`,
        ].join("\n"),
      ),
    );
    const { instance, waiting } = JSON.parse(json.out);
    expect(waiting).toEqual([
      { kind: "event", node: "0.0.0", event: "payment.received", key: "42", timeout: expect.any(String) },
      { kind: "timer", node: "0.0.1", due: expect.any(String) },
      {
        kind: "task",
        node: "0.0.2",
        participant: "manual",
        task: `${instance}/0.0.2/1`,
        timeout: expect.any(String),
      },
      { kind: "timer", node: "0.0.3", due: expect.any(String), participant: "flaky" },
      {
        kind: "subprocess",
        node: "0.0.4",
        instance: expect.stringMatching(`^${instance}~`),
        process: "child",
      },
    ]);
    // The delay (two hours) is due at least an hour after the await's timeout (one hour).
    expect(Date.parse(waiting[1].due) - Date.parse(waiting[0].timeout)).toBeGreaterThanOrEqual(3_600_000);
  });
});

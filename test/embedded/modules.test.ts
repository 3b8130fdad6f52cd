import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/embedded/config.js";
import { rootContext } from "../../lib/engine/index.js";
import { open } from "./helpers.js";
import { userProject } from "./user-project.js";

/** Runs the definition in `definitions/flow.yaml` with `{ n: 2 }` on the embedded engine. */
async function run(dir: string) {
  const engine = await open({ ...loadConfig(undefined, dir), database: ":memory:" });
  try {
    const id = await engine.launch({ process: "flow", fields: { n: 2 } });
    const snapshot = await engine.settleInstance(id);
    if (!snapshot) throw new Error("no instance");
    return { status: snapshot.status, context: rootContext(snapshot), incidents: snapshot.incidents };
  } finally {
    await engine.close();
  }
}

const flow = (...participants: string[]) => `do:\n${participants.map((p) => `  - action: ${p}\n`).join("")}`;

const typed =
  "export default async (task: { fields: { n: number } }): Promise<{ a: number }> => ({ a: task.fields.n + 1 });\n";

describe("participant modules in a user's own project", () => {
  it.each(["commonjs", "module", undefined] as const)(
    "type %s: a .ts module, and a .ts module importing a local .ts file",
    async (type) => {
      const dir = userProject(type, {
        "definitions/flow.yaml": flow("typed", "imports"),
        "participants/typed.ts": typed,
        "participants/imports.ts":
          'import { twice } from "./lib/twice";\nexport const handler = async (task: { fields: { n: number } }) => ({ b: twice(task.fields.n) });\n',
        "participants/lib/twice.ts": "export const twice = (n: number): number => n * 2;\n",
      });
      expect(await run(dir)).toMatchObject({ status: "completed", context: { n: 2, a: 3, b: 4 } });
    },
  );

  it("a CommonJS .js module (module.exports) in a commonjs project, and a module named in the config", async () => {
    const dir = userProject("commonjs", {
      "definitions/flow.yaml": flow("plain", "configured"),
      "participants/plain.js": "module.exports = async (task) => ({ c: task.fields.n * 10 });\n",
      "src/configured.mts": "export default async () => ({ d: true });\n",
      "docket.config.yaml": "participants:\n  configured: { module: src/configured.mts }\n",
    });
    expect(await run(dir)).toMatchObject({ status: "completed", context: { c: 20, d: true } });
  });

  it("a module throwing a CriticalError (of any copy of docket/worker: by its name) faults the action", async () => {
    const dir = userProject("module", {
      "definitions/flow.yaml": flow("strict"),
      "participants/strict.js": [
        'class CriticalError extends Error { constructor(code, message) { super(message); this.name = "CriticalError"; this.code = code; } }',
        'export default async () => { throw new CriticalError("OverBudget", "no budget"); };',
        "",
      ].join("\n"),
    });
    const engine = await open({ ...loadConfig(undefined, dir), database: ":memory:" });
    try {
      const snapshot = await engine.settleInstance(
        await engine.launch({ process: "flow", fields: { n: 2 } }),
      );
      expect([snapshot?.status, snapshot?.fault?.code, snapshot?.fault?.message]).toEqual([
        "faulted",
        "OverBudget",
        "no budget",
      ]);
    } finally {
      await engine.close();
    }
  });

  it("an ES module .js in a type: module project", async () => {
    const dir = userProject("module", {
      "definitions/flow.yaml": flow("esm"),
      "participants/esm.js": "export default async (task) => ({ e: task.fields.n - 1 });\n",
    });
    expect(await run(dir)).toMatchObject({ status: "completed", context: { e: 1 } });
  });

  it("a module that does not load is an incident naming the file and the cause; a retry loads it again", async () => {
    const dir = userProject("commonjs", {
      "definitions/flow.yaml": flow("broken"),
      "participants/broken.ts": "export default async (task) => ({ oops: \n",
    });
    const engine = await open({ ...loadConfig(undefined, dir), database: ":memory:" });
    try {
      const id = await engine.launch({ process: "flow" });
      const failed = await engine.settleInstance(id);
      expect(failed?.status).toBe("suspended");
      const error = failed?.incidents[0]?.error;
      expect(error).toMatchObject({
        code: "ModuleLoadFailed",
        message: expect.stringContaining(
          `cannot load participant module ${join(dir, "participants/broken.ts")}:`,
        ),
      });
      expect(error?.message).toMatch(/Unexpected end of file|Expected/);
      writeFileSync(join(dir, "participants/broken.ts"), "export default async () => ({ fixed: true });\n");
      await engine.operate(id, "retry");
      const fixed = await engine.settleInstance(id);
      expect(fixed && { status: fixed.status, context: rootContext(fixed) }).toEqual({
        status: "completed",
        context: { fixed: true },
      });
    } finally {
      await engine.close();
    }
  });
});

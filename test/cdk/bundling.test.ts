/**
 * `cdk synth` from a user's own project folder, as `cdk synth` runs it (the functions bundled by
 * esbuild): a fresh folder with no lock file, docket's app given by absolute path. NodejsFunction
 * looks for a lock file from the working directory unless told where docket's package is.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const folder = mkdtempSync(join(tmpdir(), "docket-user-project-"));

afterAll(() => rmSync(folder, { recursive: true, force: true }));

it("synthesizes and bundles every function from a folder without a lock file", () => {
  expect(readdirSync(folder)).toEqual([]);
  const out = join(folder, "cdk.out");
  const run = spawnSync(
    join(root, "node_modules/.bin/cdk"),
    ["synth", "--app", `${join(root, "node_modules/.bin/tsx")} ${join(root, "cdk/app.ts")}`, "--output", out],
    { cwd: folder, encoding: "utf8", env: { ...process.env, CDK_DISABLE_VERSION_CHECK: "1" } },
  );
  expect({ status: run.status, stderr: run.status ? run.stderr : "" }).toEqual({ status: 0, stderr: "" });
  type Resource = {
    Type: string;
    Metadata?: Record<string, string>;
    Properties?: { Environment?: { Variables?: Record<string, unknown> } };
  };
  const template = JSON.parse(readFileSync(join(out, "Docket.template.json"), "utf8")) as {
    Resources: Record<string, Resource>;
  };
  // docket's own functions (CDK's helpers, in Python, are not bundled by esbuild).
  const functions = Object.values(template.Resources).filter(
    (r) => r.Type === "AWS::Lambda::Function" && r.Properties?.Environment?.Variables?.DOCKET_FUNCTION,
  );
  // advance, ingest, register, timer-relay, sweep and api (the invoke function comes with targets).
  expect(functions.length).toBe(6);
  for (const fn of functions) {
    const asset = join(out, fn.Metadata?.["aws:asset:path"] as string);
    expect({
      asset,
      bundled: existsSync(join(asset, "index.js")) || existsSync(join(asset, "index.mjs")),
    }).toEqual({
      asset,
      bundled: true,
    });
  }
}, 300_000);

it("synthesizes the template `docket local` provisions from, from that folder too", () => {
  const synth = new URL("../../cdk/synth.ts", import.meta.url).href;
  const script = `import(${JSON.stringify(synth)}).then(({ synthesizeEngineTemplate }) => {
  const template = synthesizeEngineTemplate({ participants: ["approve"] });
  console.log(Object.keys(template.Resources).length);
});`;
  const run = spawnSync(join(root, "node_modules/.bin/tsx"), ["--eval", script], {
    cwd: folder,
    encoding: "utf8",
  });
  expect({ status: run.status, stderr: run.status ? run.stderr : "" }).toEqual({ status: 0, stderr: "" });
  expect(Number(run.stdout.trim())).toBeGreaterThan(50);
}, 120_000);

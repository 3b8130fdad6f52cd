import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runScenarioFile } from "../../lib/scenario/runner.js";

// Every scenario file in the project runs here as one test (the conformance table and the examples).
const roots = ["test/scenarios"];
const files = roots.flatMap((root) =>
  readdirSync(root, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".yaml"))
    .map((file) => join(root, file))
    .sort(),
);

describe("scenario files", () => {
  it("finds the scenarios", () => {
    expect(files.length).toBeGreaterThanOrEqual(27);
  });
  it.each(files)("%s", async (file) => {
    const outcome = await runScenarioFile(file);
    expect(outcome.failure).toBeUndefined();
    expect(outcome.passed).toBe(true);
  });
});

import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { runScenarioFile } from "../../lib/scenario/runner.js";

function docket(...args: string[]) {
  const result = spawnSync(process.execPath, ["bin/docket.js", ...args], { encoding: "utf8" });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

describe("scenario failures", () => {
  it("show the step, the expectation and what happened", () => {
    expect(runScenarioFile("test/fixtures/scenarios/failing.yaml").failure).toBe(
      'step 2 (expect_task): task for "test2": a: expected 2, got 1; the task carries {"a":1}',
    );
  });
  it("say when a step cannot happen", () => {
    expect(runScenarioFile("test/fixtures/scenarios/impossible.yaml").failure).toBe(
      'step 1 (reply): no open task for participant "nobody"; status running; open tasks: test1',
    );
  });
  it("name a malformed scenario's field", () => {
    expect(runScenarioFile("test/fixtures/scenarios/malformed.yaml").failure).toMatch(
      /malformed\.yaml: steps\[0\]: unknown step "dance"; allowed: expect_task/,
    );
  });
  it("name a missing definition file", () => {
    expect(runScenarioFile("test/fixtures/scenarios/nope.yaml").failure).toMatch(
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
  it("exit 2 on bad usage or a missing file", () => {
    expect(docket("frobnicate").code).toBe(2);
    expect(docket("validate", "no/such/file.xml").code).toBe(2);
  });
});

/**
 * Scenario files (docket test) refused with the field at fault, and held to the hosts' limits: a
 * state over 16 MB and a reply over 1 MB fail the scenario as the hosts would refuse them.
 */
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../lib/scenario/format.js";
import { runScenario, runScenarioFile } from "../../lib/scenario/runner.js";

const parsed = (text: string) => () => parseScenario(text, "s.yaml");
const withStep = (step: string) => parsed(`definition: d.yaml\nsteps:\n  - ${step}\n`);

describe("a scenario file", () => {
  it.each([
    [
      "expect_task: { participant: a, feilds: { n: 1 } }",
      'steps[0].expect_task: unknown key "feilds"; allowed: participant, fields',
    ],
    [
      "reply: { participant: a, status: donee }",
      'steps[0].reply.status must be one of done, critical, error, heartbeat, got "donee"',
    ],
    ["reply: { participant: a, status: done, fields: 5 }", "steps[0].reply.fields must be a map"],
    [
      "reply: { participant: a, status: error, error: { code: 5 } }",
      "steps[0].reply.error.code: must be a text, got 5",
    ],
    [
      "reply: { participant: a, status: done, field_files: { a: 5 } }",
      "steps[0].reply.field_files must map field names to file paths",
    ],
    ["publish: { event: e, key: [1] }", "steps[0].publish.key must be a text or a number, got [1]"],
    ["cancel: { reason: x }", 'steps[0].cancel: unknown key "reason"; allowed: none'],
    ["skip: { fields: {} }", "steps[0].skip needs participant: <name>"],
    ["expect_context: 5", "steps[0].expect_context must be a map"],
  ])("refuses the step %s naming the field", (step, message) => {
    expect(withStep(step)).toThrow(`s.yaml: ${message}`);
  });

  it.each([
    ["expect: { tasks: a }", "expect.tasks must be a list of participants"],
    ["field_files: { a: 5 }", "field_files must map field names to file paths"],
    ["definitions: x.yaml", "definitions must be a list of paths"],
  ])("refuses %s naming the field", (line, message) => {
    expect(parsed(`definition: d.yaml\n${line}\n`)).toThrow(`s.yaml: ${message}`);
  });
});

describe("a scenario held to the hosts' limits", () => {
  it("fails when the instance's state would pass 16 MB, as the hosts set the message aside", async () => {
    const outcome = await runScenarioFile("test/fixtures/scenarios/limits/grows.scenario.yaml");
    expect(outcome.failure).toMatch(
      /could not be applied and was set aside: StateTooLarge: instance .*'s state would be \d+ bytes/,
    );
  });

  it("fails a reply over 1 MB, and checks one meant to be refused", async () => {
    const file = "test/fixtures/scenarios/limits/asks.scenario.yaml";
    const big = {
      definition: "asks.yaml",
      steps: [{ reply: { participant: "ask", status: "done", fields: { s: "x".repeat(1_100_000) } } }],
    };
    expect((await runScenario(big as never, file)).failure).toMatch(
      /^step 1 \(reply\): invalid message: fields: is \d+ bytes; the limit is 1048576 bytes/,
    );
    const refused = {
      definition: "asks.yaml",
      steps: [
        { reply: { participant: "ask", status: "bogus", refused: "status: must be one of" } },
        { expect_task: { participant: "ask" } },
      ],
    };
    expect((await runScenario(refused as never, file)).failure).toBeUndefined();
    const taken = {
      definition: "asks.yaml",
      steps: [{ reply: { participant: "ask", status: "done", refused: "status" } }],
    };
    expect((await runScenario(taken as never, file)).failure).toBe(
      'step 1 (reply): expected the reply to be refused with "status"; it was taken',
    );
  });
});

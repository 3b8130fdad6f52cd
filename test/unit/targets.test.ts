import { describe, expect, it } from "vitest";
import { executionName, executionReply, parseTarget } from "../../lib/aws/targets.js";
import type { WireTask } from "../../lib/runtime/wire.js";

const task: WireTask = {
  docket: 1,
  task: {
    id: "i-1/n/1#2",
    instance: "i-1",
    node: "n",
    participant: "ship",
    attempt: 2,
    reply_to: "q",
    reply_group: "i-1",
  },
  fields: { qty: 1 },
};
const ref = { id: "i-1/n/1#2", instance: "i-1", node: "n", participant: "ship", attempt: 2 };

describe("parseTarget", () => {
  it("reads each kind", () => {
    expect(parseTarget("a", "lambda:scorer")).toEqual({ kind: "lambda", function: "scorer" });
    expect(parseTarget("a", "lambda:arn:aws:lambda:eu-west-1:123456789012:function:f")).toMatchObject({
      kind: "lambda",
    });
    expect(parseTarget("a", "http:https://x.example/q")).toEqual({
      kind: "http",
      url: "https://x.example/q",
    });
    expect(parseTarget("a", "http://x.example/q")).toEqual({ kind: "http", url: "http://x.example/q" });
    const arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:ship";
    expect(parseTarget("a", `sfn:${arn}`)).toEqual({ kind: "sfn", stateMachine: arn });
  });

  it.each([
    ["sfn:ship", /participant p: target "sfn:ship" is not a state machine ARN/],
    ["lambda:", /does not name a Lambda function/],
    ["lambda:has space", /does not name a Lambda function/],
    ["ftp://x", /must be lambda:<function>, http:<url> or sfn:<state machine ARN>/],
    ["http:not a url", /must be lambda:/],
  ])("refuses %j with a message naming the participant", (spec, message) => {
    expect(() => parseTarget("p", spec)).toThrow(message);
  });

  it("reads an http service with its field contract, and refuses a bad one naming what is wrong", () => {
    const contract = {
      http: "https://x.example/q",
      inputs: { qty: "number" },
      outputs: { price: "number" },
    } as const;
    expect(parseTarget("p", contract)).toEqual({
      kind: "http",
      url: "https://x.example/q",
      inputs: { qty: "number" },
      outputs: { price: "number" },
    });
    const refused = (spec: unknown) => () => parseTarget("p", spec as never);
    expect(refused({ http: "ftp://x" })).toThrow(
      /participant p: target \{"http":"ftp:\/\/x"\} http: "ftp:\/\/x" is not an http\(s\) URL/,
    );
    expect(refused({ http: "https://x.example", inputs: { qty: "int" } })).toThrow(
      /inputs\.qty: "int" is not one of string, number, boolean, object, array/,
    );
    expect(refused({ http: "https://x.example", timeout: 5 })).toThrow(
      /unknown keys: timeout \(allowed: http, inputs, outputs\)/,
    );
    expect(refused({ lambda: "f" })).toThrow(
      /must be lambda:<function>, http:<url>, sfn:<state machine ARN> or \{ http, inputs\?, outputs\? \}/,
    );
  });
});

describe("executionReply", () => {
  const input = JSON.stringify(task);

  it("is nothing while the execution runs, or for an execution docket did not start", () => {
    expect(executionReply({ status: "RUNNING", input })).toBeUndefined();
    expect(executionReply({ status: "SUCCEEDED", input: '{"other":true}' })).toBeUndefined();
    expect(executionReply({ status: "SUCCEEDED", input: "not json" })).toBeUndefined();
  });

  it("answers done with the output's fields, or the output as a reply", () => {
    expect(executionReply({ status: "SUCCEEDED", input, output: '{"shipped":true}' })).toEqual({
      task: ref,
      status: "done",
      fields: { shipped: true },
    });
    expect(
      executionReply({
        status: "SUCCEEDED",
        input,
        output: '{"status":"critical","error":{"message":"no"}}',
      }),
    ).toEqual({
      task: ref,
      status: "critical",
      error: { message: "no" },
    });
  });

  it("answers error (retried per the action) when the execution fails, times out or is aborted", () => {
    expect(executionReply({ status: "FAILED", input, error: "States.TaskFailed", cause: "boom" })).toEqual({
      task: ref,
      status: "error",
      error: { code: "ExecutionFAILED", message: "States.TaskFailed: boom" },
    });
    expect(executionReply({ status: "TIMED_OUT", input })).toMatchObject({
      status: "error",
      error: { message: "the execution ended TIMED_OUT" },
    });
  });

  it("names executions after the task, within Step Functions' alphabet and length, one name per task", () => {
    expect(executionName(task.task)).toMatch(/^i-1_n_1_2-[0-9a-f]{16}$/);
    const long = `${"x".repeat(100)}/0.1/`;
    const [first, second] = [
      executionName({ ...task.task, id: `${long}1` }),
      executionName({ ...task.task, id: `${long}2` }),
    ];
    expect(first).toMatch(/^[A-Za-z0-9_-]{80}$/);
    // Two attempts of one node differ only at the end of a long id: their executions must not share a name.
    expect(first).not.toBe(second);
  });
});

/**
 * Participants the engine calls itself on AWS: `lambda:<function name or ARN>` (invoked, its result
 * is the reply), `http:<url>` (the task POSTed as JSON, the response is the reply) and
 * `sfn:<state machine ARN>` (an execution named after the task; the invoke handler polls it with
 * DescribeExecution until it ends, and its status-change event on the bus is a shortcut: both
 * become the same reply). The invoke handler runs them from their own queue, so a slow or failing
 * participant is retried by SQS and never holds up the inbox. Every call has a time limit, so a
 * participant that hangs fails its own task only (retried) and never the invoke function's batch.
 */
import { createHash } from "node:crypto";
import { InvokeCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import { DescribeExecutionCommand, type SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { EngineError, InfrastructureError } from "../errors.js";
import {
  contractedReply,
  contractedTask,
  type FieldTypes,
  fieldTypesProblem,
} from "../runtime/field-contract.js";
import { asReply, failure, taskRef, type WireReply, type WireTask } from "../runtime/wire.js";

export type Target =
  | { readonly kind: "lambda"; readonly function: string }
  | {
      readonly kind: "http";
      readonly url: string;
      readonly inputs?: FieldTypes;
      readonly outputs?: FieldTypes;
    }
  | { readonly kind: "sfn"; readonly stateMachine: string };

/**
 * A target as the construct's `targets` (and DOCKET_TARGETS) give it: `lambda:…`, `http:…` or
 * `sfn:…`, or an HTTP service with the field contract of docket.config.yaml's `http` participants.
 */
export type TargetSpec =
  | string
  | { readonly http: string; readonly inputs?: FieldTypes; readonly outputs?: FieldTypes };

/** Reads a target spec; names the participant and what is wrong when it cannot. */
export function parseTarget(participant: string, spec: TargetSpec): Target {
  if (typeof spec === "string") return parseTargetText(participant, spec);
  const bad = (why: string) =>
    new EngineError("Configuration", `participant ${participant}: target ${JSON.stringify(spec)} ${why}`);
  if (spec === null || typeof spec !== "object" || typeof spec.http !== "string")
    throw bad(
      "must be lambda:<function>, http:<url>, sfn:<state machine ARN> or { http, inputs?, outputs? }",
    );
  const unknown = Object.keys(spec).filter((key) => !["http", "inputs", "outputs"].includes(key));
  if (unknown.length) throw bad(`has unknown keys: ${unknown.join(", ")} (allowed: http, inputs, outputs)`);
  if (!/^https?:\/\/\S+$/.test(spec.http))
    throw bad(`http: ${JSON.stringify(spec.http)} is not an http(s) URL`);
  for (const side of ["inputs", "outputs"] as const) {
    const problem = spec[side] === undefined ? undefined : fieldTypesProblem(spec[side], side);
    if (problem) throw bad(problem);
  }
  return {
    kind: "http",
    url: spec.http,
    ...(spec.inputs ? { inputs: spec.inputs } : {}),
    ...(spec.outputs ? { outputs: spec.outputs } : {}),
  };
}

/** Reads `lambda:…`, `http:…` (or a bare http(s) URL) and `sfn:…`. */
function parseTargetText(participant: string, spec: string): Target {
  const bad = (why: string) =>
    new EngineError("Configuration", `participant ${participant}: target ${JSON.stringify(spec)} ${why}`);
  if (spec.startsWith("lambda:")) {
    const name = spec.slice("lambda:".length);
    if (!/^[A-Za-z0-9_:.$-]{1,170}$/.test(name)) throw bad("does not name a Lambda function");
    return { kind: "lambda", function: name };
  }
  if (spec.startsWith("sfn:")) {
    const arn = spec.slice("sfn:".length);
    if (!/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/.test(arn))
      throw bad("is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)");
    return { kind: "sfn", stateMachine: arn };
  }
  const url = spec.startsWith("http:") && !spec.startsWith("http://") ? spec.slice("http:".length) : spec;
  if (/^https?:\/\/[^\s]+$/.test(url)) return { kind: "http", url };
  throw bad("must be lambda:<function>, http:<url> or sfn:<state machine ARN>");
}

export interface TargetClients {
  readonly lambda: LambdaClient;
  readonly sfn: SFNClient;
  readonly fetch?: typeof fetch;
}

/**
 * An execution name is unique per state machine for 90 days: named after the task, a redelivered
 * start is a no-op. Names are at most 80 characters of [A-Za-z0-9_-], so the task id is kept
 * readable in part and made unique by its hash (two attempts of one node must never share a name).
 */
export const executionName = (task: WireTask["task"]) =>
  `${task.id.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 63)}-${createHash("sha256").update(task.id).digest("hex").slice(0, 16)}`;

/** How long one call to a target may take when the engine is not told (DOCKET_TARGET_TIMEOUT_S). */
export const DEFAULT_TARGET_TIMEOUT_MS = 60_000;

/** The ARN of the execution `executionName(task)` of a state machine (what StartExecution returns). */
export const executionArn = (stateMachine: string, task: WireTask["task"]) =>
  `${stateMachine.replace(":stateMachine:", ":execution:")}:${executionName(task)}`;

/** What calling a target gave: its reply, or an execution whose end will be the reply. */
export type TargetOutcome = { readonly reply: WireReply } | { readonly execution: string };

/**
 * Runs a task on its target, each call limited to `timeoutMs`. A participant's own failure is an
 * `error` reply (the action's retry policy applies); a failure to reach it, or no answer in time,
 * throws InfrastructureError, so SQS redelivers the task.
 */
export async function callTarget(
  clients: TargetClients,
  target: Target,
  task: WireTask,
  timeoutMs = DEFAULT_TARGET_TIMEOUT_MS,
): Promise<TargetOutcome> {
  const body = JSON.stringify(task);
  // The SDK's requestTimeout only warns unless the client was made to throw; an abort signal ends the call.
  const limit = () => ({ abortSignal: AbortSignal.timeout(timeoutMs) });
  if (target.kind === "lambda") {
    const result = await clients.lambda
      .send(
        new InvokeCommand({ FunctionName: target.function, Payload: new TextEncoder().encode(body) }),
        limit(),
      )
      .catch((error: Error) => {
        throw new InfrastructureError(`invoking ${target.function} for task ${task.task.id}`, {
          cause: error,
        });
      });
    const text = result.Payload ? new TextDecoder().decode(result.Payload) : "";
    if (result.FunctionError)
      return {
        reply: failure(taskRef(task), "error", "LambdaError", `${target.function}: ${text.slice(0, 500)}`),
      };
    return { reply: answerOf(task, text, target.function) };
  }
  if (target.kind === "http") {
    // Only the declared inputs leave the engine, and only the declared outputs come back into it.
    const sent = contractedTask(task, target.inputs, target.url);
    if ("reply" in sent) return { reply: sent.reply };
    const reply = await post(clients, target.url, sent.task, JSON.stringify(sent.task), timeoutMs);
    return { reply: contractedReply(reply, target.outputs, target.url) };
  }
  await clients.sfn
    .send(
      new StartExecutionCommand({
        stateMachineArn: target.stateMachine,
        name: executionName(task.task),
        input: body,
      }),
      limit(),
    )
    .catch((error: Error) => {
      // The same name and input again is not an error on AWS; a different input under that name is.
      if (error.name === "ExecutionAlreadyExists") return;
      throw new InfrastructureError(`starting ${target.stateMachine} for task ${task.task.id}`, {
        cause: error,
      });
    });
  return { execution: executionArn(target.stateMachine, task.task) };
}

/** POSTs the task; the response is the reply. 5xx, 429, no answer in time (body included): retried. */
async function post(
  clients: TargetClients,
  url: string,
  task: WireTask,
  body: string,
  timeoutMs: number,
): Promise<WireReply> {
  const unreachable = (error: Error) => {
    throw new InfrastructureError(`POSTing task ${task.task.id} to ${url}`, { cause: error });
  };
  // One signal for the response and its body: a server that answers headers and then stalls times out too.
  const signal = AbortSignal.timeout(timeoutMs);
  const response = await (clients.fetch ?? fetch)(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    signal,
  }).catch(unreachable);
  const text = await response.text().catch(unreachable);
  if (response.status >= 500 || response.status === 429)
    throw new InfrastructureError(`${url} answered ${response.status} for task ${task.task.id}`);
  if (!response.ok)
    return failure(
      taskRef(task),
      "critical",
      "HttpError",
      `${url} answered ${response.status}: ${text.slice(0, 300)}`,
    );
  return answerOf(task, text, url);
}

function answerOf(task: WireTask, text: string, from: string): WireReply {
  if (text.trim() === "") return asReply(task, undefined);
  try {
    return asReply(task, JSON.parse(text));
  } catch {
    return failure(
      taskRef(task),
      "critical",
      "BadReply",
      `${from} answered with text that is not JSON: ${text.slice(0, 80)}`,
    );
  }
}

/** The status-change event of a Step Functions execution, as EventBridge delivers it. */
export interface ExecutionStatusChange {
  readonly status?: string;
  readonly input?: string | null;
  readonly output?: string | null;
  readonly error?: string | null;
  readonly cause?: string | null;
  readonly name?: string;
}

/**
 * The reply an execution's end means; undefined while it runs, or when it was not started for a
 * task. The same for the status-change event and for DescribeExecution's answer (the same fields).
 */
export function executionReply(detail: ExecutionStatusChange): WireReply | undefined {
  if (!detail.status || detail.status === "RUNNING" || !detail.input) return undefined;
  let task: WireTask;
  try {
    task = JSON.parse(detail.input) as WireTask;
  } catch {
    return undefined;
  }
  if (task?.docket !== 1 || typeof task.task?.id !== "string") return undefined;
  if (detail.status === "SUCCEEDED") return answerOf(task, detail.output ?? "", `execution ${detail.name}`);
  const why = [detail.error, detail.cause].filter(Boolean).join(": ");
  return failure(
    taskRef(task),
    "error",
    `Execution${detail.status}`,
    why || `the execution ended ${detail.status}`,
  );
}

/** An execution as DescribeExecution finds it: still running, its reply, or not one docket started. */
export type ExecutionState = "running" | { readonly reply?: WireReply };

/** Asks Step Functions how an execution is (the poll that does not rely on its best-effort event). */
export async function describeExecution(
  sfn: SFNClient,
  arn: string,
  timeoutMs = DEFAULT_TARGET_TIMEOUT_MS,
): Promise<ExecutionState> {
  const execution = await sfn
    .send(new DescribeExecutionCommand({ executionArn: arn }), {
      abortSignal: AbortSignal.timeout(timeoutMs),
    })
    .catch((error: Error) => {
      // Kept 90 days after it ends: one that does not exist will not appear by asking again.
      if (error.name === "ExecutionDoesNotExist")
        throw new EngineError("UnknownExecution", `execution ${arn} does not exist`, { cause: error });
      throw new InfrastructureError(`describing execution ${arn}`, { cause: error });
    });
  if (execution.status === "RUNNING" || execution.status === "PENDING_REDRIVE") return "running";
  return { reply: executionReply(execution) };
}

/**
 * The wire format between the engine and participants, whichever carries it (SQS, HTTP, a local
 * module): a task as sent, and what a participant's answer becomes as a reply.
 */
import type { TaskCommand } from "../engine/types.js";
import type { Problem } from "../errors.js";
import type { Json, JsonObject } from "../language/model.js";

export interface WireTask {
  readonly docket: 1;
  readonly task: TaskCommand["task"] & { readonly reply_to: string; readonly reply_group: string };
  readonly fields: JsonObject;
}

export interface WireReply {
  readonly task: TaskCommand["task"];
  readonly status: "done" | "critical" | "error" | "heartbeat";
  readonly fields?: JsonObject;
  readonly error?: { readonly code?: string; readonly message?: string };
  /** A heartbeat's progress report. */
  readonly details?: Json;
}

export function toWire(task: TaskCommand, replyTo: string): WireTask {
  return {
    docket: 1,
    task: { ...task.task, reply_to: replyTo, reply_group: task.task.instance },
    fields: task.fields,
  };
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** A participant's answer: a reply (with `status`), or plain fields meaning done. */
/** The task as a reply names it (without the routing fields). */
export const taskRef = ({ task }: WireTask): WireReply["task"] => ({
  id: task.id,
  instance: task.instance,
  node: task.node,
  participant: task.participant,
  attempt: task.attempt,
});

/** The longest lease `docket serve` gives a task (GET /tasks?lease=, POST /tasks/{id}/lease), in seconds. */
export const MAX_TASK_LEASE_S = 3600;
/** SQS's longest visibility timeout, the longest a task on its queue stays leased: 12 hours, in seconds. */
export const MAX_SQS_VISIBILITY_S = 43_200;

/**
 * A reply's `error`: its code and message are texts when given. Checked where a reply comes in
 * (not in the interpreter, which replays stored steps as they were taken): an incident or a fault
 * keeps them as given, and the CLI, the console and the events show them as text.
 */
export function replyErrorProblems(error: unknown): Problem[] {
  if (error === null || typeof error !== "object") return [];
  const problems: Problem[] = [];
  for (const key of ["code", "message"] as const) {
    const value = (error as Record<string, unknown>)[key];
    if (value !== undefined && typeof value !== "string")
      problems.push({
        path: `error.${key}`,
        message: `must be a text, got ${JSON.stringify(value)?.slice(0, 80)}`,
      });
  }
  return problems;
}

export function asReply(task: WireTask, answer: unknown): WireReply {
  const ref = taskRef(task);
  if (isObject(answer) && typeof answer.status === "string") {
    const { status, fields, error } = answer as { status: string; fields?: unknown; error?: unknown };
    if (!["done", "critical", "error"].includes(status))
      return failure(
        ref,
        "critical",
        "BadReply",
        `status ${JSON.stringify(status)} is not done, critical or error`,
      );
    // A code or message that is not a text would be refused where replies come in: the service's fault.
    const [problem] = replyErrorProblems(error);
    if (problem) return failure(ref, "critical", "BadReply", `${problem.path}: ${problem.message}`);
    return {
      task: ref,
      status: status as WireReply["status"],
      ...(isObject(fields) ? { fields: fields as JsonObject } : {}),
      ...(isObject(error) ? { error: error as WireReply["error"] } : {}),
    };
  }
  if (answer === undefined || answer === null) return { task: ref, status: "done" };
  if (!isObject(answer))
    return failure(
      ref,
      "critical",
      "BadReply",
      `the participant answered ${JSON.stringify(answer)?.slice(0, 80)}, not an object`,
    );
  return { task: ref, status: "done", fields: answer as JsonObject };
}

export function failure(
  task: WireReply["task"],
  status: "error" | "critical",
  code: string,
  message: string,
): WireReply {
  return { task, status, error: { code, message } };
}

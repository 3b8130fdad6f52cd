/**
 * Shape checks for messages entering the interpreter. Everything outside the engine is untrusted:
 * a malformed message is rejected with a reason naming the field, and changes nothing.
 */
import type { Problem } from "../errors.js";
import type { Definition } from "../language/model.js";
import { indexDefinition, staticPath } from "../language/validate.js";
import { utf8Length } from "../language/xml.js";
import type { Message, ReplyMessage, Snapshot } from "./types.js";

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);
/** A reply's statuses (ReplyStatus). */
export const REPLY_STATUSES: readonly string[] = ["done", "critical", "error", "heartbeat"];
/** A heartbeat's details live in the snapshot until the reply: a progress note, not a payload. */
export const MAX_DETAILS_BYTES = 64 * 1024;
const ACTIONS = ["pause", "resume", "cancel", "retry", "skip", "fail"];
const CHILD_STATUSES = ["completed", "faulted", "canceled"];

type Check = (m: Record<string, unknown>, add: (path: string, message: string) => void) => void;

const str = (
  m: Record<string, unknown>,
  key: string,
  add: (p: string, s: string) => void,
  optional = false,
) => {
  if (m[key] === undefined && optional) return;
  if (typeof m[key] !== "string" || m[key] === "")
    add(key, `must be a non-empty string, got ${JSON.stringify(m[key]) ?? "nothing"}`);
};
const obj = (m: Record<string, unknown>, key: string, add: (p: string, s: string) => void) => {
  if (m[key] !== undefined && !isObject(m[key])) add(key, `must be an object, got ${JSON.stringify(m[key])}`);
};

const CHECKS: Record<Message["type"], Check> = {
  launch: (m, add) => {
    str(m, "instance", add);
    obj(m, "fields", add);
  },
  reply: (m, add) => {
    if (!isObject(m.task)) return add("task", "must be the task object the reply answers");
    str(m.task, "id", (p, s) => add(`task.${p}`, s));
    str(m.task, "node", (p, s) => add(`task.${p}`, s));
    if (!Number.isInteger(m.task.attempt) || (m.task.attempt as number) < 1)
      add("task.attempt", `must be a whole number from 1, got ${JSON.stringify(m.task.attempt)}`);
    if (!REPLY_STATUSES.includes(m.status as string))
      add("status", `must be one of ${REPLY_STATUSES.join(", ")}, got ${JSON.stringify(m.status)}`);
    obj(m, "fields", add);
    obj(m, "error", add);
    if (m.details !== undefined) {
      const bytes = utf8Length(JSON.stringify(m.details));
      if (bytes > MAX_DETAILS_BYTES)
        add(
          "details",
          `is ${bytes} bytes; a heartbeat's details are kept on the task, at most ${MAX_DETAILS_BYTES} bytes`,
        );
    }
  },
  timer: (m, add) => {
    str(m, "node", add);
    str(m, "timer", add);
  },
  event: (m, add) => {
    for (const key of ["node", "subscription", "id", "name"]) str(m, key, add);
    str(m, "key", add, true);
  },
  child: (m, add) => {
    for (const key of ["instance", "node", "child"]) str(m, key, add);
    if (!CHILD_STATUSES.includes(m.status as string))
      add("status", `must be one of ${CHILD_STATUSES.join(", ")}`);
    obj(m, "fields", add);
  },
  migrate: (m, add) => {
    str(m, "to", add);
    str(m, "from", add, true);
    obj(m, "map", add);
    if (isObject(m.map))
      for (const [key, value] of Object.entries(m.map))
        if (typeof value !== "string" || value === "") add(`map.${key}`, "must be a non-empty string");
    str(m, "id", add, true);
  },
  operator: (m, add) => {
    if (!ACTIONS.includes(m.action as string))
      add("action", `must be one of ${ACTIONS.join(", ")}, got ${JSON.stringify(m.action)}`);
    str(m, "node", add, true);
    obj(m, "fields", add);
    str(m, "id", add, true);
  },
};

/** True for a well-formed reply, checked without allocating: replies are the hot path. */
function isWellFormedReply(m: Record<string, unknown>): boolean {
  const task = m.task as Record<string, unknown> | undefined;
  return (
    isObject(task) &&
    typeof task.id === "string" &&
    task.id !== "" &&
    typeof task.node === "string" &&
    task.node !== "" &&
    Number.isInteger(task.attempt) &&
    (task.attempt as number) >= 1 &&
    (m.status === "done" || m.status === "critical" || m.status === "error" || m.status === "heartbeat") &&
    (m.fields === undefined || isObject(m.fields)) &&
    (m.error === undefined || isObject(m.error)) &&
    m.details === undefined
  );
}

// Shared by every well-formed reply, so frozen: a caller adding to it would poison them all.
const NO_PROBLEMS: readonly Problem[] = Object.freeze([]);

/** The problems of a message's shape; empty when it is well formed. */
export function checkMessage(message: unknown): readonly Problem[] {
  if (isObject(message) && message.type === "reply" && isWellFormedReply(message)) return NO_PROBLEMS;
  const problems: Problem[] = [];
  if (!isObject(message))
    return [{ message: `a message must be an object, got ${JSON.stringify(message)?.slice(0, 80)}` }];
  const check = CHECKS[message.type as Message["type"]];
  if (!check)
    return [
      {
        path: "type",
        message: `must be one of ${Object.keys(CHECKS).join(", ")}, got ${JSON.stringify(message.type)}`,
      },
    ];
  check(message, (path, text) => problems.push({ path, message: text }));
  return problems;
}

/**
 * Why `snapshot`'s instance never issued the task a reply names, or undefined when it may have (a
 * stale or duplicate reply to a task it did issue is the interpreter's to ignore, and note). An
 * instance's task ids are `<instance>/<node>/<attempt>`, its node the runtime path of one of the
 * definition's actions (a parallel foreach's branch adds `.b<k>`, which the node index drops, as
 * the interpreter does), and no attempt beyond the latest one it holds for that path. What cannot
 * be told from the snapshot (an earlier attempt of a finished action) counts as issued.
 */
export function unknownTask(
  definition: Definition,
  snapshot: Snapshot,
  task: ReplyMessage["task"],
): string | undefined {
  const expected = `${snapshot.id}/${task.node}/${task.attempt}`;
  if (task.id !== expected)
    return `instance ${snapshot.id} never issued task ${task.id}: a task of node ${task.node}, attempt ${task.attempt} is ${expected}`;
  const node = indexDefinition(definition).get(staticPath(task.node));
  if (node?.kind !== "action")
    return `instance ${snapshot.id} never issued task ${task.id}: process ${definition.name} has ${node ? `a ${node.kind}, not an action,` : "no node"} at ${task.node}`;
  const state = snapshot.nodes.find(([path]) => path === task.node)?.[1];
  const latest = Math.max(state?.k === "action" ? state.attempt : 0, snapshot.attempts[task.node] ?? 0);
  if (latest > 0 && task.attempt > latest)
    return `instance ${snapshot.id} never issued task ${task.id}: its latest attempt at ${task.node} is ${latest}`;
  return undefined;
}

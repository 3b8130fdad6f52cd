/** The scenario file format (DESIGN §5), read with a clear error for each malformed field. */
import { parse as parseYaml } from "yaml";
import { REPLY_STATUSES } from "../engine/check.js";
import { ScenarioError } from "../errors.js";
import { parseDuration } from "../language/duration.js";
import type { Json, JsonObject } from "../language/model.js";
import { replyErrorProblems } from "../runtime/wire.js";

export type Step =
  | { readonly expect_task: { readonly participant: string; readonly fields?: JsonObject } }
  | { readonly expect_no_task: { readonly participant?: string } }
  | {
      readonly reply: {
        readonly participant: string;
        readonly status: string;
        readonly fields?: JsonObject;
        readonly error?: { readonly code?: string; readonly message?: string };
        /** Reply fields read from files (text), relative to the scenario file. */
        readonly field_files?: Readonly<Record<string, string>>;
        /** Reply again to the participant's latest task, answered or not (a duplicate delivery). */
        readonly duplicate?: boolean;
        /** The reply must be refused (as malformed, naming the field), with a message containing this. */
        readonly refused?: string;
      };
    }
  | { readonly publish: { readonly event: string; readonly key?: string; readonly data?: Json } }
  | { readonly advance: string | number }
  | { readonly expect_status: string }
  | { readonly expect_note: string }
  | { readonly expect_context: JsonObject }
  | { readonly cancel: JsonObject }
  | { readonly pause: JsonObject }
  | { readonly resume: JsonObject }
  | { readonly retry: { readonly participant: string } }
  | { readonly skip: { readonly participant: string; readonly fields?: JsonObject } }
  | { readonly fail: { readonly participant: string } };

export const STEP_KINDS = [
  "expect_task",
  "expect_no_task",
  "reply",
  "publish",
  "advance",
  "expect_status",
  "expect_note",
  "expect_context",
  "cancel",
  "pause",
  "resume",
  "retry",
  "skip",
  "fail",
] as const;

export interface Expectation {
  /** The definition must be rejected with an error containing this text. */
  readonly rejected?: string;
  readonly status?: string;
  readonly fault?: {
    readonly code?: string;
    readonly message?: string;
    readonly message_includes?: string;
    /** The runtime path of the node that raised it ("0.1.0"). */
    readonly node?: string;
  };
  readonly context?: JsonObject;
  readonly tasks?: readonly string[];
}

export interface Scenario {
  readonly name?: string;
  /** The definition, relative to the scenario file. */
  readonly definition: string;
  readonly fields?: JsonObject;
  /** Launch fields read from files (text), relative to the scenario file: bureaucrat's `$prop` subprocess XML. */
  readonly field_files?: Readonly<Record<string, string>>;
  /** More definitions that `call` can name, relative to the scenario file. */
  readonly definitions?: readonly string[];
  readonly steps?: readonly Step[];
  readonly expect?: Expectation;
}

const STATUSES = ["running", "suspended", "completed", "faulted", "canceled"];
const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** The keys each step's map may have (the others take a value, not a map). */
const STEP_KEYS: Partial<Record<(typeof STEP_KINDS)[number], readonly string[]>> = {
  expect_task: ["participant", "fields"],
  expect_no_task: ["participant"],
  reply: ["participant", "status", "fields", "error", "details", "field_files", "duplicate", "refused"],
  publish: ["event", "key", "data"],
  cancel: [],
  pause: [],
  resume: [],
  retry: ["participant"],
  skip: ["participant", "fields"],
  fail: ["participant"],
};
const NEEDS_PARTICIPANT = ["expect_task", "reply", "retry", "skip", "fail"];

/** A map of names to file paths (field_files), or the problem with it. */
function fileMapProblem(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || Object.values(value).some((path) => typeof path !== "string"))
    return `${where} must map field names to file paths`;
  return undefined;
}

function checkStepMap(kind: string, value: unknown, where: string, fail: (m: string) => never): void {
  const keys = STEP_KEYS[kind as keyof typeof STEP_KEYS];
  if (!keys) return;
  if (value === null || value === undefined) {
    if (keys.length && NEEDS_PARTICIPANT.includes(kind)) fail(`${where} needs participant: <name>`);
    return;
  }
  if (!isObject(value)) fail(`${where} must be a map${keys.length ? ` of ${keys.join(", ")}` : " ({})"}`);
  const map = value as Record<string, unknown>;
  for (const key of Object.keys(map))
    if (!keys.includes(key))
      fail(`${where}: unknown key "${key}"; allowed: ${keys.length ? keys.join(", ") : "none"}`);
  if (NEEDS_PARTICIPANT.includes(kind) && typeof map.participant !== "string")
    fail(`${where} needs participant: <name>`);
  if (map.participant !== undefined && typeof map.participant !== "string")
    fail(`${where}.participant must be a name`);
  for (const key of ["fields", "error"])
    if (map[key] !== undefined && !isObject(map[key])) fail(`${where}.${key} must be a map`);
  const problem = fileMapProblem(map.field_files, `${where}.field_files`);
  if (problem) fail(problem);
}

function checkReply(reply: Record<string, unknown>, where: string, fail: (m: string) => never): void {
  if (!REPLY_STATUSES.includes(reply.status as string))
    fail(`${where}.status must be one of ${REPLY_STATUSES.join(", ")}, got ${JSON.stringify(reply.status)}`);
  const [problem] = replyErrorProblems(reply.error);
  if (problem) fail(`${where}.${problem.path}: ${problem.message}`);
}

function checkStepValue(kind: string, value: unknown, where: string, fail: (m: string) => never): void {
  const map = (isObject(value) ? value : {}) as Record<string, unknown>;
  if (kind === "reply") {
    if (map.refused !== undefined && typeof map.refused !== "string")
      fail(`${where}.refused must be the text the reply is refused with`);
    if (map.duplicate !== undefined && typeof map.duplicate !== "boolean")
      fail(`${where}.duplicate must be true or false`);
    // A reply meant to be refused may be malformed on purpose: the engine's check is the one that counts.
    if (map.refused === undefined) checkReply(map, where, fail);
  }
  if (kind === "publish") {
    if (typeof map.event !== "string") fail(`${where} needs event: <name>`);
    if (map.key !== undefined && typeof map.key !== "string" && typeof map.key !== "number")
      fail(`${where}.key must be a text or a number, got ${JSON.stringify(map.key)}`);
  }
  if (kind === "advance" && parseDuration(value as string) === undefined)
    fail(`${where}: ${JSON.stringify(value)} is not a duration (seconds or ISO-8601 like PT2H)`);
  if (kind === "expect_status" && !STATUSES.includes(value as string))
    fail(`${where} must be one of ${STATUSES.join(", ")}`);
  if (kind === "expect_note" && typeof value !== "string") fail(`${where} must be the text of a note`);
  if (kind === "expect_context" && !isObject(value)) fail(`${where} must be a map`);
}

function checkStep(step: unknown, i: number, fail: (m: string) => never): void {
  const at = `steps[${i}]`;
  if (!isObject(step) || Object.keys(step).length !== 1)
    fail(`${at} must be a map with one key: ${STEP_KINDS.join(", ")}`);
  const [kind, value] = Object.entries(step as Record<string, unknown>)[0] as [string, unknown];
  if (!(STEP_KINDS as readonly string[]).includes(kind))
    fail(`${at}: unknown step "${kind}"; allowed: ${STEP_KINDS.join(", ")}`);
  const where = `${at}.${kind}`;
  checkStepMap(kind, value, where, fail);
  checkStepValue(kind, value, where, fail);
}

export function parseScenario(text: string, file: string): Scenario {
  const fail = (message: string): never => {
    throw new ScenarioError(`${file}: ${message}`);
  };
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    fail(`not valid YAML: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!isObject(data)) return fail("a scenario must be a map with definition, steps and expect");
  const allowed = ["name", "definition", "fields", "field_files", "definitions", "steps", "expect"];
  for (const key of Object.keys(data))
    if (!allowed.includes(key)) fail(`unknown key "${key}"; allowed: ${allowed.join(", ")}`);
  if (typeof data.definition !== "string") fail("definition: <path to the definition> is required");
  if (data.fields !== undefined && !isObject(data.fields)) fail("fields must be a map");
  const files = fileMapProblem(data.field_files, "field_files");
  if (files) fail(files);
  if (
    data.definitions !== undefined &&
    (!Array.isArray(data.definitions) || data.definitions.some((path) => typeof path !== "string"))
  )
    fail("definitions must be a list of paths");
  if (data.name !== undefined && typeof data.name !== "string") fail("name must be a text");
  if (data.steps !== undefined && !Array.isArray(data.steps)) fail("steps must be a list");
  for (const [i, step] of ((data.steps as unknown[]) ?? []).entries()) checkStep(step, i, fail);
  const expect = data.expect;
  if (expect !== undefined) {
    if (!isObject(expect)) fail("expect must be a map");
    const keys = ["rejected", "status", "fault", "context", "tasks"];
    for (const key of Object.keys(expect as object))
      if (!keys.includes(key)) fail(`expect: unknown key "${key}"; allowed: ${keys.join(", ")}`);
    const fault = (expect as Expectation).fault;
    const faultKeys = ["code", "message", "message_includes", "node"];
    if (fault !== undefined && !isObject(fault)) fail("expect.fault must be a map");
    for (const key of Object.keys(fault ?? {}))
      if (!faultKeys.includes(key))
        fail(`expect.fault: unknown key "${key}"; allowed: ${faultKeys.join(", ")}`);
    const status = (expect as Expectation).status;
    if (status !== undefined && !STATUSES.includes(status))
      fail(`expect.status must be one of ${STATUSES.join(", ")}`);
    const { tasks, context, rejected } = expect as Record<string, unknown>;
    if (tasks !== undefined && (!Array.isArray(tasks) || tasks.some((t) => typeof t !== "string")))
      fail("expect.tasks must be a list of participants");
    if (context !== undefined && !isObject(context)) fail("expect.context must be a map");
    if (rejected !== undefined && typeof rejected !== "string") fail("expect.rejected must be a text");
  }
  return data as unknown as Scenario;
}

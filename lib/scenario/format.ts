/** The scenario file format (DESIGN §5), read with a clear error for each malformed field. */
import { parse as parseYaml } from "yaml";
import { ScenarioError } from "../errors.js";
import { parseDuration } from "../language/duration.js";
import type { Json, JsonObject } from "../language/model.js";

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

function checkStep(step: unknown, i: number, fail: (m: string) => never): void {
  const where = `steps[${i}]`;
  if (!isObject(step) || Object.keys(step).length !== 1)
    fail(`${where} must be a map with one key: ${STEP_KINDS.join(", ")}`);
  const [kind, value] = Object.entries(step as Record<string, unknown>)[0] as [string, unknown];
  if (!(STEP_KINDS as readonly string[]).includes(kind))
    fail(`${where}: unknown step "${kind}"; allowed: ${STEP_KINDS.join(", ")}`);
  const needsParticipant = ["expect_task", "reply", "retry", "skip", "fail"];
  if (needsParticipant.includes(kind) && (!isObject(value) || typeof value.participant !== "string")) {
    fail(`${where}.${kind} needs participant: <name>`);
  }
  if (kind === "reply" && typeof (value as { status?: unknown }).status !== "string")
    fail(`${where}.reply needs status: done | critical | error | heartbeat`);
  if (kind === "publish" && (!isObject(value) || typeof value.event !== "string"))
    fail(`${where}.publish needs event: <name>`);
  if (kind === "advance" && parseDuration(value as string) === undefined)
    fail(`${where}.advance: ${JSON.stringify(value)} is not a duration (seconds or ISO-8601 like PT2H)`);
  if (kind === "expect_status" && !STATUSES.includes(value as string))
    fail(`${where}.expect_status must be one of ${STATUSES.join(", ")}`);
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
  }
  return data as unknown as Scenario;
}

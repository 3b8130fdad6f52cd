/**
 * An HTTP participant's field contract (`inputs`, `outputs` in docket.config.yaml), the same on
 * both hosts: only the declared inputs are sent, each of its type, and only the declared outputs
 * are taken from a reply, each of its type. A field of the wrong type is the caller's mistake or
 * the service's: `critical` (BadInput, BadOutput), never retried.
 */
import type { JsonObject } from "../language/model.js";
import { failure, type WireReply, type WireTask } from "./wire.js";

export type FieldType = "string" | "number" | "boolean" | "object" | "array";
export type FieldTypes = Readonly<Record<string, FieldType>>;

export const FIELD_TYPES: readonly FieldType[] = ["string", "number", "boolean", "object", "array"];

/** The problem with a declared field map (`where` names it), or undefined when it is one. */
export function fieldTypesProblem(value: unknown, where: string): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    return `${where} must map field names to ${FIELD_TYPES.join(" | ")}`;
  for (const [name, type] of Object.entries(value))
    if (!FIELD_TYPES.includes(type as FieldType))
      return `${where}.${name}: ${JSON.stringify(type)} is not one of ${FIELD_TYPES.join(", ")}`;
  return undefined;
}

const typeOf = (value: unknown): FieldType =>
  Array.isArray(value) ? "array" : value === null ? "object" : (typeof value as FieldType);

function checkTypes(fields: JsonObject, declared: FieldTypes, what: string): string | undefined {
  for (const [name, type] of Object.entries(declared)) {
    if (!(name in fields)) return `${what} "${name}" is missing`;
    if (typeOf(fields[name]) !== type)
      return `${what} "${name}" must be a ${type}, got ${typeOf(fields[name])}`;
  }
  return undefined;
}

const only = (fields: JsonObject, declared: FieldTypes): JsonObject =>
  Object.fromEntries(Object.keys(declared).map((name) => [name, fields[name] ?? null]));

/** The task as the service is sent it (its declared inputs only), or the reply refusing it. */
export function contractedTask(
  task: WireTask,
  inputs: FieldTypes | undefined,
  service: string,
): { task: WireTask } | { reply: WireReply } {
  if (!inputs) return { task };
  const problem = checkTypes(task.fields, inputs, "input");
  if (problem) return { reply: failure(task.task, "critical", "BadInput", `${service}: ${problem}`) };
  return { task: { ...task, fields: only(task.fields, inputs) } };
}

/** The service's reply as the engine takes it: a done reply's declared outputs only, each of its type. */
export function contractedReply(
  reply: WireReply,
  outputs: FieldTypes | undefined,
  service: string,
): WireReply {
  if (!outputs || reply.status !== "done") return reply;
  const fields = reply.fields ?? {};
  const problem = checkTypes(fields, outputs, "output");
  if (problem) return failure(reply.task, "critical", "BadOutput", `${service}: ${problem}`);
  return { ...reply, fields: only(fields, outputs) };
}

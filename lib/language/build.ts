/** What the XML and the YAML builders share: problem collection, expressions, durations, typed values. */
import type { Problem } from "../errors.js";
import { checkExpression } from "../expr/cel.js";
import { translatePython } from "../expr/python.js";
import { DURATION_HELP, parseDuration } from "./duration.js";
import type { Collect, Expression, Json, PropertyType, Selector, SourcePos } from "./model.js";

export const PROPERTY_TYPES: readonly PropertyType[] = ["int", "float", "str", "bool", "json"];

/** Collects every problem of one file, each with the file name and a position or a field path. */
export class Problems {
  readonly list: Problem[] = [];

  constructor(readonly file: string | undefined) {}

  add(message: string, pos?: SourcePos, path?: string): void {
    this.list.push({ file: this.file, line: pos?.line, col: pos?.col, path, message });
  }
}

/** Builds an expression, rewriting bureaucrat's Python words when `python` is set, and checks it compiles. */
export function makeExpression(
  source: string,
  python: boolean,
  problems: Problems,
  pos?: SourcePos,
  path?: string,
): Expression {
  const trimmed = source.trim();
  const translated = python ? translatePython(trimmed) : { cel: trimmed };
  const expression: Expression = { source: trimmed, cel: translated.cel, pos };
  if (trimmed === "") {
    problems.add("the expression is empty", pos, path);
    return expression;
  }
  const error = translated.error ?? checkExpression(expression);
  if (error) problems.add(`expression \`${trimmed}\` does not compile: ${error}`, pos, path);
  return expression;
}

export function makeDuration(
  value: string | number,
  what: string,
  problems: Problems,
  pos?: SourcePos,
  path?: string,
): number | undefined {
  const seconds = parseDuration(value);
  if (seconds === undefined)
    problems.add(`${what} ${JSON.stringify(value)} is not a duration; use ${DURATION_HELP}`, pos, path);
  // A heartbeat of nothing would time every task out as it is sent.
  else if (what === "heartbeat" && seconds <= 0)
    problems.add(`heartbeat ${JSON.stringify(value)} must be longer than zero`, pos, path);
  return seconds;
}

export function makeCount(
  value: string | number,
  what: string,
  problems: Problems,
  pos?: SourcePos,
  path?: string,
): number {
  const text = String(value).trim();
  if (!/^\d+$/.test(text) || Number(text) > 1000) {
    problems.add(`${what} ${JSON.stringify(value)} is not a whole number from 0 to 1000`, pos, path);
    return 0;
  }
  return Number(text);
}

/** Parses a property's text by its declared type (XML), as bureaucrat did. */
export function parseTypedValue(
  type: PropertyType,
  text: string,
  name: string,
  problems: Problems,
  pos?: SourcePos,
): Json {
  const bad = (allowed: string): Json => {
    problems.add(`property "${name}" of type ${type}: ${JSON.stringify(text)} is not ${allowed}`, pos);
    return null;
  };
  const trimmed = text.trim();
  switch (type) {
    case "str":
      return text;
    case "int":
      return /^[-+]?\d+$/.test(trimmed) && Number.isSafeInteger(Number(trimmed))
        ? Number(trimmed)
        : bad("an integer");
    case "float":
      return trimmed !== "" && Number.isFinite(Number(trimmed)) ? Number(trimmed) : bad("a number");
    case "bool": {
      const lower = trimmed.toLowerCase();
      if (lower === "1" || lower === "true") return true;
      if (lower === "0" || lower === "false") return false;
      return bad("a bool (0, 1, true or false)");
    }
    case "json":
      try {
        return JSON.parse(trimmed) as Json;
      } catch (error) {
        return bad(`JSON (${error instanceof Error ? error.message : String(error)})`);
      }
  }
}

/** The type a YAML/JSON context value gets, so that it compiles to what the XML would declare. */
export function inferType(value: Json): PropertyType {
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
  if (typeof value === "string") return "str";
  if (typeof value === "boolean") return "bool";
  return "json";
}

const PATH = /^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$/;

/** A foreach `select`: bureaucrat's dotted context path (`prop2.subkey`), else a CEL expression. */
export function makeSelector(
  source: string,
  python: boolean,
  problems: Problems,
  pos?: SourcePos,
  path?: string,
): Selector {
  const trimmed = source.trim();
  const segments = trimmed.split(".");
  if (PATH.test(trimmed) && segments[0] !== "context" && segments[0] !== "inst") return { path: segments };
  return { expression: makeExpression(trimmed, python, problems, pos, path) };
}

/** A foreach's `collect` and `into`: both or neither. */
export function makeCollect(
  value: Expression | undefined,
  into: string | undefined,
  where: string,
  problems: Problems,
  pos?: SourcePos,
  path?: string,
): Collect | undefined {
  if (value === undefined && into === undefined) return undefined;
  if (value === undefined || into === undefined) {
    problems.add(
      `${where} has ${value ? "collect" : "into"} without ${value ? "into" : "collect"}; give both: collect (the value of each iteration) and into (the list property that receives them)`,
      pos,
      path,
    );
    return undefined;
  }
  return { value, into };
}

/** Splits `"A, B"` into fault codes. */
export function splitCodes(text: string): string[] {
  return text
    .split(",")
    .map((code) => code.trim())
    .filter((code) => code !== "");
}

export function isIdentifier(name: string): boolean {
  return /^[A-Za-z_][\w-]*$/.test(name);
}

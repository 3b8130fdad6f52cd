import { readFileSync } from "node:fs";
import { DocketError } from "../errors.js";

/** A JSON object given inline or as `@file`; a clear error naming the option otherwise. */
export function parseJsonArgument(text: string, option: string): Record<string, unknown> {
  let source = text;
  if (text.startsWith("@")) {
    try {
      source = readFileSync(text.slice(1), "utf8");
    } catch {
      throw new DocketError("UsageError", `${option}: cannot read ${text.slice(1)}`);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch (error) {
    throw new DocketError(
      "UsageError",
      `${option}: not JSON (${error instanceof Error ? error.message : String(error)}): ${source.slice(0, 80)}`,
    );
  }
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new DocketError("UsageError", `${option} must be a JSON object, got ${source.slice(0, 80)}`);
  return value as Record<string, unknown>;
}

import { readFileSync } from "node:fs";
import { InvalidArgumentError } from "commander";
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

/**
 * A commander argument parser for a whole number in [min, max]: a bad value is refused before the
 * command runs (exit 2), naming the option, rather than failing somewhere inside it.
 */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): string => {
    const value = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min || value > max)
      throw new InvalidArgumentError(
        `must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ""}.`,
      );
    return text.trim();
  };
}

/** A commander argument parser for a number of seconds in [min, max], fractions allowed. */
export function seconds(min: number, max: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!/^\d+(\.\d+)?$/.test(text.trim()) || value < min || value > max)
      throw new InvalidArgumentError(`must be a number of seconds from ${min} to ${max}.`);
    return value;
  };
}

export const STATUSES = ["running", "suspended", "completed", "faulted", "canceled"] as const;

/** Subset matching for expectations: every key expected must be there with an equal value. */
import type { Json } from "../language/model.js";

export function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? "undefined";
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Why `actual` does not contain `expected` (objects by subset, the rest by equality), or undefined. */
export function subsetMismatch(expected: Json, actual: Json | undefined, path = ""): string | undefined {
  if (expected !== null && typeof expected === "object" && !Array.isArray(expected)) {
    if (actual === null || typeof actual !== "object" || Array.isArray(actual)) {
      return `${path || "value"}: expected ${describe(expected)}, got ${describe(actual)}`;
    }
    for (const key of Object.keys(expected)) {
      const mismatch = subsetMismatch(expected[key] as Json, actual[key], path ? `${path}.${key}` : key);
      if (mismatch) return mismatch;
    }
    return undefined;
  }
  return JSON.stringify(expected) === JSON.stringify(actual)
    ? undefined
    : `${path || "value"}: expected ${describe(expected)}, got ${describe(actual)}`;
}

/**
 * Values crossing into and out of CEL. CEL keeps int and double apart and JS numbers are all
 * doubles, so integral numbers go in as CEL ints (BigInt) and come back as numbers.
 */
import type { Json } from "../language/model.js";

export type CelValue = unknown;

/** Converts JSON data into CEL input: integral numbers become BigInt. */
export function toCel(value: Json | undefined): CelValue {
  if (typeof value === "number") return Number.isInteger(value) ? BigInt(value) : value;
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(toCel);
  const out: Record<string, CelValue> = {};
  for (const key of Object.keys(value)) out[key] = toCel(value[key]);
  return out;
}

/** Converts a CEL result back to JSON data; throws a plain Error naming what cannot be stored. */
export function fromCel(value: CelValue): Json {
  switch (typeof value) {
    case "bigint": {
      const n = Number(value);
      if (!Number.isSafeInteger(n))
        throw new Error(`integer ${value} is outside the safe range of JSON numbers`);
      return n;
    }
    case "number":
      if (!Number.isFinite(value)) throw new Error(`${value} is not a finite number`);
      return value;
    case "string":
    case "boolean":
      return value;
    case "undefined":
      return null;
    case "object": {
      if (value === null) return null;
      if (value instanceof Date) return value.toISOString();
      if (Array.isArray(value)) return value.map(fromCel);
      if (value instanceof Map) {
        const out: Record<string, Json> = {};
        for (const [k, v] of value) out[String(k)] = fromCel(v);
        return out;
      }
      if (value instanceof Uint8Array) throw new Error("bytes cannot be stored in the context");
      const out: Record<string, Json> = {};
      for (const key of Object.keys(value)) out[key] = fromCel((value as Record<string, CelValue>)[key]);
      return out;
    }
    default:
      throw new Error(`a ${typeof value} cannot be stored in the context`);
  }
}

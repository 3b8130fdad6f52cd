/**
 * Values crossing into and out of CEL. CEL keeps int and double apart and JS numbers are all
 * doubles, so integral numbers go in as CEL ints (BigInt) and come back as numbers.
 */
import type { Json } from "../language/model.js";

export type CelValue = unknown;

/** Converts JSON data into CEL input: integral numbers become BigInt. */
export function toCel(value: Json | undefined): CelValue {
  return convert(value, undefined);
}

function convert(value: Json | undefined, tally: CelConverter | undefined): CelValue {
  if (tally) tally.converted++;
  if (typeof value === "number") return Number.isInteger(value) ? BigInt(value) : value;
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((item) => convert(item, tally));
  const out: Record<string, CelValue> = {};
  for (const key of Object.keys(value)) out[key] = convert(value[key], tally);
  return out;
}

/**
 * Converts context values for CEL, each object or list once. The engine never changes a context
 * value in place (a write replaces the value under its key), so an object converted once stands
 * for it in every later expression of the transition, and building an expression's variables
 * costs what changed since the last one, not the size of the context.
 */
export class CelConverter {
  /** Values converted so far, every element at any depth counted: what a test can bound. */
  converted = 0;
  private memo?: WeakMap<object, CelValue>;

  /** The CEL value of a JSON value; an object or a list is converted the first time only. */
  of(value: Json | undefined): CelValue {
    if (value === null || typeof value !== "object") return convert(value, this);
    this.memo ??= new WeakMap();
    let cel = this.memo.get(value);
    if (cel === undefined) {
      cel = convert(value, this);
      this.memo.set(value, cel);
    }
    return cel;
  }
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

/**
 * Scoped context, as bureaucrat has it: reads walk outward from a node through the scopes of its
 * ancestors; a write goes to the scope that declares the key, else to the innermost scope.
 * Scopes are keyed by the runtime path of the node holding them.
 */
import type { CelConverter, CelValue } from "../expr/values.js";
import type { Json, JsonObject } from "../language/model.js";

const ROOT_ONLY: readonly string[] = ["0"] as const;

/** The scope paths that enclose a runtime path, innermost first. */
export function scopeChain(scopes: ReadonlyMap<string, JsonObject>, path: string): readonly string[] {
  if (scopes.size === 1) return ROOT_ONLY; // the common case: only the process scope is live
  const chain: string[] = [];
  let end = path.length;
  for (;;) {
    const prefix = path.slice(0, end);
    if (scopes.has(prefix)) chain.push(prefix);
    end = path.lastIndexOf(".", end - 1);
    if (end <= 0) break;
  }
  return chain;
}

/** The flattened context a node sees (inner keys shadow outer ones), as a workitem carries it. */
export function flatten(scopes: ReadonlyMap<string, JsonObject>, path: string): JsonObject {
  const chain = scopeChain(scopes, path);
  if (chain.length === 1) return { ...scopes.get(chain[0] as string) };
  const out: JsonObject = {};
  for (let i = chain.length - 1; i >= 0; i--) Object.assign(out, scopes.get(chain[i] as string));
  return out;
}

/**
 * The flattened context as CEL reads it: `flatten`, with each value converted by `cel` (which
 * converts an object or a list once, so this costs the number of keys, not the data under them).
 */
export function celContext(
  scopes: ReadonlyMap<string, JsonObject>,
  path: string,
  cel: CelConverter,
): Record<string, CelValue> {
  const chain = scopeChain(scopes, path);
  const out: Record<string, CelValue> = {};
  for (let i = chain.length - 1; i >= 0; i--) {
    const scope = scopes.get(chain[i] as string) as JsonObject;
    for (const key of Object.keys(scope)) {
      // Assigned, `__proto__` would set the prototype; CEL never saw it (toCel drops it too).
      if (key !== "__proto__") out[key] = cel.of(scope[key]);
    }
  }
  return out;
}

/** Which scope a write of `key` from `path` lands in. */
export function writeTarget(
  scopes: ReadonlyMap<string, JsonObject>,
  path: string,
  key: string,
): string | undefined {
  const chain = scopeChain(scopes, path);
  for (const scope of chain) if (Object.hasOwn(scopes.get(scope) as JsonObject, key)) return scope;
  return chain[0];
}

export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as Json[];
    return a.length === other.length && a.every((item, i) => jsonEqual(item, other[i]));
  }
  const aKeys = Object.keys(a);
  const bObject = b as JsonObject;
  return (
    aKeys.length === Object.keys(bObject).length && aKeys.every((key) => jsonEqual(a[key], bObject[key]))
  );
}

/** Keys bureaucrat reserves for the engine (`inst:fault`, `inst:iteration`, `inst:current`). */
export function isReserved(key: string): boolean {
  return key.startsWith("inst:");
}

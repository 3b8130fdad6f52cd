/**
 * What every DefinitionStore does the same way: hash a source, read it into a registration (or the
 * problems that reject it), and read a stored source back under its process name.
 */
import { DefinitionError, formatProblem } from "../errors.js";
import { processNameFromKey, readDefinition } from "../language/index.js";
import type { Definition } from "../language/model.js";
import type { Registration } from "../ports.js";
import { sha256Hex } from "./hex.js";

/** SHA-256 of the source, hex, first 16 characters. */
export async function sourceHash(source: string): Promise<string> {
  return (await sha256Hex(source)).slice(0, 16);
}

/**
 * Reads a source as `key` would be registered. With `name`, the process is known by it whatever
 * its name attribute says (a stored process is named by its key); without, by the definition's.
 */
export async function readRegistration(key: string, source: string, name?: string): Promise<Registration> {
  const fallback = name ?? processNameFromKey(key);
  try {
    const read = readDefinition(source, { file: key, name: fallback });
    const definition = name === undefined ? read : { ...read, name };
    const hash = await sourceHash(source);
    // Without a name attribute the definition is read under `fallback`: only a declared one differs.
    const declared = read.name !== definition.name ? { declared: read.name } : {};
    return { ok: true, name: definition.name, hash, definition, ...declared };
  } catch (error) {
    if (!(error instanceof DefinitionError)) throw error;
    return { ok: false, name: fallback, problems: error.problems.map(formatProblem) };
  }
}

/** A stored source read back, named as it was registered. */
export function storedDefinition(source: string, name: string): Definition {
  const read = readDefinition(source, { name, format: source.trimStart().startsWith("<") ? "xml" : "yaml" });
  return { ...read, name };
}

/** What a host says of a definition whose declared name its key overrides (nothing when none). */
export function unusedName(declared: string | undefined): string {
  return declared === undefined
    ? ""
    : `; the name it declares, "${declared}", is not used: a stored definition is named by its file's path`;
}

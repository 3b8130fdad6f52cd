/**
 * The interpreter and the definition readers run anywhere (a Lambda, the embedded host, a browser
 * one day): nothing they import, directly or through the modules they import, may come from
 * `node:*` (or a bare Node built-in) or `@aws-sdk/*`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const PURE_FOLDERS = ["lib/engine", "lib/language"];

const SPECIFIER = /\bfrom\s*"([^"]+)"|\bimport\s*"([^"]+)"|\bimport\s*\(\s*"([^"]+)"\s*\)/g;

function specifiers(source: string): string[] {
  return [...source.matchAll(SPECIFIER)].map((m) => (m[1] ?? m[2] ?? m[3]) as string);
}

function isImpure(specifier: string): boolean {
  return (
    specifier.startsWith("node:") || specifier.startsWith("@aws-sdk/") || builtinModules.includes(specifier)
  );
}

/** Every module reachable from `roots` by relative imports, with the packages each imports. */
function importClosure(roots: string[]): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const pending = [...roots];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file)) continue;
    const all = specifiers(readFileSync(file, "utf8"));
    seen.set(
      file,
      all.filter((s) => !s.startsWith(".")),
    );
    for (const s of all.filter((s) => s.startsWith(".")))
      pending.push(resolve(dirname(file), s.replace(/\.js$/, ".ts")));
  }
  return seen;
}

const sources = (folder: string) =>
  readdirSync(join(ROOT, folder))
    .filter((name) => name.endsWith(".ts"))
    .map((name) => join(ROOT, folder, name));

describe("purity of lib/engine and lib/language", () => {
  const closure = importClosure(PURE_FOLDERS.flatMap(sources));

  it("reads the modules they import", () => {
    // A broken scan (a pattern that matches nothing) would pass vacuously.
    expect(closure.size).toBeGreaterThan(sources("lib/engine").length + sources("lib/language").length);
    expect([...closure.values()].flat()).toContain("yaml");
  });

  it("imports nothing from node:* or @aws-sdk/*, directly or through what they import", () => {
    const impure = [...closure].flatMap(([file, packages]) =>
      packages.filter(isImpure).map((p) => `${relative(ROOT, file)} imports ${p}`),
    );
    expect(impure).toEqual([]);
  });

  it("finds an import of node:* or @aws-sdk/* in any of its forms", () => {
    const source = [
      'import { a } from "node:fs";',
      'import type { B } from "@aws-sdk/client-sqs";',
      'export {\n  c,\n} from "path";',
      'const d = await import("node:crypto");',
      'import "./local.js";',
    ].join("\n");
    expect(specifiers(source).filter(isImpure)).toEqual([
      "node:fs",
      "@aws-sdk/client-sqs",
      "path",
      "node:crypto",
    ]);
  });
});

import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A user's project outside this checkout, with its own package.json `type` (none: no package.json
 * at all), and the files given (definitions, participants, docket.config.yaml).
 */
export function userProject(type: "commonjs" | "module" | undefined, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), `docket-${type ?? "untyped"}-`));
  if (type) writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "user", type }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

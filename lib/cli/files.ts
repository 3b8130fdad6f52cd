/** Expanding the file and folder arguments of CLI commands. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { DocketError } from "../errors.js";

/** The files named, with each folder replaced by the files under it that `accept` takes, sorted. */
export function expandFiles(
  paths: readonly string[],
  accept: (file: string) => boolean,
): { files: string[]; missing: string[] } {
  const files: string[] = [];
  const missing: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const full = join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== "node_modules") walk(full);
      else if (entry.isFile() && accept(full)) files.push(full);
    }
  };
  for (const path of paths) {
    let stat: ReturnType<typeof statSync> | undefined;
    try {
      stat = statSync(path);
    } catch {
      missing.push(path);
      continue;
    }
    if (stat.isDirectory()) walk(path);
    else files.push(path);
  }
  return { files, missing };
}

/** A file's text, or a UsageError saying why it cannot be read (exit 2, no stack trace). */
export function readTextFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a folder" : String(error);
    throw new DocketError("UsageError", `cannot read ${file}: ${why}`);
  }
}

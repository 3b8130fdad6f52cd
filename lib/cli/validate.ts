import { readFileSync } from "node:fs";
import { formatProblem } from "../errors.js";
import { checkDefinition, isDefinitionFile } from "../language/index.js";
import { expandFiles } from "./files.js";

/** `docket validate`: every problem of every file, then a count; exit 1 when any file is invalid. */
export function validateCommand(paths: string[], options: { json?: boolean }): number {
  const { files, missing } = expandFiles(paths, isDefinitionFile);
  const results = files.map((file) => {
    const error = checkDefinition(readFileSync(file, "utf8"), { file });
    return { file, valid: !error, problems: error?.problems ?? [] };
  });
  if (options.json) {
    console.log(JSON.stringify({ results, missing }, null, 2));
  } else {
    for (const path of missing) console.error(`${path}: no such file or folder`);
    for (const result of results) {
      if (result.valid) console.log(`ok   ${result.file}`);
      else for (const problem of result.problems) console.log(`FAIL ${formatProblem(problem)}`);
    }
    const invalid = results.filter((r) => !r.valid).length;
    console.log(`${results.length - invalid} valid, ${invalid} invalid`);
  }
  if (missing.length) return 2;
  return results.every((r) => r.valid) ? 0 : 1;
}

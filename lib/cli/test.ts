import { runScenarioFile } from "../scenario/runner.js";
import { expandFiles } from "./files.js";

/** `docket test`: runs scenarios, prints each failure with its step, then "N passed, N failed". */
export async function testCommand(paths: string[]): Promise<number> {
  const { files, missing } = expandFiles(paths, (file) => /\.ya?ml$/.test(file));
  for (const path of missing) console.error(`${path}: no such file or folder`);
  let passed = 0;
  let failed = 0;
  for (const file of files) {
    const outcome = await runScenarioFile(file);
    if (outcome.passed) {
      passed++;
      console.log(`  ✓ ${outcome.file}`);
    } else {
      failed++;
      console.log(`  ✗ ${outcome.file}\n      ${outcome.failure?.replaceAll("\n", "\n      ")}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  if (missing.length) return 2;
  return failed || !files.length ? 1 : 0;
}

/** The `docket` command. Exit codes: 0 success, 1 a check or test failed, 2 bad usage or unreadable input. */
import { Command } from "commander";
import { testCommand } from "./test.js";
import { validateCommand } from "./validate.js";

export function buildProgram(): Command {
  const program = new Command("docket")
    .description("docket: a serverless workflow engine for AWS")
    .showHelpAfterError()
    .exitOverride((error) => {
      process.exit(error.exitCode === 0 ? 0 : 2);
    });
  program
    .command("validate")
    .description("check definitions (XML, YAML or JSON); print every problem with file:line:col")
    .argument("<files...>", "definition files or folders")
    .option("--json", "print the result as JSON")
    .action((files: string[], options: { json?: boolean }) => {
      process.exitCode = validateCommand(files, options);
    });
  program
    .command("test")
    .description("run scenario files on a virtual clock; prints 'N passed, N failed'")
    .argument("<files...>", "scenario files (.yaml) or folders holding them")
    .action((files: string[]) => {
      process.exitCode = testCommand(files);
    });
  return program;
}

buildProgram().parse();

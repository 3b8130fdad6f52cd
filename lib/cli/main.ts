/**
 * The `docket` command. Exit codes: 0 success, 1 a check or test failed (or a watched instance did
 * not complete), 2 bad usage, unreadable input or an error answer from the API.
 */
import { Command } from "commander";
import { DocketError } from "../errors.js";
import { MAX_SQS_VISIBILITY_S } from "../runtime/wire.js";
import { addClientCommands, withTarget } from "./client.js";
import { wholeNumber } from "./json-argument.js";

/**
 * The program and its commands. The engines' and the AWS SDK's modules load only for the command
 * that needs them (`docket local` alone takes seconds to import), so a client command starts fast.
 */
export function buildProgram(): Command {
  const program = new Command("docket")
    .description("docket: a serverless workflow engine for AWS")
    .showHelpAfterError()
    .exitOverride((error) => {
      process.exit(error.exitCode === 0 ? 0 : 2);
    });
  addAuthoringCommands(program);
  addEngineCommands(program);
  addClientCommands(program, async (fn) => {
    process.exitCode = await guarded(fn);
  });
  return program;
}

/** validate, test and diagram: a definition's checks and picture, no engine needed (diagram --instance asks the API). */
function addAuthoringCommands(program: Command): void {
  program
    .command("validate")
    .description("check definitions (XML, YAML or JSON); print every problem with file:line:col")
    .argument("<files...>", "definition files or folders")
    .option("--json", "print the result as JSON")
    .action(async (files: string[], options: { json?: boolean }) => {
      const { validateCommand } = await import("./validate.js");
      process.exitCode = validateCommand(files, options);
    });
  program
    .command("test")
    .description("run scenario files on a virtual clock; prints 'N passed, N failed'")
    .argument("<files...>", "scenario files (.yaml) or folders holding them")
    .action(async (files: string[]) => {
      const { testCommand } = await import("./test.js");
      process.exitCode = await testCommand(files);
    });
  withTarget(
    program
      .command("diagram")
      .description(
        "write a definition as a Mermaid flowchart; with --instance, coloured by the instance's state",
      )
      .argument("<definition>", "the definition file (ignored with --instance)")
      .option("--instance <id>", "colour by this instance (asks the API)"),
  )
    .option("-o, --output <file>", "write to a file instead of stdout")
    .action(async (file: string, options) => {
      const { diagramCommand } = await import("./diagram.js");
      process.exitCode = await guarded(() => diagramCommand(file, options));
    });
}

/** run, serve and local: an engine in this process, embedded or on an AWS emulator. */
function addEngineCommands(program: Command): void {
  program
    .command("run")
    .description("run a process on the embedded engine to its end (or until it waits) and print the result")
    .argument("<definition>", "the definition file")
    .option("--fields <json>", "launch fields: JSON, or @file")
    .option("--publish <json>", 'an event to publish: {"name", "key"?, "data"?} (repeatable)', collect, [])
    .option("--config <file>", "docket.config.yaml (default: ./docket.config.yaml if present)")
    .option("--wait <seconds>", "wait for timers due within this many seconds", wholeNumber(0), "30")
    .option("--json", "print the result as JSON")
    .action(async (file: string, options) => {
      const { runCommand } = await import("./run.js");
      process.exitCode = await guarded(() => runCommand(file, options));
    });
  program
    .command("serve")
    .description("run the embedded engine with its HTTP API (see README: HTTP API)")
    .option("--port <port>", "", wholeNumber(0, 65535), process.env.DOCKET_PORT ?? "7070")
    .option("--host <host>", "", "127.0.0.1")
    .option("--config <file>", "docket.config.yaml")
    .action(async (options) => {
      const { serveCommand } = await import("./serve.js");
      process.exitCode = await guarded(() => serveCommand(options));
    });
  addLocalCommand(program);
  program
    .command("worker <module>")
    .description("run a participant's handler (the module's default export) as a worker, on AWS or embedded")
    .requiredOption("--participant <name>", "the participant whose tasks it takes")
    .option("--queue <url>", "the participant's SQS queue (AWS)")
    .option("--url <url>", "docket serve's URL (embedded)")
    .option("--concurrency <n>", "tasks at once", wholeNumber(1, 1000), "1")
    .option(
      "--lease <seconds>",
      "how long a task stays leased; a heartbeat extends it",
      wholeNumber(1, MAX_SQS_VISIBILITY_S),
      "300",
    )
    .option(
      "--grace <seconds>",
      "on SIGTERM, how long the tasks held may take to finish",
      wholeNumber(0, 3600),
      "30",
    )
    .option(
      "--poll <seconds>",
      "how long a poll waits for a task (a stop waits for it)",
      wholeNumber(0, 20),
      "20",
    )
    .action(async (module: string, options) => {
      const { workerCommand } = await import("./worker.js");
      process.exitCode = await guarded(() => workerCommand(module, options));
    });
  withTarget(program.command("console"))
    .description("serve the web console on localhost for a deployed stack, signing its API calls")
    .option("--port <port>", "", wholeNumber(0, 65535), "7072")
    .option("--host <host>", "", "127.0.0.1")
    .action(async (options) => {
      const { consoleCommand } = await import("./console.js");
      process.exitCode = await guarded(() => consoleCommand(options));
    });
}

function addLocalCommand(program: Command): void {
  program
    .command("local")
    .description(
      "create docket's AWS resources on an emulator and run the Lambda handlers here, polling their queues",
    )
    .option("--endpoint <url>", "the emulator (default: $AWS_ENDPOINT_URL or http://127.0.0.1:4566)")
    .option("--config <file>", "docket.config.yaml: the definitions folder and the participants with queues")
    .option("--outputs <file>", "write { bucket, bus, table, inbox, queues, api } as JSON")
    .option("--prefix <name>", "prefix of the resources' names", "docket")
    .option(
      "--api-port <port>",
      "serve the operations API on this port (0: any free one)",
      wholeNumber(0, 65535),
      "7071",
    )
    .option("--host <host>", "the operations API's address", "127.0.0.1")
    .action(async (options) => {
      const { localCommand } = await import("./local.js");
      process.exitCode = await guarded(() => localCommand(options));
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Runs a command; a DocketError prints its message and exits 2 (1 for failures the command reports itself). */
async function guarded(fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (error) {
    if (!(error instanceof DocketError)) throw error;
    console.error(`docket: ${error.message}`);
    return 2;
  }
}

await buildProgram().parseAsync();

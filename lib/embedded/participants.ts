/**
 * Running the engine-side participant kinds: local modules, shell commands and HTTP services. Each
 * turns a task into a reply; failures become `error` replies (retryable) with the reason.
 */
import { spawn } from "node:child_process";
import { pathToFileURL } from "node:url";
import { isCriticalError } from "../errors.js";
import { contractedReply, contractedTask } from "../runtime/field-contract.js";
import { asReply, failure, type WireReply, type WireTask } from "../runtime/wire.js";
import type { ParticipantSpec } from "./config.js";

export { asReply, toWire, type WireReply, type WireTask } from "../runtime/wire.js";

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** What a participant module exports: a function of the task. */
type ModuleHandler = (task: WireTask) => unknown;

/**
 * Imports participant modules through tsx's loaders, registered once under a namespace of their
 * own. A plain `import()` depends on the host: with no loader registered (the engine used as a
 * library) a `.ts` file does not load at all, and with only tsx's ESM loader (bin/docket.js) a
 * `.ts` file in a `"type": "commonjs"` package (or one with no package.json) is handed to Node's
 * CommonJS loader untransformed, which fails with ERR_REQUIRE_CYCLE_MODULE. The namespaced pair
 * compiles `.ts`, `.mts`, `.js` and `.mjs` whatever the user's package type, and touches no other
 * import of the process.
 */
let scopedImport: Promise<(url: string, parent: string) => Promise<unknown>> | undefined;

function participantImport(): Promise<(url: string, parent: string) => Promise<unknown>> {
  scopedImport ??= Promise.all([import("tsx/esm/api"), import("tsx/cjs/api")]).then(([esm, cjs]) => {
    cjs.register({ namespace: "docket-participants" });
    return esm.register({ namespace: "docket-participants" }).import;
  });
  return scopedImport;
}

/**
 * The function a module exports: `default` or `handler`. A module compiled to CommonJS (a `.ts`
 * file in a commonjs package, or `module.exports = …`) arrives as its `module.exports` in `default`.
 */
function exportedFunction(loaded: Record<string, unknown>): ModuleHandler | undefined {
  const exports = isObject(loaded.default) ? loaded.default : {};
  for (const candidate of [loaded.default, loaded.handler, exports.default, exports.handler])
    if (typeof candidate === "function") return candidate as ModuleHandler;
  return undefined;
}

/** Each module is loaded once (its state lives as long as the process); a failed load is tried again. */
const modules = new Map<string, Promise<Record<string, unknown>>>();
/** Failed loads by path: Node keeps a failed import by URL, so a new attempt needs a URL of its own. */
const failedLoads = new Map<string, number>();

async function loadModule(path: string): Promise<Record<string, unknown>> {
  let loading = modules.get(path);
  if (!loading) {
    const failed = failedLoads.get(path);
    const url = `${pathToFileURL(path).href}${failed ? `?attempt=${failed + 1}` : ""}`;
    loading = participantImport().then(
      (load) => load(url, import.meta.url) as Promise<Record<string, unknown>>,
    );
    modules.set(path, loading);
  }
  try {
    return await loading;
  } catch (error) {
    if (modules.get(path) === loading) {
      modules.delete(path);
      failedLoads.set(path, (failedLoads.get(path) ?? 0) + 1);
    }
    throw error;
  }
}

/**
 * A module's exported function (default or handler), loaded as participant modules are, whatever
 * the user's package type (`docket worker` runs its module this way); undefined when it has none.
 */
export async function moduleFunction(path: string): Promise<((task: never) => unknown) | undefined> {
  return exportedFunction(await loadModule(path));
}

async function runModule(path: string, task: WireTask): Promise<WireReply> {
  let loaded: Record<string, unknown>;
  try {
    loaded = await loadModule(path);
  } catch (error) {
    const cause = error instanceof Error ? error.message : String(error);
    return failure(
      task.task,
      "error",
      "ModuleLoadFailed",
      `cannot load participant module ${path}: ${cause}`,
    );
  }
  const fn = exportedFunction(loaded);
  if (!fn)
    return failure(
      task.task,
      "critical",
      "BadParticipant",
      `${path} exports no function (default or handler)`,
    );
  return asReply(task, await fn(task));
}

function runCommand(
  { command, timeoutMs, cwd }: Extract<ParticipantSpec, { kind: "command" }>,
  task: WireTask,
): Promise<WireReply> {
  return new Promise((resolveReply) => {
    // Its own process group, so a timeout kills the command's children too (they hold the pipes).
    const child = spawn("sh", ["-c", command], { cwd, stdio: ["pipe", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", (error) => resolveReply(failure(task.task, "error", "CommandFailed", error.message)));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        const why = signal
          ? `killed by ${signal}${signal === "SIGKILL" ? ` after ${timeoutMs} ms` : ""}`
          : `exit code ${code}`;
        resolveReply(
          failure(
            task.task,
            "error",
            "CommandFailed",
            `${command}: ${why}${stderr.trim() ? `: ${stderr.trim().slice(-500)}` : ""}`,
          ),
        );
        return;
      }
      try {
        resolveReply(asReply(task, stdout.trim() ? JSON.parse(stdout) : undefined));
      } catch {
        resolveReply(
          failure(
            task.task,
            "critical",
            "BadReply",
            `${command} printed no JSON reply: ${stdout.trim().slice(0, 200)}`,
          ),
        );
      }
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(JSON.stringify(task));
  });
}

async function runHttp(spec: Extract<ParticipantSpec, { kind: "http" }>, task: WireTask): Promise<WireReply> {
  const sent = contractedTask(task, spec.inputs, spec.url);
  if ("reply" in sent) return sent.reply;
  let response: Response;
  try {
    response = await fetch(spec.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(sent.task),
      signal: AbortSignal.timeout(spec.timeoutMs),
    });
  } catch (error) {
    return failure(
      task.task,
      "error",
      "HttpFailed",
      `${spec.url}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const text = await response.text();
  if (!response.ok)
    return failure(
      task.task,
      response.status >= 500 || response.status === 429 ? "error" : "critical",
      "HttpFailed",
      `${spec.url} answered ${response.status}: ${text.slice(0, 200)}`,
    );
  let reply: WireReply;
  try {
    reply = asReply(task, text.trim() ? JSON.parse(text) : undefined);
  } catch {
    return failure(task.task, "critical", "BadReply", `${spec.url} answered no JSON: ${text.slice(0, 200)}`);
  }
  return contractedReply(reply, spec.outputs, spec.url);
}

/** Runs a task on an engine-side participant; undefined for external ones (a worker will answer). */
export async function runParticipant(spec: ParticipantSpec, task: WireTask): Promise<WireReply | undefined> {
  try {
    switch (spec.kind) {
      case "module":
        return await runModule(spec.path, task);
      case "command":
        return await runCommand(spec, task);
      case "http":
        return await runHttp(spec, task);
      case "external":
      case "aws":
        return undefined;
    }
  } catch (error) {
    const code = isObject(error) && typeof error.code === "string" ? error.code : "ParticipantError";
    const status = isCriticalError(error) ? "critical" : "error";
    return failure(task.task, status, code, error instanceof Error ? error.message : String(error));
  }
}

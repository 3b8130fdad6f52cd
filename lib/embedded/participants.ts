/**
 * Running the engine-side participant kinds: local modules, shell commands and HTTP services. Each
 * turns a task into a reply; failures become `error` replies (retryable) with the reason.
 */
import { spawn } from "node:child_process";
import { pathToFileURL } from "node:url";
import type { JsonObject } from "../language/model.js";
import { asReply, failure, type WireReply, type WireTask } from "../runtime/wire.js";
import type { FieldType, ParticipantSpec } from "./config.js";

export { asReply, toWire, type WireReply, type WireTask } from "../runtime/wire.js";

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

const typeOf = (value: unknown): FieldType =>
  Array.isArray(value) ? "array" : value === null ? "object" : (typeof value as FieldType);

function checkTypes(
  fields: JsonObject,
  declared: Readonly<Record<string, FieldType>>,
  what: string,
): string | undefined {
  for (const [name, type] of Object.entries(declared)) {
    if (!(name in fields)) return `${what} "${name}" is missing`;
    if (typeOf(fields[name]) !== type)
      return `${what} "${name}" must be a ${type}, got ${typeOf(fields[name])}`;
  }
  return undefined;
}

async function runModule(path: string, task: WireTask): Promise<WireReply> {
  const loaded = (await import(pathToFileURL(path).href)) as { default?: unknown; handler?: unknown };
  const fn = typeof loaded.default === "function" ? loaded.default : loaded.handler;
  if (typeof fn !== "function")
    return failure(
      task.task,
      "critical",
      "BadParticipant",
      `${path} exports no function (default or handler)`,
    );
  return asReply(task, await fn(task));
}

function runCommand(command: string, timeoutMs: number, task: WireTask): Promise<WireReply> {
  return new Promise((resolveReply) => {
    // Its own process group, so a timeout kills the command's children too (they hold the pipes).
    const child = spawn("sh", ["-c", command], { stdio: ["pipe", "pipe", "pipe"], detached: true });
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
  let fields = task.fields;
  if (spec.inputs) {
    const problem = checkTypes(fields, spec.inputs, "input");
    if (problem) return failure(task.task, "critical", "BadInput", `${spec.url}: ${problem}`);
    fields = Object.fromEntries(Object.keys(spec.inputs).map((name) => [name, task.fields[name] ?? null]));
  }
  let response: Response;
  try {
    response = await fetch(spec.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...task, fields }),
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
  if (!spec.outputs || reply.status !== "done") return reply;
  const out = reply.fields ?? {};
  const problem = checkTypes(out, spec.outputs, "output");
  if (problem) return failure(task.task, "critical", "BadOutput", `${spec.url}: ${problem}`);
  return {
    ...reply,
    fields: Object.fromEntries(Object.keys(spec.outputs).map((name) => [name, out[name] ?? null])),
  };
}

/** Runs a task on an engine-side participant; undefined for external ones (a worker will answer). */
export async function runParticipant(spec: ParticipantSpec, task: WireTask): Promise<WireReply | undefined> {
  try {
    switch (spec.kind) {
      case "module":
        return await runModule(spec.path, task);
      case "command":
        return await runCommand(spec.command, spec.timeoutMs, task);
      case "http":
        return await runHttp(spec, task);
      case "external":
      case "aws":
        return undefined;
    }
  } catch (error) {
    const code = isObject(error) && typeof error.code === "string" ? error.code : "ParticipantError";
    return failure(task.task, "error", code, error instanceof Error ? error.message : String(error));
  }
}

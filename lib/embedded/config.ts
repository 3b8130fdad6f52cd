/**
 * docket.config.yaml: where definitions and the database live, and what kind each participant is.
 * Participants not listed run `participants/<name>.ts|mts|js|mjs` when it exists, else wait for an external
 * worker.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse } from "yaml";
import type { TargetSpec } from "../aws/targets.js";
import { DocketError } from "../errors.js";
import { readScheduleMap, type Schedule } from "../language/schedule.js";
import { type FieldType, fieldTypesProblem } from "../runtime/field-contract.js";

export type { FieldType };

export type ParticipantSpec =
  | { readonly kind: "module"; readonly path: string }
  | {
      readonly kind: "command";
      readonly command: string;
      readonly timeoutMs: number;
      /** Where it runs: the config file's folder, so `python3 mail.py` finds the script beside it. */
      readonly cwd?: string;
    }
  | {
      readonly kind: "http";
      readonly url: string;
      readonly timeoutMs: number;
      readonly inputs?: Readonly<Record<string, FieldType>>;
      readonly outputs?: Readonly<Record<string, FieldType>>;
    }
  | { readonly kind: "external" }
  /** Called by the engine on AWS (`lambda:…` or `sfn:…`); embedded, its tasks wait for an external worker. */
  | { readonly kind: "aws"; readonly target: string };

export interface DocketConfig {
  /** The folder the paths below are relative to. */
  readonly root: string;
  readonly definitions: string;
  readonly database: string;
  readonly participantsDir: string;
  readonly participants: Readonly<Record<string, ParticipantSpec>>;
  /** Scheduled launches (`schedules:`), besides those definitions declare. */
  readonly schedules?: readonly Schedule[];
}

export class ConfigError extends DocketError {
  constructor(message: string) {
    super("ConfigError", message);
    this.name = "ConfigError";
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

function fieldTypes(
  value: unknown,
  where: string,
  fail: (m: string) => never,
): Record<string, FieldType> | undefined {
  if (value === undefined) return undefined;
  const problem = fieldTypesProblem(value, where);
  if (problem) fail(problem);
  return value as Record<string, FieldType>;
}

function participantSpec(
  name: string,
  value: unknown,
  root: string,
  fail: (m: string) => never,
): ParticipantSpec {
  const where = `participants.${name}`;
  if (!isObject(value))
    return fail(
      `${where} must be a map: { module: path } | { command: "…" } | { http: url } | { lambda: function } | { sfn: arn } | { external: true }`,
    );
  const timeoutMs = typeof value.timeout === "number" ? value.timeout * 1000 : 5 * 60 * 1000;
  if (typeof value.module === "string") return { kind: "module", path: resolve(root, value.module) };
  if (typeof value.command === "string")
    return { kind: "command", command: value.command, timeoutMs, cwd: root };
  if (typeof value.http === "string") {
    if (!/^https?:\/\//.test(value.http))
      fail(`${where}.http: ${JSON.stringify(value.http)} is not an http(s) URL`);
    return {
      kind: "http",
      url: value.http,
      timeoutMs,
      inputs: fieldTypes(value.inputs, `${where}.inputs`, fail),
      outputs: fieldTypes(value.outputs, `${where}.outputs`, fail),
    };
  }
  if (value.external === true) return { kind: "external" };
  for (const service of ["lambda", "sfn"] as const) {
    if (value[service] === undefined) continue;
    if (typeof value[service] !== "string" || value[service] === "")
      fail(
        `${where}.${service} must be a ${service === "lambda" ? "function name or ARN" : "state machine ARN"}`,
      );
    return { kind: "aws", target: `${service}:${value[service]}` };
  }
  return fail(`${where} needs one of module, command, http, lambda, sfn or external: true`);
}

/** Reads docket.config.yaml (all keys optional); without a file, the defaults beside `root`. */
export function loadConfig(file?: string, root = process.cwd()): DocketConfig {
  const path = file ?? join(root, "docket.config.yaml");
  const base = file ? dirname(resolve(file)) : root;
  const fail = (message: string): never => {
    throw new ConfigError(`${path}: ${message}`);
  };
  let data: unknown = {};
  if (existsSync(path)) {
    try {
      data = parse(readFileSync(path, "utf8")) ?? {};
    } catch (error) {
      fail(`not valid YAML: ${error instanceof Error ? error.message : String(error)}`);
    }
  } else if (file) fail("no such file");
  if (!isObject(data)) return fail("must be a map");
  const allowed = ["definitions", "database", "participants_dir", "participants", "schedules"];
  for (const key of Object.keys(data))
    if (!allowed.includes(key)) fail(`unknown key "${key}"; allowed: ${allowed.join(", ")}`);
  const participants: Record<string, ParticipantSpec> = {};
  if (data.participants !== undefined && !isObject(data.participants))
    fail("participants must be a map of names to kinds");
  for (const [name, value] of Object.entries((data.participants as Record<string, unknown>) ?? {}))
    participants[name] = participantSpec(name, value, base, fail);
  const text = (key: string, fallback: string) => {
    const value = data[key as keyof typeof data];
    if (value !== undefined && typeof value !== "string") fail(`${key} must be a path`);
    return resolve(base, (value as string | undefined) ?? fallback);
  };
  const { schedules, problems } = readScheduleMap(data.schedules);
  if (problems.length) fail(problems.join("; "));
  return {
    root: base,
    ...(schedules.length ? { schedules } : {}),
    definitions: text("definitions", "definitions"),
    database:
      (data.database as string) === ":memory:" ? ":memory:" : text("database", ".docket/docket.sqlite"),
    participantsDir: text("participants_dir", "participants"),
    participants,
  };
}

/** The kind of a participant: configured, else a module in the participants folder, else external. */
export function participantFor(config: DocketConfig, name: string): ParticipantSpec {
  const configured = config.participants[name];
  if (configured) return configured;
  if (/^[\w.-]+$/.test(name)) {
    for (const extension of [".ts", ".mts", ".js", ".mjs"]) {
      const path = join(config.participantsDir, `${name}${extension}`);
      if (existsSync(path)) return { kind: "module", path };
    }
  }
  return { kind: "external" };
}

/**
 * What the AWS engine makes of the configured participants: external workers get a queue of their
 * own; HTTP services, Lambda functions and state machines are called by the engine (targets).
 * Modules and commands run only embedded.
 */
export function awsParticipants(config: DocketConfig): {
  participants: string[];
  targets: Record<string, TargetSpec>;
} {
  const participants: string[] = [];
  const targets: Record<string, TargetSpec> = {};
  for (const [name, spec] of Object.entries(config.participants)) {
    if (spec.kind === "external") participants.push(name);
    else if (spec.kind === "http")
      targets[name] =
        spec.inputs || spec.outputs
          ? {
              http: spec.url,
              ...(spec.inputs ? { inputs: spec.inputs } : {}),
              ...(spec.outputs ? { outputs: spec.outputs } : {}),
            }
          : `http:${spec.url}`;
    else if (spec.kind === "aws") targets[name] = spec.target;
  }
  return { participants, targets };
}

/**
 * Runs scenario files (DESIGN §5) through the production advance loop (Runtime) over the in-memory
 * ports on a virtual clock: scripted replies, events and clock moves, expectations checked after
 * each step and at the end. A message the loop sets aside fails the scenario: no rule of the
 * language may leave a message unapplied.
 */
import { readFileSync } from "node:fs";
import { basename, dirname, relative, resolve } from "node:path";
import {
  type OperatorMessage,
  type ReplyStatus,
  rootContext,
  type Snapshot,
  type TaskCommand,
} from "../engine/types.js";
import { DocketError, MessageError, ScenarioError } from "../errors.js";
import { parseDuration } from "../language/duration.js";
import { processNameFromKey, readDefinition } from "../language/index.js";
import type { Definition, Json, JsonObject } from "../language/model.js";
import type { MemoryDefinitions } from "../runtime/memory.js";
import { MemoryHost } from "../runtime/memory-host.js";
import { type Expectation, parseScenario, type Scenario, type Step } from "./format.js";
import { describe, subsetMismatch } from "./match.js";

export interface ScenarioOutcome {
  readonly file: string;
  readonly name: string;
  readonly passed: boolean;
  readonly failure?: string;
}

/** Scenarios start on this virtual instant. */
export const SCENARIO_EPOCH = Date.UTC(2026, 0, 1);
const MAIN = "main";

function loadDefinition(path: string, cwd: string): Definition {
  return readDefinition(readFileSync(path, "utf8"), { file: relative(cwd, path) || path });
}

/** The scenario's definitions, each known by its name and its file's name; returns the main one's version. */
function registry(scenario: Scenario, dir: string, main: Definition, definitions: MemoryDefinitions): string {
  const version = definitions.add(main);
  for (const file of scenario.definitions ?? []) {
    const definition = loadDefinition(resolve(dir, file), process.cwd());
    definitions.add(definition, [definition.name, processNameFromKey(basename(file))]);
  }
  return version;
}

class ScenarioRun {
  readonly runtime: MemoryHost;

  constructor(readonly dir: string) {
    this.runtime = new MemoryHost({ now: SCENARIO_EPOCH });
  }

  get snapshot(): Snapshot {
    const snapshot = this.runtime.snapshot(MAIN);
    if (!snapshot) throw new ScenarioError("the instance did not start");
    return snapshot;
  }

  state(): string {
    const open = this.runtime.openTasks().map((t) => t.task.participant);
    return `status ${this.snapshot.status}${this.snapshot.fault ? ` (fault ${this.snapshot.fault.code}: ${this.snapshot.fault.message})` : ""}; open tasks: ${open.length ? open.join(", ") : "none"}`;
  }

  openTask(participant: string): TaskCommand {
    const task = this.runtime.openTasks().find((t) => t.task.participant === participant);
    if (!task) throw new ScenarioError(`no open task for participant "${participant}"; ${this.state()}`);
    return task;
  }

  lastTask(participant: string): TaskCommand {
    const task = [...this.runtime.dispatched].reverse().find((t) => t.task.participant === participant);
    if (!task) throw new ScenarioError(`participant "${participant}" was never sent a task; ${this.state()}`);
    return task;
  }

  operator(action: OperatorMessage["action"], participant?: string, fields?: JsonObject): Promise<void> {
    const node = participant ? this.incidentNode(participant) : undefined;
    return this.runtime.send(MAIN, {
      type: "operator",
      action,
      ...(node ? { node } : {}),
      ...(fields ? { fields } : {}),
    });
  }

  private incidentNode(participant: string): string {
    for (const incident of this.snapshot.incidents) {
      const task = this.runtime.dispatched.find((t) => t.task.id === incident.task);
      if (task?.task.participant === participant) return incident.node;
    }
    throw new ScenarioError(`no incident for participant "${participant}"; ${this.state()}`);
  }

  async step(step: Step): Promise<void> {
    const [kind, value] = Object.entries(step)[0] as [string, never];
    const handler = STEPS[kind as keyof typeof STEPS];
    await handler(this, value);
    this.checkNothingSetAside();
  }

  /** Fails on any message the loop refused: the language's rules must apply every message. */
  checkNothingSetAside(): void {
    const [first] = this.runtime.setAside;
    if (first)
      throw new ScenarioError(
        `a ${first.message.type} message for ${first.instance} could not be applied and was set aside: ${first.reason}`,
      );
  }
}

const STEPS: Record<
  Step extends infer S ? (S extends Record<infer K, unknown> ? K : never) : never,
  (run: ScenarioRun, value: never) => void | Promise<void>
> = {
  expect_task: (run, value: { participant: string; fields?: JsonObject }) => {
    const task = run.openTask(value.participant);
    const mismatch = value.fields ? subsetMismatch(value.fields, task.fields) : undefined;
    if (mismatch)
      throw new ScenarioError(
        `task for "${value.participant}": ${mismatch}; the task carries ${describe(task.fields)}`,
      );
  },
  expect_no_task: (run, value: { participant?: string }) => {
    const open = run.runtime
      .openTasks()
      .filter((t) => !value?.participant || t.task.participant === value.participant);
    if (open.length)
      throw new ScenarioError(
        `expected no open task${value?.participant ? ` for "${value.participant}"` : ""}, found ${open.map((t) => t.task.participant).join(", ")}`,
      );
  },
  reply: (
    run,
    value: {
      participant: string;
      status: string;
      fields?: JsonObject;
      field_files?: Record<string, string>;
      error?: JsonObject;
      details?: Json;
      duplicate?: boolean;
      refused?: string;
    },
  ) => {
    const task = value.duplicate ? run.lastTask(value.participant) : run.openTask(value.participant);
    const fields: JsonObject = { ...value.fields };
    for (const [key, path] of Object.entries(value.field_files ?? {}))
      fields[key] = readFileSync(resolve(run.dir, path), "utf8");
    const { id, node, attempt } = task.task;
    // Checked as a worker's reply is (its shape and size: MessageError naming the field), then sent.
    const checked = refusal(() =>
      run.runtime.runtime.replyMessage({
        task: { id, node, attempt, instance: task.task.instance },
        status: value.status as ReplyStatus,
        ...(value.fields || value.field_files ? { fields } : {}),
        ...(value.error ? { error: value.error } : {}),
        ...(value.details === undefined ? {} : { details: value.details }),
      }),
    );
    if (value.refused === undefined) {
      if ("error" in checked) throw checked.error;
      return run.runtime.send(checked.instance, checked.message);
    }
    if ("error" in checked && checked.error.message.includes(value.refused)) return;
    throw new ScenarioError(
      `expected the reply to be refused with ${JSON.stringify(value.refused)}; ${"error" in checked ? `it was refused: ${checked.error.message}` : "it was taken"}`,
    );
  },
  publish: async (run, value: { event: string; key?: string | number; data?: Json }) => {
    await run.runtime.publish(
      value.event,
      value.key === undefined ? undefined : String(value.key),
      value.data ?? null,
    );
  },
  advance: (run, value: string | number) => {
    return run.runtime.advance(Math.round((parseDuration(value) ?? 0) * 1000));
  },
  expect_status: (run, value: string) => {
    if (run.snapshot.status !== value) throw new ScenarioError(`expected status ${value}; ${run.state()}`);
  },
  expect_note: (run, value: string) => {
    const notes = run.runtime
      .snapshots()
      .flatMap((snapshot) => run.runtime.history(snapshot.id))
      .flatMap((entry) => entry.notes.map((note) => `${note.kind}: ${note.reason}`));
    if (!notes.some((note) => note.includes(value)))
      throw new ScenarioError(
        `expected a history note containing ${JSON.stringify(value)}; notes: ${notes.join(" | ") || "none"}`,
      );
  },
  expect_context: (run, value: JsonObject) => {
    const mismatch = subsetMismatch(value, rootContext(run.snapshot));
    if (mismatch) throw new ScenarioError(`context: ${mismatch}`);
  },
  cancel: (run) => run.operator("cancel"),
  pause: (run) => run.operator("pause"),
  resume: (run) => run.operator("resume"),
  retry: (run, value: { participant: string }) => run.operator("retry", value.participant),
  skip: (run, value: { participant: string; fields?: JsonObject }) =>
    run.operator("skip", value.participant, value.fields ?? {}),
  fail: (run, value: { participant: string }) => run.operator("fail", value.participant),
};

/** What `check` gives, or the MessageError it refuses with. */
function refusal<T extends object>(check: () => T): T | { error: MessageError } {
  try {
    return check();
  } catch (error) {
    if (error instanceof MessageError) return { error };
    throw error;
  }
}

function checkExpectation(run: ScenarioRun, expect: Expectation): void {
  const snapshot = run.snapshot;
  if (expect.status && snapshot.status !== expect.status)
    throw new ScenarioError(`expected final status ${expect.status}; ${run.state()}`);
  if (expect.fault) {
    const { message_includes: includes, ...exact } = expect.fault;
    const actual = snapshot.fault
      ? { code: snapshot.fault.code, message: snapshot.fault.message, node: snapshot.fault.node }
      : undefined;
    const mismatch = actual ? subsetMismatch(exact as JsonObject, actual) : "the instance has no fault";
    if (mismatch) throw new ScenarioError(`fault: ${mismatch}`);
    if (includes && !actual?.message.includes(includes)) {
      throw new ScenarioError(
        `fault message ${JSON.stringify(actual?.message)} does not contain ${JSON.stringify(includes)}`,
      );
    }
  }
  if (expect.context) {
    const mismatch = subsetMismatch(expect.context, rootContext(snapshot));
    if (mismatch) throw new ScenarioError(`final context: ${mismatch}`);
  }
  if (expect.tasks) {
    const sent = run.runtime.dispatched.map((t) => t.task.participant);
    if (JSON.stringify(sent) !== JSON.stringify(expect.tasks))
      throw new ScenarioError(
        `tasks: expected [${expect.tasks.join(", ")}], dispatched [${sent.join(", ")}]`,
      );
  }
}

export async function runScenario(scenario: Scenario, file: string): Promise<ScenarioOutcome> {
  const dir = dirname(file);
  const name = scenario.name ?? basename(file);
  let index = -1;
  try {
    if (scenario.expect?.rejected !== undefined) return expectRejected(scenario, file, name);
    const main = loadDefinition(resolve(dir, scenario.definition), process.cwd());
    const fields: JsonObject = { ...scenario.fields };
    for (const [key, path] of Object.entries(scenario.field_files ?? {}))
      fields[key] = readFileSync(resolve(dir, path), "utf8");
    const run = new ScenarioRun(dir);
    const version = registry(scenario, dir, main, run.runtime.definitions);
    await run.runtime.launch(main.name, { id: MAIN, fields, version });
    run.checkNothingSetAside();
    for (const [i, step] of (scenario.steps ?? []).entries()) {
      index = i;
      await run.step(step);
    }
    index = -1;
    checkExpectation(run, scenario.expect ?? {});
    return { file, name, passed: true };
  } catch (error) {
    if (!(error instanceof DocketError)) throw error;
    const where = index >= 0 ? `step ${index + 1} (${Object.keys(scenario.steps?.[index] ?? {})[0]}): ` : "";
    return { file, name, passed: false, failure: `${where}${error.message}` };
  }
}

/** A scenario whose definition must be rejected, with an error containing `expect.rejected`. */
function expectRejected(scenario: Scenario, file: string, name: string): ScenarioOutcome {
  const wanted = scenario.expect?.rejected ?? "";
  try {
    loadDefinition(resolve(dirname(file), scenario.definition), process.cwd());
  } catch (error) {
    if (!(error instanceof DocketError)) throw error;
    if (error.message.includes(wanted)) return { file, name, passed: true };
    return {
      file,
      name,
      passed: false,
      failure: `the definition was rejected, but the error does not contain ${JSON.stringify(wanted)}:\n${error.message}`,
    };
  }
  return {
    file,
    name,
    passed: false,
    failure: `expected the definition to be rejected with ${JSON.stringify(wanted)}, but it was accepted`,
  };
}

export async function runScenarioFile(file: string): Promise<ScenarioOutcome> {
  try {
    return await runScenario(parseScenario(readFileSync(file, "utf8"), file), file);
  } catch (error) {
    if (error instanceof DocketError)
      return { file, name: basename(file), passed: false, failure: error.message };
    if (error instanceof Error && "code" in error && error.code === "ENOENT") {
      return {
        file,
        name: basename(file),
        passed: false,
        failure: `cannot read ${(error as { path?: string }).path ?? file}: no such file`,
      };
    }
    throw error;
  }
}

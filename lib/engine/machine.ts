/**
 * The working state of one transition: a copy-on-write draft of the snapshot, the commands and
 * notes produced, and an agenda of node starts and completions run iteratively (no recursion, so
 * a long synchronous loop cannot overflow the stack, and a step budget ends a runaway one).
 */
import { ExpressionError } from "../errors.js";
import { evaluate, evaluateCondition } from "../expr/index.js";
import { CelConverter, type CelValue } from "../expr/values.js";
import type { Definition, Expression, FlowNode, Json, JsonObject } from "../language/model.js";
import { indexDefinition, staticPath } from "../language/validate.js";
import { Agenda } from "./agenda.js";
import { celContext, flatten, isReserved, jsonEqual, writeTarget } from "./scopes.js";
import type {
  Command,
  ConsumedEvent,
  Fault,
  Incident,
  InstanceStatus,
  NodeState,
  Note,
  ParentRef,
  Snapshot,
  TaskCommand,
} from "./types.js";

/** Node starts and completions processed in one transition before `StepLimit` is raised. */
export const STEP_BUDGET = 500_000;
/**
 * Steps granted once, after `StepLimit` is raised, to its handler and what follows it; when they
 * run out too the instance faults outright, so a handler that never waits still ends.
 */
export const STEP_RESERVE = 50_000;

/**
 * One step of a transition: start a node, hear a child complete, or apply a message's effect at
 * its node (run as a step so that an expression failing there faults that node like any other).
 */
export type Op =
  | { readonly op: "start"; readonly path: string }
  | { readonly op: "done"; readonly parent: string; readonly child: string }
  | { readonly op: "apply"; readonly path: string; readonly effect: () => void };

/** The node an op acts at: where a fault it raises comes from. */
export const opNode = (op: Op): string => (op.op === "done" ? op.parent : op.path);

function entries<V>(map: ReadonlyMap<string, V>): [string, V][] {
  const out: [string, V][] = new Array(map.size);
  let i = 0;
  for (const entry of map) out[i++] = entry;
  return out;
}

const INST_KEYS = ["iteration", "current", "fault"] as const;

interface ContextView {
  readonly path: string;
  readonly version: number;
  readonly context: Record<string, CelValue>;
  readonly inst: Record<string, CelValue>;
}

export class Machine {
  readonly id: string;
  readonly process: string;
  readonly version: string;
  readonly parent?: ParentRef;
  readonly moved?: Snapshot["moved"];
  readonly createdAt: number;
  status: InstanceStatus;
  paused: boolean;
  seq: number;
  steps: number;
  fault?: Fault;
  incidents: Incident[];
  held: TaskCommand[];
  consumed: ConsumedEvent[];
  readonly nodes: Map<string, NodeState>;
  readonly scopes: Map<string, JsonObject>;
  attempts: Record<string, number>;
  readonly commands: Command[] = [];
  readonly notes: Note[] = [];
  readonly agenda = new Agenda();
  /**
   * Ops to run once the agenda is empty, the latest first (a race's next branch, flow.ts): what
   * was set going before them has then run until it completed or waits.
   */
  readonly later: Op[] = [];
  /**
   * Scopes made or copied in this transition, so written in place: a short list, as most
   * transitions touch few, and a set once a loop has opened many (a search of a long list per
   * write made a 100,000-iteration foreach quadratic).
   */
  private owned: string[] | Set<string> = [];
  /** Counts changes to the scopes: the CEL view of the context is rebuilt only after one. */
  private scopesVersion = 0;
  private view?: ContextView;
  /** Converts context values for expressions, each object or list once per transition. */
  private converter?: CelConverter;
  /**
   * Collected lists (collect.ts) made in this transition, filled in place; a list that came with
   * the snapshot is copied first, so the input is never mutated. Made when first needed, as the
   * converter is: most transitions need neither.
   */
  madeLists?: WeakSet<readonly Json[]>;
  private attemptsOwned = false;
  private readonly index: Map<string, FlowNode>;
  private budget = STEP_BUDGET;
  private reserveDrawn = false;

  constructor(
    readonly definition: Definition,
    snapshot: Snapshot,
    readonly now: number,
    /** The rules this step is applied under (semantics.ts). */
    readonly semantics: number,
  ) {
    this.id = snapshot.id;
    this.moved = snapshot.moved;
    this.process = snapshot.process;
    this.version = snapshot.version;
    this.parent = snapshot.parent;
    this.createdAt = snapshot.createdAt;
    this.status = snapshot.status;
    this.paused = snapshot.paused;
    this.seq = snapshot.seq;
    this.steps = snapshot.steps;
    this.fault = snapshot.fault;
    this.incidents = snapshot.incidents as Incident[];
    this.held = snapshot.held as TaskCommand[];
    this.consumed = snapshot.consumed as ConsumedEvent[];
    this.nodes = new Map(snapshot.nodes);
    this.scopes = new Map(snapshot.scopes);
    this.attempts = snapshot.attempts as Record<string, number>;
    this.index = indexDefinition(definition);
  }

  toSnapshot(): Snapshot {
    // Built field by field (no conditional spreads): this runs on every step.
    const snapshot: { -readonly [K in keyof Snapshot]: Snapshot[K] } = {
      format: 2,
      semantics: this.semantics,
      id: this.id,
      process: this.process,
      version: this.version,
      status: this.status,
      paused: this.paused,
      createdAt: this.createdAt,
      updatedAt: this.now,
      steps: this.steps,
      seq: this.seq,
      attempts: this.attempts,
      scopes: entries(this.scopes),
      nodes: entries(this.nodes),
      held: this.held,
      incidents: this.incidents,
      consumed: this.consumed,
    };
    if (this.parent) snapshot.parent = this.parent;
    if (this.fault) snapshot.fault = this.fault;
    if (this.moved) snapshot.moved = this.moved;
    return snapshot;
  }

  get finished(): boolean {
    return this.status === "completed" || this.status === "faulted" || this.status === "canceled";
  }

  nextId(prefix: string): string {
    this.seq += 1;
    return `${prefix}${this.seq}`;
  }

  note(kind: Note["kind"], reason: string, node?: string): void {
    this.notes.push(node === undefined ? { kind, reason } : { kind, reason, node });
  }

  /** The model node of a runtime path. */
  model(path: string): FlowNode {
    const node = this.index.get(staticPath(path));
    if (!node) throw new ExpressionError("", `no node ${path} in ${this.definition.name}`);
    return node;
  }

  // ---- scopes --------------------------------------------------------------------------------

  openScope(path: string, values: JsonObject): void {
    this.scopes.set(path, values);
    this.own(path);
    this.scopesVersion++;
  }

  closeScope(path: string): void {
    if (path !== "0" && this.scopes.delete(path)) this.scopesVersion++;
  }

  private own(path: string): void {
    if (!Array.isArray(this.owned)) this.owned.add(path);
    else if (this.owned.length < 16) this.owned.push(path);
    else this.owned = new Set([...this.owned, path]);
  }

  context(path: string): JsonObject {
    return flatten(this.scopes, path);
  }

  /** Writes one key by the scoping rule, copying the target scope once per transition. */
  write(path: string, key: string, value: Json): void {
    const target = writeTarget(this.scopes, path, key);
    if (target === undefined) return;
    if (!(Array.isArray(this.owned) ? this.owned.includes(target) : this.owned.has(target))) {
      this.scopes.set(target, { ...this.scopes.get(target) });
      this.own(target);
    }
    (this.scopes.get(target) as JsonObject)[key] = value;
    this.scopesVersion++;
  }

  /** Reads one key as a node at `path` sees it. */
  read(path: string, key: string): Json | undefined {
    const target = writeTarget(this.scopes, path, key);
    return target === undefined ? undefined : this.scopes.get(target)?.[key];
  }

  /**
   * Merges a participant's fields: only keys that differ from what it was sent are written.
   * Without `sent` (a sequential task), what it was sent is what the context holds now.
   */
  merge(path: string, fields: JsonObject, sent: JsonObject | undefined): void {
    for (const key of Object.keys(fields)) {
      if (isReserved(key)) continue;
      const value = fields[key] as Json;
      const before = sent ? sent[key] : this.read(path, key);
      if (!jsonEqual(before, value)) this.write(path, key, value);
    }
  }

  // ---- expressions ---------------------------------------------------------------------------

  private cachedNow?: Date;

  /** `now` for expressions, made once per transition. */
  private get nowDate(): Date {
    this.cachedNow ??= new Date(this.now);
    return this.cachedNow;
  }

  variables(path: string, extra: { event?: Json; result?: Json } = {}): Record<string, unknown> {
    const view = this.contextView(path);
    return {
      context: view.context,
      inst: view.inst,
      event: this.cel.of(extra.event ?? null),
      result: this.cel.of(extra.result ?? null),
      now: this.nowDate,
    };
  }

  private get cel(): CelConverter {
    this.converter ??= new CelConverter();
    return this.converter;
  }

  /** Context values converted for expressions in this transition (elements at any depth). */
  get celConversions(): number {
    return this.converter?.converted ?? 0;
  }

  /**
   * `context` and `inst` as expressions at `path` see them. Kept until the scopes change, and then
   * rebuilt from converted values: its cost is the number of keys in view, not the data under them.
   */
  private contextView(path: string): ContextView {
    const cached = this.view;
    if (cached && cached.path === path && cached.version === this.scopesVersion) return cached;
    const context = celContext(this.scopes, path, this.cel);
    const inst: Record<string, CelValue> = { id: this.id };
    for (const key of INST_KEYS) {
      const value = context[`inst:${key}`];
      if (value !== undefined) inst[key] = value;
    }
    this.view = { path, version: this.scopesVersion, context, inst };
    return this.view;
  }

  /** Any condition true (bureaucrat's rule for several `<condition>`s); none means true. */
  conditionsHold(conditions: readonly Expression[], path: string, extra?: { event?: Json }): boolean {
    if (!conditions.length) return true;
    const variables = this.variables(path, extra);
    return conditions.some((condition) => evaluateCondition(condition, variables));
  }

  evaluate(expression: Expression, path: string, extra?: { event?: Json; result?: Json }): Json {
    return evaluate(expression, this.variables(path, extra));
  }

  // ---- agenda --------------------------------------------------------------------------------

  start(path: string): void {
    this.agenda.push({ op: "start", path });
  }

  /** Completes a node: its state and scope go, and its parent hears of it. */
  complete(path: string): void {
    this.nodes.delete(path);
    this.closeScope(path);
    if (path === "0") return;
    this.agenda.push({ op: "done", parent: path.slice(0, path.lastIndexOf(".")), child: path });
  }

  /** Queues a message's effect at `path`, to run as the transition's first step. */
  applyAt(path: string, effect: () => void): true {
    this.agenda.push({ op: "apply", path, effect });
    return true;
  }

  /** Counts one step; false when the step budget is spent. */
  takeStep(): boolean {
    return this.budget-- > 0;
  }

  /** Refills the budget with the reserve, once per transition; false when it was drawn already. */
  drawReserve(): boolean {
    if (this.reserveDrawn) return false;
    this.reserveDrawn = true;
    this.budget = STEP_RESERVE;
    return true;
  }

  /** Drops queued ops for nodes under `prefix` (they were canceled). */
  dropAgenda(prefix: string): void {
    const under = `${prefix}.`;
    this.agenda.drop((op) => {
      const path = op.op === "done" ? op.child : op.path;
      return path === prefix || path.startsWith(under);
    });
  }

  // ---- commands ------------------------------------------------------------------------------

  emit(command: Command): void {
    this.commands.push(command);
  }

  /** Sends a task, or holds it while the instance is paused. */
  dispatch(task: TaskCommand): void {
    if (this.paused) this.held = [...this.held, task];
    else this.commands.push(task);
  }

  /**
   * The attempt number of the next task at `path`. A path is dispatched again only by a retry
   * (which knows its previous attempt) or by a loop's next iteration, so only paths inside loops
   * keep a counter in the snapshot: their task ids stay unique across iterations.
   */
  nextAttempt(path: string, previous: number, looped: boolean): number {
    // Outside loops the path's own count suffices, unless a migration left a counter there (a
    // node moved away from it, whose tasks' ids a new one must not take again).
    if (!looped && this.attempts[path] === undefined) return previous + 1;
    const attempt = Math.max(this.attempts[path] ?? 0, previous) + 1;
    if (!this.attemptsOwned) {
      this.attempts = { ...this.attempts };
      this.attemptsOwned = true;
    }
    this.attempts[path] = attempt;
    return attempt;
  }

  publish(event: string, detail: JsonObject = {}): void {
    this.emit({ type: "publish", event, detail: { instance: this.id, process: this.process, ...detail } });
  }
}

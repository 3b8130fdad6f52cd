/**
 * The definition model: one typed tree that the XML and the YAML/JSON readers both produce.
 * Plain data (no functions), so a definition can be stored, hashed and compared.
 */
import type { ScheduleDecl } from "./schedule.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Where something stands in its source file. */
export interface SourcePos {
  readonly line: number;
  readonly col: number;
}

/** A CEL expression as written, with the CEL text it compiles to (after the Python-compat rewrite). */
export interface Expression {
  readonly source: string;
  readonly cel: string;
  readonly pos?: SourcePos;
}

export type PropertyType = "int" | "float" | "str" | "bool" | "json";

export interface Property {
  readonly name: string;
  readonly type: PropertyType;
  readonly value: Json;
}

/** A fault handler of a scope: `codes` undefined is the `default` handler. */
export interface FaultHandler {
  readonly id: string;
  readonly codes?: readonly string[];
  readonly children: readonly Activity[];
}

/** The `<context>` of a scope: its properties and its fault handlers. */
export interface Scope {
  readonly properties: readonly Property[];
  readonly handlers: readonly FaultHandler[];
}

interface Node {
  /** The node's path, `0.2.1`: segment i is the index among the parent's children. */
  readonly id: string;
  /**
   * The activity's stable id as written (`id` attribute or key): what `docket migrate` maps an
   * active node by across versions, whatever its path there.
   */
  readonly ref?: string;
  readonly pos?: SourcePos;
}

export interface ProcessNode extends Node {
  readonly kind: "process";
  readonly scope: Scope;
  readonly children: readonly Activity[];
}

export interface SequenceNode extends Node {
  readonly kind: "sequence";
  readonly scope?: Scope;
  readonly children: readonly Activity[];
}

export interface ActionNode extends Node {
  readonly kind: "action";
  readonly participant: string;
  /** Seconds before the task times out (fault `Timeout`). */
  readonly timeout?: number;
  /**
   * Seconds the task may go without a heartbeat from its worker before it times out (fault
   * `Timeout`), as Step Functions' HeartbeatSeconds: the first is due this long after it is sent.
   */
  readonly heartbeat?: number;
  /** How many times an `error` reply is retried before an incident suspends the instance. */
  readonly retry: number;
  /** Seconds before the first retry; each further retry waits twice as long. */
  readonly backoff?: number;
  /** CEL giving the task's fields (a map); default: the flattened context. */
  readonly input?: Expression;
  /** CEL over `context` and `result` (the reply's fields) giving the keys to write; default: the changed keys. */
  readonly output?: Expression;
}

export interface CaseNode extends Node {
  readonly kind: "case";
  readonly conditions: readonly Expression[];
  readonly scope?: Scope;
  readonly children: readonly Activity[];
}

export interface SwitchNode extends Node {
  readonly kind: "switch";
  readonly cases: readonly CaseNode[];
}

export interface WhileNode extends Node {
  readonly kind: "while";
  readonly conditions: readonly Expression[];
  readonly scope?: Scope;
  readonly children: readonly Activity[];
}

/** What a foreach iterates: a dotted context path (bureaucrat) or a CEL expression. */
export type Selector = { readonly path: readonly string[] } | { readonly expression: Expression };

/** A foreach's `collect`: `value` is evaluated at the end of each iteration, in its scope; the values, in item order, go to `into`. */
export interface Collect {
  readonly value: Expression;
  readonly into: string;
}

export interface ForeachNode extends Node {
  readonly kind: "foreach";
  readonly select: Selector;
  readonly parallel: boolean;
  readonly collect?: Collect;
  readonly scope?: Scope;
  readonly children: readonly Activity[];
}

export interface AllNode extends Node {
  readonly kind: "all";
  readonly scope?: Scope;
  readonly children: readonly Activity[];
}

/** Runs its children in parallel; the first to complete wins and the others are canceled. */
export interface RaceNode extends Node {
  readonly kind: "race";
  readonly scope?: Scope;
  readonly children: readonly Activity[];
}

/** The process a `call` starts: a context property holding XML (`$prop`) or a registered name. */
export type ProcessRef = { readonly property: string } | { readonly name: string; readonly version?: string };

export interface CallNode extends Node {
  readonly kind: "call";
  readonly process: ProcessRef;
  readonly input?: Expression;
  readonly output?: Expression;
}

export interface DelayNode extends Node {
  readonly kind: "delay";
  /** Seconds to wait; exactly one of `duration` and `until` is set. */
  readonly duration?: number;
  /** CEL giving the time to wait until (a timestamp, an ISO string or epoch seconds). */
  readonly until?: Expression;
}

export interface AwaitNode extends Node {
  readonly kind: "await";
  readonly event: string;
  readonly conditions: readonly Expression[];
  /** CEL giving the correlation key; without it, any key matches. */
  readonly key?: Expression;
  readonly timeout?: number;
  /** The property that receives the event's data. */
  readonly into?: string;
}

export interface FaultNode extends Node {
  readonly kind: "fault";
  readonly code: string;
  readonly message: string;
}

export interface AssignNode extends Node {
  readonly kind: "assign";
  readonly property: string;
  readonly expression: Expression;
}

export type Activity =
  | SequenceNode
  | ActionNode
  | SwitchNode
  | WhileNode
  | ForeachNode
  | AllNode
  | RaceNode
  | CallNode
  | DelayNode
  | AwaitNode
  | FaultNode
  | AssignNode;

/** Every node the interpreter visits: the activities, the root process and switch cases. */
export type FlowNode = Activity | ProcessNode | CaseNode;

export type ActivityKind = Activity["kind"];

export const ACTIVITY_KINDS: readonly ActivityKind[] = [
  "sequence",
  "action",
  "switch",
  "while",
  "foreach",
  "all",
  "race",
  "call",
  "delay",
  "await",
  "fault",
  "assign",
];

export interface Definition {
  /** The process name: the `name` attribute, else the file's key without its extension. */
  readonly name: string;
  readonly root: ProcessNode;
  /** The file it was read from, for messages. */
  readonly source?: string;
  /** When to launch it on its own (`schedule:`/`schedules:`, `<schedule>`): see schedule.ts. */
  readonly schedules?: readonly ScheduleDecl[];
}

/** The children a node runs in order (empty for leaves and switches). */
export function childrenOf(node: FlowNode): readonly Activity[] {
  return "children" in node ? node.children : [];
}

/** The scope a node declares, if it can hold one. */
export function scopeOf(node: FlowNode): Scope | undefined {
  return "scope" in node ? node.scope : undefined;
}

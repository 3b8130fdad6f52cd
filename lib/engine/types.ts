/**
 * The interpreter's data: the snapshot of an instance (plain JSON, versioned), the messages it
 * applies and the commands it returns. Nothing here does I/O.
 */
import type { Json, JsonObject, ProcessRef } from "../language/model.js";

/** See semantics.ts for each format and the upgrades between them. */
export const SNAPSHOT_FORMAT = 2;

export type InstanceStatus = "running" | "suspended" | "completed" | "faulted" | "canceled";
export const FINAL_STATUSES: readonly InstanceStatus[] = ["completed", "faulted", "canceled"];
/** Every status, in the order operators read them (the API's listing and counts, the console). */
export const STATUSES: readonly InstanceStatus[] = ["running", "suspended", ...FINAL_STATUSES];

export interface Fault {
  /** A unique error id, shown in history, logs and the CLI. */
  readonly id: string;
  readonly code: string;
  readonly message: string;
  /** The runtime path of the node that raised it. */
  readonly node: string;
}

/** An action whose `error` replies ran out of retries: the instance waits for an operator. */
export interface Incident {
  readonly id: string;
  readonly node: string;
  readonly task: string;
  readonly attempt: number;
  readonly error: { readonly code: string; readonly message: string };
  readonly at: number;
}

export interface ParentRef {
  readonly instance: string;
  readonly node: string;
  readonly child: string;
}

/** The state of one active node, by its runtime path. */
export type NodeState =
  /** process, sequence, case, a parallel foreach branch, a fault handler body: `i` is the running child. */
  | { readonly k: "seq"; readonly i: number }
  | { readonly k: "while"; readonly n: number; readonly i: number }
  /** `collected`: the `collect` values of the iterations done so far (with a `collect` only). */
  | {
      readonly k: "foreach";
      readonly n: number;
      readonly i: number;
      readonly items: readonly Json[];
      readonly collected?: readonly Json[];
    }
  /** `collected`: the `collect` value of each branch done, at its item's index (null until then). */
  | { readonly k: "pforeach"; readonly open: number; readonly collected?: readonly Json[] }
  | { readonly k: "all"; readonly open: number }
  /** Its branches run until the first completes; then the others are canceled. */
  | { readonly k: "race" }
  | { readonly k: "switch" }
  /** A scope whose fault handler runs (at `<path>.f<h>`). */
  | { readonly k: "handling" }
  | {
      readonly k: "action";
      readonly task: string;
      readonly attempt: number;
      /** `error` replies retried so far. */
      readonly tries: number;
      readonly wait: "reply" | "backoff" | "incident";
      /** The fields sent, kept where a reply must be diffed against them (parallel branches, input mappings). */
      readonly sent?: JsonObject;
      readonly timer?: string;
      /** The heartbeat timer (an action with `heartbeat`): due when the task has been silent that long. */
      readonly beat?: string;
      /** When the task's last heartbeat was applied (ms), and the details it carried. */
      readonly heard?: number;
      readonly details?: Json;
    }
  | { readonly k: "delay"; readonly timer: string }
  /**
   * `key`: the correlation key as evaluated when it subscribed (none: any key), so an event taken
   * by another await is recorded for this one only if it could take it too. Snapshots written
   * before it existed have no `key` on keyed awaits: they count as taking any key.
   */
  | { readonly k: "await"; readonly subscription: string; readonly timer?: string; readonly key?: string }
  | { readonly k: "call"; readonly child: string; readonly sent?: JsonObject };

export type ActionState = Extract<NodeState, { readonly k: "action" }>;

export interface Snapshot {
  readonly format: typeof SNAPSHOT_FORMAT;
  /** The interpreter's semantics version its last step was applied under (semantics.ts). */
  readonly semantics: number;
  readonly id: string;
  readonly process: string;
  /** The definition version the instance is pinned to. */
  readonly version: string;
  readonly status: InstanceStatus;
  readonly paused: boolean;
  readonly parent?: ParentRef;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Messages applied. */
  readonly steps: number;
  /** Counter for the ids the instance makes (timers, subscriptions, children, errors). */
  readonly seq: number;
  /** Dispatches so far per runtime path: the attempt number of the next task is one more. */
  readonly attempts: Readonly<Record<string, number>>;
  /**
   * Live scopes' contexts as [runtime path of the node holding it, context] pairs; `0` is the
   * process. Pairs, not an object: the keys change on every step, and a Map built from pairs is
   * several times faster to copy than an object whose shape keeps changing.
   */
  readonly scopes: readonly (readonly [string, JsonObject])[];
  /** Active nodes' states as [runtime path, state] pairs. */
  readonly nodes: readonly (readonly [string, NodeState])[];
  /** Tasks held back while the instance is paused. */
  readonly held: readonly TaskCommand[];
  readonly incidents: readonly Incident[];
  readonly fault?: Fault;
  /** Events already taken by an await: each wakes an await once, and only those waiting for it then. */
  readonly consumed: readonly ConsumedEvent[];
  /**
   * Nodes a migration moved, as [old runtime path, new] pairs: a message still addressed to the old
   * path (a reply to a task sent before, a timer, an event) is taken to the new (migrate.ts).
   */
  readonly moved?: readonly (readonly [string, string])[];
}

/**
 * An event an await took: its id, when, and the subscriptions of the other awaits that were
 * waiting for it at that moment (the same event name, and its key or none) and have not taken it
 * yet, nor stopped waiting: each may take it, once. Without a third element no await may take it
 * again (none was left, or the snapshot was written before the element existed).
 */
export type ConsumedEvent = readonly [id: string, at: number, waiting?: readonly string[]];

export interface TaskRef {
  readonly id: string;
  readonly instance: string;
  readonly node: string;
  readonly participant: string;
  readonly attempt: number;
  /** The action's `heartbeat` in seconds: how often the worker must say it is still at work. */
  readonly heartbeat?: number;
}

export interface TaskCommand {
  readonly type: "task";
  readonly task: TaskRef;
  readonly fields: JsonObject;
}

/** What a `call` starts: a definition by name, or one held as XML in the context. */
export type ChildProcess = { readonly name: string; readonly version?: string } | { readonly source: string };

export type Command =
  | TaskCommand
  | {
      readonly type: "timer";
      readonly timer: string;
      readonly instance: string;
      readonly node: string;
      readonly due: number;
    }
  | { readonly type: "cancel-timer"; readonly timer: string }
  | {
      readonly type: "subscribe";
      readonly subscription: string;
      readonly instance: string;
      readonly node: string;
      readonly event: string;
      readonly key?: string;
    }
  | { readonly type: "unsubscribe"; readonly subscription: string }
  | {
      readonly type: "start-child";
      readonly child: string;
      readonly parent: ParentRef;
      readonly process: ChildProcess;
      readonly fields: JsonObject;
    }
  | { readonly type: "cancel-child"; readonly child: string }
  | { readonly type: "notify-parent"; readonly message: ChildMessage }
  | { readonly type: "publish"; readonly event: string; readonly detail: JsonObject }
  /** The instance has ended: the runtime can release what it kept for it. */
  | {
      readonly type: "finish";
      readonly instance: string;
      readonly status: "completed" | "faulted" | "canceled";
    };

export interface LaunchMessage {
  readonly type: "launch";
  readonly instance: string;
  /** The definition version (content hash) the instance is pinned to. */
  readonly version?: string;
  /** Set by the runtime: the process name as launched, for messages. */
  readonly process?: string;
  readonly fields?: JsonObject;
  readonly parent?: ParentRef;
}

/** `heartbeat` answers nothing: the worker is still at the task (it may carry `details`). */
export type ReplyStatus = "done" | "critical" | "error" | "heartbeat";

export interface ReplyMessage {
  readonly type: "reply";
  readonly task: {
    readonly id: string;
    readonly instance?: string;
    readonly node: string;
    readonly attempt: number;
  };
  readonly status: ReplyStatus;
  readonly fields?: JsonObject;
  readonly error?: { readonly code?: string; readonly message?: string };
  /** A heartbeat's progress report, kept on the task for operators. */
  readonly details?: Json;
}

export interface TimerMessage {
  readonly type: "timer";
  readonly node: string;
  readonly timer: string;
}

export interface EventMessage {
  readonly type: "event";
  readonly node: string;
  readonly subscription: string;
  /** The event's id, so it wakes this instance once. */
  readonly id: string;
  readonly name: string;
  readonly key?: string;
  readonly data?: Json;
}

export interface ChildMessage {
  readonly type: "child";
  readonly instance: string;
  readonly node: string;
  readonly child: string;
  readonly status: "completed" | "faulted" | "canceled";
  readonly fields?: JsonObject;
  readonly fault?: { readonly code: string; readonly message: string };
}

export type OperatorAction = "pause" | "resume" | "cancel" | "retry" | "skip" | "fail";

export interface OperatorMessage {
  readonly type: "operator";
  readonly action: OperatorAction;
  /** The node of the incident (retry/skip/fail); default: the oldest incident. */
  readonly node?: string;
  readonly fields?: JsonObject;
  readonly reason?: string;
  /**
   * The command's own id, from the operations API: two commands alike (pause, resume, pause) are
   * two messages, where a FIFO inbox that deduplicates by content would drop the second.
   */
  readonly id?: string;
}

/**
 * Moves the instance to another version of its process (`docket migrate`): applied by the runtime,
 * which holds both definitions (engine/migrate.ts plans and makes the move). Kept in the history.
 */
export interface MigrateMessage {
  readonly type: "migrate";
  /** The version (content hash) to move to. */
  readonly to: string;
  /** The version it was on when the migration was asked for (for the history). */
  readonly from?: string;
  /** Explicit mappings, old=new: stable ids or paths. */
  readonly map?: Readonly<Record<string, string>>;
  readonly id?: string;
}

export type Message =
  | LaunchMessage
  | ReplyMessage
  | TimerMessage
  | EventMessage
  | ChildMessage
  | OperatorMessage
  | MigrateMessage;

/**
 * Kept in the history: why a message changed nothing (`ignored`, `rejected`), what the instance
 * waits for or a fault a handler caught (`waiting`), an active node that was canceled (`canceled`:
 * a race's losing branch, what a fault handler or the instance's end stopped).
 */
export interface Note {
  readonly kind: "ignored" | "rejected" | "waiting" | "canceled";
  readonly reason: string;
  /** The node it is about: for a handled fault the node that raised it, for `canceled` the node canceled. */
  readonly node?: string;
}

export interface TransitionResult {
  readonly snapshot: Snapshot;
  readonly commands: readonly Command[];
  readonly notes: readonly Note[];
}

export type { Json, JsonObject, ProcessRef };

/** The state of an active node of a snapshot, if any. */
export function nodeState(snapshot: Snapshot, path: string): NodeState | undefined {
  for (const [key, state] of snapshot.nodes) if (key === path) return state;
  return undefined;
}

/**
 * Whether an action of the instance still waits for task `id`: not when the instance ended, nor
 * when the action was canceled, answered or moved on to another attempt (a late reply is ignored).
 */
export function awaitsTask(snapshot: Snapshot, id: string): boolean {
  if (FINAL_STATUSES.includes(snapshot.status)) return false;
  return snapshot.nodes.some(
    ([, state]) => state.k === "action" && state.task === id && state.wait === "reply",
  );
}

/** The process scope's context: the instance's data. */
export function rootContext(snapshot: Snapshot): JsonObject {
  for (const [key, context] of snapshot.scopes) if (key === "0") return context;
  return {};
}

/**
 * The ports the runtime needs, each a plain interface: the embedded adapters (SQLite, in-process
 * queues) and the AWS adapters (DynamoDB, SQS, EventBridge, S3) implement them, and the advance loop
 * in lib/runtime is written once against them.
 */

import type {
  Command,
  EventMessage,
  InstanceStatus,
  Message,
  Note,
  Snapshot,
  TaskCommand,
} from "./engine/types.js";
import { EngineError } from "./errors.js";
import type { Definition, Json, JsonObject } from "./language/model.js";
import type { Schedule } from "./language/schedule.js";
import { utf8Length } from "./language/xml.js";

/** The largest state an instance may have, in bytes of JSON: a context that grows without end stops here. */
export const MAX_STATE_BYTES = 16 * 1024 * 1024;

/** The UTF-8 size of `text` when it is over `limit` bytes, else undefined (short text is not counted). */
export function bytesOver(text: string, limit: number): number | undefined {
  // A UTF-16 unit is at most 3 bytes of UTF-8.
  if (text.length * 3 <= limit) return undefined;
  const bytes = utf8Length(text);
  return bytes > limit ? bytes : undefined;
}

/** Refuses a state (its JSON) over MAX_STATE_BYTES; the message that would make it so is set aside. */
export function checkStateSize(id: string, json: string): void {
  const bytes = bytesOver(json, MAX_STATE_BYTES);
  if (bytes !== undefined)
    throw new EngineError(
      "StateTooLarge",
      `instance ${id}'s state would be ${bytes} bytes; the limit is ${MAX_STATE_BYTES} bytes (does its context grow without end?)`,
    );
}

/** An instance as stored: its snapshot, its version (for optimistic concurrency) and its outbox. */
export interface StoredInstance {
  readonly snapshot: Snapshot;
  readonly version: number;
  /** Commands saved with the snapshot and not yet confirmed sent: a redelivery sends them again. */
  readonly outbox: readonly Command[];
  /** The content hash of the definition version the instance is pinned to. */
  readonly definition: string;
  /** The inbox delivery (SQS message id) whose step produced the outbox, when the inbox has ids. */
  readonly delivery?: string;
}

/** One entry of an instance's append-only history. */
export interface HistoryRecord {
  readonly at: number;
  readonly message: Message;
  readonly commands: readonly Command[];
  readonly notes: readonly Note[];
}

export interface HistoryPage {
  readonly records: readonly (HistoryRecord & { readonly seq: number })[];
  /** Pass as `after` for the next page; absent on the last page. */
  readonly next?: number;
}

export interface InstanceSummary {
  readonly id: string;
  readonly process: string;
  readonly status: InstanceStatus;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface InstanceFilter {
  readonly status?: InstanceStatus;
  readonly process?: string;
  readonly limit?: number;
  /** Only instances listed after this one (newest first): a `listCursor` of the last one seen. */
  readonly after?: string;
}

/**
 * Where an instance sits in a listing (newest first): its creation time, then its id, so a
 * listing resumes after it whatever was created or changed status since.
 */
export function listCursor(summary: { createdAt: number; id: string }): string {
  return `${String(summary.createdAt).padStart(15, "0")}#${summary.id}`;
}

export interface InstanceCount {
  readonly count: number;
  readonly more: boolean;
}

export interface InstanceStore {
  load(id: string): Promise<StoredInstance | undefined>;
  /**
   * Saves the snapshot, its outbox and a history record in one atomic write, if the stored
   * version is still `expected` (undefined: the instance must not exist yet). Returns the new
   * version; throws ConflictError when another writer got there first.
   */
  save(
    next: Omit<StoredInstance, "version">,
    record: HistoryRecord,
    expected: number | undefined,
  ): Promise<number>;
  /**
   * Records a message that changed nothing (ignored or rejected), with its notes; `version` is the
   * instance's version it met, so history shows it after that version's record.
   */
  note(id: string, record: HistoryRecord, version: number): Promise<void>;
  /** Clears the outbox once every command in it was sent, if the version is unchanged. */
  markSent(id: string, version: number): Promise<void>;
  history(id: string, page?: { after?: number; limit?: number }): Promise<HistoryPage>;
  /** The last `limit` entries of an instance's history, newest first (what an operator command came to). */
  recentHistory(id: string, limit: number): Promise<HistoryRecord[]>;
  list(filter?: InstanceFilter): Promise<InstanceSummary[]>;
  /**
   * How many instances have the status (of the process, when given), reading no further than
   * `cap` of them: `more` when it stopped there, so the count is a lower bound.
   */
  count(filter: { status: InstanceStatus; process?: string }, cap: number): Promise<InstanceCount>;
  remove(id: string): Promise<boolean>;
}

/** Carries commands out of the engine: tasks to participants, timers, inbox messages, lifecycle events. */
export interface Dispatcher {
  /** Sends a task; receivers deduplicate by task id, so sending twice is safe. */
  sendTask(task: TaskCommand): Promise<void>;
  /** Sends many tasks at once (batched where the transport allows); absent: one sendTask each. */
  sendTasks?(tasks: readonly TaskCommand[]): Promise<void>;
  /**
   * Throws a DocketError for a command this dispatcher could never carry out (a participant with
   * nowhere to go, a message over the transport's size limit), before the step that produced it is
   * saved: once saved, a step's commands are only ever retried.
   */
  check?(commands: readonly Command[]): Promise<void>;
  /** Schedules a timer message for `due`; an existing timer with the same id is kept. */
  startTimer(timer: { timer: string; instance: string; node: string; due: number }): Promise<void>;
  cancelTimer(timer: string): Promise<void>;
  /** Queues a message for an instance (its inbox); messages for one instance are applied in order. */
  enqueue(instance: string, message: Message): Promise<void>;
  /** Queues many messages at once (batched where the transport allows), in order per instance. */
  enqueueMany?(entries: readonly { instance: string; message: Message }[]): Promise<void>;
  /** Publishes a lifecycle event (`docket.instance.completed`, …). */
  publish(event: string, detail: JsonObject): Promise<void>;
  /**
   * Hands the rest of an event's routing (the pages from `cursor` on) to a later invocation, so
   * routing to any number of awaits never outlasts one. Absent: the runtime routes every page itself.
   */
  readonly continueRouting?: (event: ExternalEvent, cursor: string) => Promise<void>;
}

export interface Subscription {
  readonly subscription: string;
  readonly instance: string;
  readonly node: string;
  readonly event: string;
  readonly key?: string;
}

export interface ExternalEvent {
  readonly id: string;
  readonly name: string;
  readonly key?: string;
  readonly data: Json;
  readonly at: number;
}

/** Await subscriptions on (event, key), and the buffer that keeps recent events for late subscribers. */
export interface SubscriptionIndex {
  /** Adds a subscription; returns the buffered events (within the window) it matches, oldest first. */
  subscribe(subscription: Subscription, since: number): Promise<ExternalEvent[]>;
  unsubscribe(subscription: string): Promise<void>;
  /** Drops every subscription of a finished instance. */
  unsubscribeInstance(instance: string): Promise<void>;
  /** Buffers an event for awaits that subscribe later (dropping ones older than `since`). */
  record(event: ExternalEvent, since: number): Promise<void>;
  /**
   * One page of the subscriptions an event matches (its name, and its key or none), after `cursor`
   * (a `next` of the page before; absent: the first page). Pages are bounded, so an event that
   * wakes any number of awaits is routed a page at a time.
   */
  matching(event: ExternalEvent, cursor?: string): Promise<SubscriptionPage>;
}

export interface SubscriptionPage {
  readonly subscriptions: readonly Subscription[];
  /** Where the next page starts; absent on the last page. */
  readonly next?: string;
}

/**
 * How many instances are pinned to a version (by its content hash): every instance that still
 * exists, and those of them not finished (running or suspended).
 */
export interface VersionPins {
  readonly pinned: number;
  readonly unfinished: number;
  /** Counting stopped at PIN_COUNT_CAP instances (lib/runtime/versions.ts): each count is at least what it says. */
  readonly capped: boolean;
}

/** What a host's definitions are: every process with its versions, and the files rejected. */
export interface Catalogue {
  readonly processes: readonly {
    readonly name: string;
    /** The latest version's hash. */
    readonly hash: string;
    /** When it became latest (registered, or moved back by a rollback). */
    readonly updatedAt: number;
    /** The hash of the source last registered under the name; not `hash` after a rollback. */
    readonly registered?: string;
    /** Every registered version, newest first. */
    readonly versions: readonly ({ readonly hash: string; readonly registeredAt: number } & VersionPins)[];
  }[];
  readonly rejected: readonly {
    readonly name: string;
    readonly problems: readonly string[];
    readonly at: number;
  }[];
}

export interface DefinitionCatalogue {
  /** Every process (or the one named) with its versions and their pins, and the files rejected. */
  catalogue(filter?: { readonly process?: string }): Promise<Catalogue>;
  /** A stored version's source as registered, with its process name; undefined when none has that hash. */
  source(hash: string): Promise<{ readonly name: string; readonly source: string } | undefined>;
  /**
   * Moves `latest` of a process to one of its versions (a hash, or a prefix of exactly one): a
   * rollback. Registering a source other than the last one registered moves it on again.
   */
  setLatest(name: string, version: string): Promise<LatestMove>;
  /** Deletes a version that is not latest and that no instance pins; NotApplicable (409) otherwise. */
  deleteVersion(name: string, version: string): Promise<{ readonly hash: string }>;
}

/** Where `latest` of a process was moved, and from where. */
export interface LatestMove {
  readonly name: string;
  readonly hash: string;
  readonly previous: string;
}

export type Registration =
  | {
      readonly ok: true;
      readonly name: string;
      readonly hash: string;
      readonly definition: Definition;
      /** The name the definition declares (its name attribute) when its key names it otherwise. */
      readonly declared?: string;
    }
  | { readonly ok: false; readonly name: string; readonly problems: readonly string[] };

export interface DefinitionStore {
  /**
   * Validates and stores a definition by content hash and moves `latest` of its name; or records
   * the rejection. The same source as the last one registered under the name changes nothing (a
   * restart reading the folder again must not undo a rollback, nor bring back a deleted version).
   */
  register(key: string, source: string): Promise<Registration>;
  /** Stores a definition that has no name of its own (bureaucrat's `$prop` XML), by hash only. */
  registerInline(source: string): Promise<Registration>;
  /** The latest version of a name, or the version given (a hash or a prefix of one). */
  resolve(name: string, version?: string): Promise<{ hash: string; definition: Definition } | undefined>;
  byHash(hash: string): Promise<Definition | undefined>;
}

export interface Clock {
  now(): number;
}

export type { EventMessage };

/** What one message did to its instance, as the advance loop saw it (see RuntimeObserver). */
export interface StepObservation {
  readonly instance: string;
  /** The instance's process (its definition's name). */
  readonly process: string;
  readonly messageType: Message["type"];
  /** `ignored`: the message changed nothing (a duplicate delivery, a stale reply, a refused command). */
  readonly outcome: "applied" | "ignored";
  /** Milliseconds from loading the instance to the step's commands sent (its save included). */
  readonly elapsedMs: number;
  /** Whether an earlier step's outbox, saved but not confirmed sent, was sent again first. */
  readonly resentOutbox: boolean;
  /** The status before the message (absent: the message started the instance) and after it. */
  readonly statusBefore?: InstanceStatus;
  readonly statusAfter: InstanceStatus;
  /** Faults the step raised: each one a fault handler caught, and the one that faulted the instance. */
  readonly faults: number;
  /** Incidents the step opened (an action out of retries, waiting for an operator). */
  readonly incidentsOpened: number;
}

/**
 * Hears of each message the advance loop applied or ignored (the AWS functions' metrics). Called
 * once the step is saved and its commands sent; whatever it throws is ignored: watching a step
 * never fails it.
 */
export interface RuntimeObserver {
  stepObserved(step: StepObservation): void;
}

/** What one fire of a schedule came to (`docket schedules` shows each schedule's last). */
export interface FireOutcome {
  /** The fire time (ms). */
  readonly fire: number;
  /** When it was handled (ms). */
  readonly at: number;
  /** `skipped`: the previous launch still ran (overlap skip); `missed`: too late (catch-up). */
  readonly result: "launched" | "skipped" | "missed" | "failed";
  /** The launch's id (`<schedule>@<fire time>`) when launched. */
  readonly instance?: string;
  readonly reason?: string;
}

/** A schedule as stored: the declaration in force and how far its fires are armed as timers. */
export interface ScheduleState {
  readonly schedule: Schedule;
  /** A digest of `schedule`: a fire armed under another digest is stale, and dropped. */
  readonly hash: string;
  /** Every fire up to this instant (ms) is armed as a timer, or was given up (missed). */
  readonly planned: number;
  /** The last launch it made: the overlap policy asks whether it still runs. */
  readonly launched?: {
    readonly fire: number;
    readonly instance: string;
    /** When it was launched (missing from states stored before it was kept). */
    readonly at?: number;
  };
  readonly last?: FireOutcome;
}

/** Where the schedules in force are kept with their plans (SQLite; DynamoDB). */
export interface ScheduleStore {
  list(): Promise<ScheduleState[]>;
  get(name: string): Promise<ScheduleState | undefined>;
  /** Stores a schedule's declaration and plan, keeping what its fires recorded. */
  plan(state: Pick<ScheduleState, "schedule" | "hash" | "planned">): Promise<void>;
  /** Records what a fire did, unless a later fire's outcome is stored already. */
  recordFire(name: string, outcome: FireOutcome): Promise<void>;
  remove(name: string): Promise<void>;
}

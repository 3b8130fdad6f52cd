/**
 * The operations port: what an operator or a client may ask of a running engine (list, show,
 * history, diagram, launch, publish, the operator commands, delete, definitions), written once over
 * the advance loop's ports. The embedded engine and the AWS adapters each give it a host (how a
 * launch, an event and an operator message reach their inbox); the HTTP router (lib/api/router.ts)
 * serves it the same way on both.
 */
import { checkMessage } from "../engine/index.js";
import {
  FINAL_STATUSES,
  type InstanceStatus,
  type Message,
  type OperatorAction,
  type OperatorMessage,
  rootContext,
  type Snapshot,
  STATUSES,
  type TaskCommand,
} from "../engine/types.js";
import { EngineError, MessageError } from "../errors.js";
import type { Json, JsonObject } from "../language/model.js";
import { utf8Length } from "../language/xml.js";
import {
  type Catalogue,
  type Clock,
  type DefinitionCatalogue,
  type DefinitionStore,
  type HistoryPage,
  type HistoryRecord,
  type InstanceStore,
  type InstanceSummary,
  type LatestMove,
  listCursor,
  type StoredInstance,
} from "../ports.js";
import { refusals } from "./applied.js";
import { diagram } from "./diagram.js";
import { definitionGraph, type Graph, type InstanceGraph, instanceGraph } from "./graph.js";
import {
  type BatchMigrateRequest,
  type BatchMigration,
  type MigrateRequest,
  type MigrationDeps,
  type MigrationReport,
  migrateInstance,
  migrateInstances,
} from "./migrations.js";
import type { LaunchRequest, PublishRequest } from "./runtime.js";
import type { ScheduleView } from "./schedules.js";

export { STATUSES };
export const OPERATOR_ACTIONS: readonly OperatorAction[] = [
  "pause",
  "resume",
  "cancel",
  "retry",
  "skip",
  "fail",
];

/** The most instances or history records one page holds. */
export const MAX_PAGE = 1000;

/** The most history records read to colour an instance's nodes (a diagram, a graph). */
export const MAX_STATE_RECORDS = 10 * MAX_PAGE;

/** Counting reads no further than this many instances a status (a console polls the counts). */
export const COUNT_CAP = 10_000;

/** Instances per status; a status in `capped` was counted no further: it has at least that many. */
export interface InstanceCounts {
  readonly counts: Readonly<Record<InstanceStatus, number>>;
  readonly capped: readonly InstanceStatus[];
}

/** A stored version of a definition: its source as registered, and its graph. */
export interface DefinitionView {
  readonly name: string;
  readonly hash: string;
  readonly source: string;
  readonly graph: Graph;
}

/**
 * The most bytes (of JSON) a history page holds: an answer from Lambda is at most 6 MB, and a
 * thousand steps of large messages could pass it. A shorter page says so with `next`.
 */
export const MAX_PAGE_BYTES = 4 * 1024 * 1024;

export interface InstancePage {
  readonly instances: readonly InstanceSummary[];
  /** Pass as `after` for the next page; absent on the last page. */
  readonly next?: string;
}

/** An active node as an operator sees it; an action's task, attempt and what it waits for. */
export interface ActiveNode {
  readonly node: string;
  readonly state: string;
  readonly task?: string;
  readonly attempt?: number;
  readonly wait?: "reply" | "backoff" | "incident" | "held";
  /** When the task's worker last sent a heartbeat (ms), and the details it gave. */
  readonly heardAt?: number;
  readonly details?: Json;
  readonly child?: string;
}

export interface InstanceView {
  readonly id: string;
  readonly process: string;
  readonly version: string;
  readonly status: InstanceStatus;
  readonly paused: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly steps: number;
  readonly context: JsonObject;
  readonly active: readonly ActiveNode[];
  readonly incidents: Snapshot["incidents"];
  readonly fault: Snapshot["fault"] | null;
  readonly parent: Snapshot["parent"] | null;
}

/** An operator command's answer: applied, or queued and not applied yet when the wait was over. */
export interface OperatorOutcome {
  readonly id: string;
  readonly action: OperatorAction;
  readonly state: "applied" | "queued";
}

export interface OperatorRequest {
  readonly node?: string;
  readonly fields?: JsonObject;
  readonly reason?: string;
}

/** Claiming and answering tasks over the API: only where workers have no queue of their own (embedded). */
export interface TaskPort {
  /** Leases the oldest open task of a participant, waiting up to `waitMs`; undefined when none came. */
  claim(participant: string, waitMs: number, leaseMs: number, signal?: AbortSignal): Promise<unknown>;
  /** Takes a reply; 404 for an unknown instance or task, 409 for a task answered already. */
  reply(reply: unknown): Promise<void>;
  /**
   * Keeps a claimed task leased for `seconds` from now (a worker's heartbeat), or gives it back
   * at once with 0; 404 for an unknown task, 409 for one answered already. Returns the lease's end.
   */
  lease(task: string, seconds: number): Promise<number>;
}

export interface OperationsPort {
  /** Which host serves it: "embedded" or "aws". */
  readonly host: string;
  /** Every process (or the one named) with its versions, each with the instances pinned to it. */
  definitions(filter?: { process?: string }): Promise<Catalogue>;
  /** Moves `latest` of a process to one of its versions (a rollback); 404 for an unknown one. */
  setLatest(name: string, version: string): Promise<LatestMove>;
  /** Deletes a version; 409 when it is latest or instances pin it. */
  deleteVersion(name: string, version: string): Promise<void>;
  launch(request: LaunchRequest): Promise<string>;
  publish(request: PublishRequest): Promise<string>;
  list(filter: {
    status?: InstanceStatus;
    process?: string;
    limit?: number;
    after?: string;
  }): Promise<InstancePage>;
  show(id: string): Promise<InstanceView>;
  history(id: string, page: { after?: number; limit?: number }): Promise<HistoryPage>;
  diagram(id: string): Promise<string>;
  /** The instance's definition as a graph, each node's state with it (what the console draws). */
  graph(id: string): Promise<InstanceGraph>;
  /** A version of a process (a hash, a prefix of one, or "latest"): its source and graph. */
  definition(name: string, version: string): Promise<DefinitionView>;
  /** Instances per status (of a process, when given), each counted up to COUNT_CAP. */
  counts(filter: { process?: string }): Promise<InstanceCounts>;
  /**
   * Queues an operator command and waits (a few seconds at most) until it is applied; refuses one
   * that the instance refused (a 409) with the reason.
   */
  operate(id: string, action: OperatorAction, request: OperatorRequest): Promise<OperatorOutcome>;
  /** Deletes a finished instance with its history; refuses one still running (a 409). */
  remove(id: string): Promise<void>;
  /** Moves an instance to another version of its process, or plans it (`dryRun`); migrations.ts. */
  migrate(id: string, request: MigrateRequest): Promise<MigrationReport>;
  /** The same for a page of a process's unfinished instances. */
  migrateMany(request: BatchMigrateRequest): Promise<BatchMigration>;
  /** Present where workers claim tasks over HTTP (embedded); on AWS they read their SQS queue. */
  readonly tasks?: TaskPort;
  /** The schedules in force, each with its next `count` fire times and its last fire. */
  schedules(count: number): Promise<{ schedules: ScheduleView[] }>;
}

/** What differs between hosts: how messages reach an instance's inbox (signed, batched, in a transaction). */
export interface OperationsHost {
  readonly name: string;
  readonly store: InstanceStore;
  readonly definitions: DefinitionStore & DefinitionCatalogue;
  readonly clock: Clock;
  launch(request: LaunchRequest): Promise<string>;
  publish(request: PublishRequest): Promise<string>;
  /** Queues an operator message in the instance's inbox. */
  enqueue(instance: string, message: Message): Promise<void>;
  /** How long an operator command waits to be applied before it is answered "queued"; default 5 s. */
  readonly operatorWaitMs?: number;
  readonly tasks?: TaskPort;
  /** Lists the schedules (lib/runtime/schedules.ts); absent: there are none. */
  readonly schedules?: (count: number) => Promise<ScheduleView[]>;
}

/** A request that cannot apply to the instance as it is now: HTTP 409, the CLI's exit 2. */
export class NotApplicableError extends EngineError {
  constructor(
    message: string,
    /** A blocked migration's report, which its error answer carries. */
    readonly report?: MigrationReport,
  ) {
    super("NotApplicable", message);
  }
}

export class EngineOperations implements OperationsPort {
  readonly host: string;
  readonly tasks?: TaskPort;

  constructor(private readonly deps: OperationsHost) {
    this.host = deps.name;
    this.tasks = deps.tasks;
  }

  migrate(id: string, request: MigrateRequest): Promise<MigrationReport> {
    return migrateInstance(this.migrations(), id, request);
  }

  migrateMany(request: BatchMigrateRequest): Promise<BatchMigration> {
    return migrateInstances(this.migrations(), request);
  }

  private migrations(): MigrationDeps {
    const { store, definitions, enqueue, operatorWaitMs } = this.deps;
    return {
      store,
      definitions,
      enqueue,
      ...(operatorWaitMs === undefined ? {} : { waitMs: operatorWaitMs }),
    };
  }

  async schedules(count: number): Promise<{ schedules: ScheduleView[] }> {
    return { schedules: (await this.deps.schedules?.(count)) ?? [] };
  }

  definitions(filter: { process?: string } = {}): Promise<Catalogue> {
    return this.deps.definitions.catalogue(filter);
  }

  setLatest(name: string, version: string): Promise<LatestMove> {
    return this.deps.definitions.setLatest(name, version);
  }

  async deleteVersion(name: string, version: string): Promise<void> {
    await this.deps.definitions.deleteVersion(name, version);
  }

  launch(request: LaunchRequest): Promise<string> {
    return this.deps.launch(request);
  }

  publish(request: PublishRequest): Promise<string> {
    return this.deps.publish(request);
  }

  async list(filter: {
    status?: InstanceStatus;
    process?: string;
    limit?: number;
    after?: string;
  }): Promise<InstancePage> {
    const limit = Math.min(filter.limit ?? 100, MAX_PAGE);
    // One more than asked tells whether there is a next page without an empty last one.
    const found = await this.deps.store.list({ ...filter, limit: limit + 1 });
    const instances = found.slice(0, limit);
    const last = instances[instances.length - 1];
    return found.length > limit && last ? { instances, next: listCursor(last) } : { instances };
  }

  /** The instance as stored; a NoInstance error (404) when there is none. */
  private async stored(id: string): Promise<StoredInstance> {
    const stored = await this.deps.store.load(id);
    if (!stored) throw new EngineError("NoInstance", `no instance ${id}`);
    return stored;
  }

  private async snapshot(id: string): Promise<Snapshot> {
    return (await this.stored(id)).snapshot;
  }

  async show(id: string): Promise<InstanceView> {
    return instanceView(await this.snapshot(id));
  }

  async history(id: string, page: { after?: number; limit?: number }): Promise<HistoryPage> {
    await this.snapshot(id);
    const found = await this.deps.store.history(id, {
      after: page.after,
      limit: Math.min(page.limit ?? 100, MAX_PAGE),
    });
    return withinBytes(found, MAX_PAGE_BYTES);
  }

  /** The instance, its definition and the history its nodes' states are read from. */
  private async withHistory(id: string) {
    const snapshot = await this.snapshot(id);
    const definition = await this.deps.definitions.byHash(snapshot.version);
    if (!definition)
      throw new EngineError("UnknownDefinition", `definition ${snapshot.version} is not stored`);
    const history: HistoryRecord[] = [];
    let after: number | undefined;
    do {
      const page = await this.deps.store.history(id, { after, limit: MAX_PAGE });
      history.push(...page.records);
      after = page.next;
    } while (after !== undefined && history.length < MAX_STATE_RECORDS);
    return { snapshot, definition, history };
  }

  async diagram(id: string): Promise<string> {
    const { snapshot, definition, history } = await this.withHistory(id);
    return diagram(definition, { snapshot, history });
  }

  async graph(id: string): Promise<InstanceGraph> {
    const { snapshot, definition, history } = await this.withHistory(id);
    return instanceGraph(definition, snapshot, history);
  }

  async definition(name: string, version: string): Promise<DefinitionView> {
    const found = await this.deps.definitions.resolve(name, version === "latest" ? undefined : version);
    const stored = found && (await this.deps.definitions.source(found.hash));
    if (!found || !stored)
      throw new EngineError(
        "UnknownDefinition",
        version === "latest" ? `no process ${name}` : `process ${name} has no version ${version}`,
      );
    return { name, hash: found.hash, source: stored.source, graph: definitionGraph(found.definition) };
  }

  async counts(filter: { process?: string }): Promise<InstanceCounts> {
    const counted = await Promise.all(
      STATUSES.map(
        async (status) => [status, await this.deps.store.count({ ...filter, status }, COUNT_CAP)] as const,
      ),
    );
    return {
      counts: Object.fromEntries(counted.map(([status, { count }]) => [status, count])) as Record<
        InstanceStatus,
        number
      >,
      capped: counted.filter(([, { more }]) => more).map(([status]) => status),
    };
  }

  async operate(id: string, action: OperatorAction, request: OperatorRequest): Promise<OperatorOutcome> {
    const message: OperatorMessage = {
      type: "operator",
      action,
      id: crypto.randomUUID(),
      ...(request.node === undefined ? {} : { node: request.node }),
      ...(request.fields === undefined ? {} : { fields: request.fields }),
      ...(request.reason === undefined ? {} : { reason: request.reason }),
    };
    const problems = checkMessage(message);
    if (problems.length) throw new MessageError(problems);
    const stored = await this.stored(id);
    // Nothing changes a finished instance; anything else is decided where it is applied, in its
    // place among the instance's messages (a pause still queued decides whether a resume applies).
    if (FINAL_STATUSES.includes(stored.snapshot.status))
      throw new NotApplicableError(
        `${action} does not apply to instance ${id}: it is ${stored.snapshot.status}`,
      );
    await this.deps.enqueue(id, message);
    return this.outcome(id, message);
  }

  /**
   * What the command came to, read back from the instance's history: applied, refused (409 with
   * the interpreter's reason), or still queued when the wait is over (a busy inbox).
   */
  private async outcome(id: string, message: OperatorMessage): Promise<OperatorOutcome> {
    const deadline = Date.now() + (this.deps.operatorWaitMs ?? 5000);
    for (let pause = 20; ; pause = Math.min(pause * 2, 500)) {
      const refused = await refusals(this.deps.store, id, "operator", message.id as string);
      if (refused) {
        if (refused.length)
          throw new NotApplicableError(
            `${message.action} does not apply to instance ${id}: ${refused.join("; ")}`,
          );
        return { id, action: message.action, state: "applied" };
      }
      if (Date.now() >= deadline) return { id, action: message.action, state: "queued" };
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  async remove(id: string): Promise<void> {
    const stored = await this.stored(id);
    const { status } = stored.snapshot;
    if (!FINAL_STATUSES.includes(status))
      throw new NotApplicableError(`instance ${id} is ${status}: cancel it before deleting it`);
    // Its last step's commands (a child's result for its parent, a lifecycle event) go first.
    if (stored.outbox.length)
      throw new NotApplicableError(
        `instance ${id} is ${status} but its last step's commands are not all sent yet (they are retried); delete it once they are`,
      );
    await this.deps.store.remove(id);
  }
}

/**
 * A history page cut to `limit` bytes, at a seq boundary (a step and the notes that share its seq
 * stay together), keeping at least the first step so a page always moves on.
 */
export function withinBytes(page: HistoryPage, limit: number): HistoryPage {
  let bytes = 0;
  let end = 0;
  for (const record of page.records) {
    bytes += utf8Length(JSON.stringify(record));
    if (bytes > limit && end > 0) break;
    end++;
  }
  if (end === page.records.length) return page;
  const cut = page.records[end]?.seq;
  while (end > 1 && page.records[end - 1]?.seq === cut) end--;
  const records = page.records.slice(0, end);
  return { records, next: records[records.length - 1]?.seq ?? page.next };
}

function activeNode([node, state]: Snapshot["nodes"][number], held: ReadonlySet<string>): ActiveNode {
  if (state.k === "action")
    return {
      node,
      state: state.k,
      task: state.task,
      attempt: state.attempt,
      wait: held.has(state.task) ? "held" : state.wait,
      ...(state.heard === undefined ? {} : { heardAt: state.heard }),
      ...(state.details === undefined ? {} : { details: state.details }),
    };
  if (state.k === "call") return { node, state: state.k, child: state.child };
  return { node, state: state.k };
}

/** An instance as the API shows it: its state, its active nodes with their tasks, its incidents. */
export function instanceView(s: Snapshot): InstanceView {
  const held = new Set(s.held.map((t: TaskCommand) => t.task.id));
  return {
    id: s.id,
    process: s.process,
    version: s.version,
    status: s.status,
    paused: s.paused,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    steps: s.steps,
    context: rootContext(s),
    active: s.nodes.map((entry) => activeNode(entry, held)),
    incidents: s.incidents,
    fault: s.fault ?? null,
    parent: s.parent ?? null,
  };
}

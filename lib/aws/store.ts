/**
 * InstanceStore on DynamoDB, written so a step costs about one write unit, not the whole state:
 *
 * - each applied message is a small step item `V#<version>` put only if absent: that condition is
 *   the optimistic lock (two writers of one version: one wins);
 * - the snapshot is rewritten on the head item only every `snapshotEvery` steps (and when the
 *   status changes, for listings);
 * - loading reads the head (usually from a warm cache) and the steps after its snapshot, and
 *   replays them through the pure interpreter, which gives the same snapshot and the last step's
 *   commands: the outbox, until the step is marked sent.
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { transition } from "../engine/index.js";
import type { Command, Message, Note, Snapshot } from "../engine/types.js";
import { ConflictError, EngineError } from "../errors.js";
import {
  checkStateSize,
  type DefinitionStore,
  type HistoryPage,
  type HistoryRecord,
  type InstanceFilter,
  type InstanceStore,
  type InstanceSummary,
  type StoredInstance,
} from "../ports.js";
import { keepNewest } from "../runtime/lru.js";
import { listInstances } from "./listing.js";
import { inlinePayloads, type PayloadStore } from "./payloads.js";
import { aws, instanceKey, pad, type TableRef } from "./table.js";

interface Head {
  pk: string;
  sk: "HEAD";
  /** The version the stored snapshot is at. */
  version: number;
  status: string;
  process: string;
  definition: string;
  snapshot: string;
  createdAt: number;
  updatedAt: number;
  /** Version 1 only: the launch's commands (there is no step to replay them from), until sent. */
  outbox?: string;
  sent?: boolean;
  delivery?: string;
  /** The status index (byStatus): partition `S#<status>`, sorted newest first by `listed`. */
  listing: string;
  listed: string;
}

interface Step {
  pk: string;
  sk: string;
  at: number;
  message: string;
  notes?: string;
  /** A short account of the commands, for the history; the commands themselves are replayed. */
  commands: string;
  sent?: boolean;
  kind?: "note";
  /** The inbox delivery that was applied (see RuntimeDeps.inboxInOrder). */
  delivery?: string;
}

const HEAD_CACHE = 1000;

function sizedSnapshot(snapshot: Snapshot): string {
  const json = JSON.stringify(snapshot);
  checkStateSize(snapshot.id, json);
  return json;
}
const STEP_DIGITS = 12;
const stepKey = (version: number) => `V#${pad(version, STEP_DIGITS)}`;
const summary = (commands: readonly Command[]) =>
  JSON.stringify(
    commands.map((c) =>
      c.type === "task"
        ? { type: c.type, task: c.task.id, participant: c.task.participant }
        : "timer" in c
          ? { type: c.type, timer: c.timer }
          : { type: c.type },
    ),
  );

export class DynamoInstanceStore implements InstanceStore {
  /** Heads (snapshot + version) this process wrote or read last: most loads skip the head read. */
  private readonly heads = new Map<string, { head: Head; snapshot: Snapshot }>();
  /** The latest state this process saved or loaded, per instance: a load then reads only newer steps. */
  private readonly tips = new Map<string, StoredInstance>();

  constructor(
    private readonly table: TableRef,
    private readonly definitions: DefinitionStore,
    private readonly payloads: PayloadStore = inlinePayloads,
    private readonly snapshotEvery = 20,
  ) {}

  private async readHead(id: string): Promise<{ head: Head; snapshot: Snapshot } | undefined> {
    const cached = this.heads.get(id);
    if (cached) return cached;
    const { Item } = await aws("loading an instance", () =>
      this.table.client.send(
        new GetCommand({ TableName: this.table.name, Key: { pk: instanceKey(id), sk: "HEAD" } }),
      ),
    );
    if (!Item) return undefined;
    const head = Item as Head;
    // Kept, so the next save knows when the head is due (not rewriting it on this process's first step).
    const snapshot = JSON.parse(await this.payloads.get(head.snapshot)) as Snapshot;
    return keepNewest(this.heads, id, { head, snapshot }, HEAD_CACHE);
  }

  private async stepsAfter(id: string, version: number): Promise<Step[]> {
    const steps: Step[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await aws("reading steps", () =>
        this.table.client.send(
          new QueryCommand({
            TableName: this.table.name,
            KeyConditionExpression: "pk = :pk AND sk > :from",
            ExpressionAttributeValues: { ":pk": instanceKey(id), ":from": stepKey(version), ":kind": "note" },
            FilterExpression: "attribute_not_exists(kind) OR kind <> :kind",
            ExclusiveStartKey: start,
            ConsistentRead: true,
          }),
        ),
      );
      steps.push(...((page.Items ?? []) as Step[]).filter((s) => s.sk.startsWith("V#")));
      start = page.LastEvaluatedKey;
    } while (start);
    return steps;
  }

  async load(id: string): Promise<StoredInstance | undefined> {
    // The state this process last saw is a valid base: steps are append-only, so only newer ones are read.
    const tip = this.tips.get(id);
    if (tip) {
      const steps = await this.stepsAfter(id, tip.version);
      return this.remember(steps.length ? await this.replay(tip, steps) : tip);
    }
    const base = await this.readHead(id);
    if (!base) return undefined;
    const { head } = base;
    const steps = await this.stepsAfter(id, head.version);
    if (steps.length)
      return this.remember(
        await this.replay(
          { snapshot: base.snapshot, version: head.version, definition: head.definition },
          steps,
        ),
      );
    const pending = head.version === 1 && head.outbox !== undefined && !head.sent;
    return this.remember({
      snapshot: base.snapshot,
      version: head.version,
      outbox: pending ? (JSON.parse(await this.payloads.get(head.outbox as string)) as Command[]) : [],
      definition: head.definition,
      ...(head.delivery === undefined ? {} : { delivery: head.delivery }),
    });
  }

  /** The state after `steps`, from a base; the last step's commands are its outbox unless it was marked sent. */
  private async replay(
    base: Pick<StoredInstance, "snapshot" | "version" | "definition">,
    steps: readonly Step[],
  ): Promise<StoredInstance> {
    const definition = await this.definitions.byHash(base.definition);
    if (!definition)
      throw new EngineError(
        "UnknownDefinition",
        `definition ${base.definition} of ${base.snapshot.id} is not stored`,
      );
    let snapshot = base.snapshot;
    let commands: readonly Command[] = [];
    for (const step of steps) {
      const message = JSON.parse(await this.payloads.get(step.message)) as Message;
      ({ snapshot, commands } = transition(definition, snapshot, message, step.at));
    }
    const last = steps[steps.length - 1] as Step;
    return {
      snapshot,
      version: base.version + steps.length,
      outbox: last.sent ? [] : commands,
      definition: base.definition,
      ...(last.delivery === undefined ? {} : { delivery: last.delivery }),
    };
  }

  private remember(state: StoredInstance): StoredInstance {
    return keepNewest(this.tips, state.snapshot.id, state, HEAD_CACHE);
  }

  async save(
    next: Omit<StoredInstance, "version">,
    record: HistoryRecord,
    expected: number | undefined,
  ): Promise<number> {
    const { snapshot } = next;
    const version = (expected ?? 0) + 1;
    const pk = instanceKey(snapshot.id);
    if (expected === undefined) {
      // The first version is the head itself: the launch's snapshot.
      await this.putHead(next, 1, "attribute_not_exists(pk)");
      this.remember({ ...next, version: 1 });
      return 1;
    }
    const step: Step = {
      pk,
      sk: stepKey(version),
      at: record.at,
      message: await this.payloads.put(JSON.stringify(record.message)),
      commands: summary(record.commands),
      ...(record.notes.length ? { notes: JSON.stringify(record.notes) } : {}),
      ...(next.outbox.length ? {} : { sent: true }),
      ...(next.delivery === undefined ? {} : { delivery: next.delivery }),
    };
    try {
      await this.table.client.send(
        new PutCommand({
          TableName: this.table.name,
          Item: step,
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      );
    } catch (error) {
      this.heads.delete(snapshot.id);
      this.tips.delete(snapshot.id);
      if (error instanceof Error && error.name === "ConditionalCheckFailedException")
        throw new ConflictError(`instance ${snapshot.id} is past version ${expected}`, { cause: error });
      throw error;
    }
    this.remember({ ...next, version });
    const base = this.heads.get(snapshot.id);
    const finished = ["completed", "faulted", "canceled"].includes(snapshot.status);
    if (
      !base ||
      version - base.head.version >= this.snapshotEvery ||
      base.head.status !== snapshot.status ||
      finished
    ) {
      // A newer head only: a crash here leaves the older head, and loading replays the steps.
      await this.putHead(next, version, "attribute_not_exists(pk) OR version < :v", version).catch(
        (error: Error) => {
          if (error.name !== "ConditionalCheckFailedException") throw error;
        },
      );
    }
    return version;
  }

  private async putHead(
    next: Omit<StoredInstance, "version">,
    version: number,
    condition: string,
    below?: number,
  ): Promise<void> {
    const { snapshot } = next;
    const head: Head = {
      pk: instanceKey(snapshot.id),
      sk: "HEAD",
      version,
      status: snapshot.status,
      process: snapshot.process,
      definition: next.definition,
      snapshot: await this.payloads.put(sizedSnapshot(snapshot)),
      createdAt: snapshot.createdAt,
      updatedAt: snapshot.updatedAt,
      ...(version === 1 && next.outbox.length
        ? { outbox: await this.payloads.put(JSON.stringify(next.outbox)) }
        : {}),
      ...(version === 1 && next.delivery !== undefined ? { delivery: next.delivery } : {}),
      listing: `S#${snapshot.status}`,
      listed: `${pad(snapshot.createdAt, 15)}#${snapshot.id}`,
    };
    try {
      await this.table.client.send(
        new PutCommand({
          TableName: this.table.name,
          Item: head,
          ConditionExpression: condition,
          ...(below === undefined ? {} : { ExpressionAttributeValues: { ":v": below } }),
        }),
      );
      keepNewest(this.heads, snapshot.id, { head, snapshot }, HEAD_CACHE);
    } catch (error) {
      this.heads.delete(snapshot.id);
      if (error instanceof Error && error.name === "ConditionalCheckFailedException" && below === undefined)
        throw new ConflictError(`instance ${snapshot.id} exists already`, { cause: error });
      throw error;
    }
  }

  async note(id: string, record: HistoryRecord, version: number): Promise<void> {
    const item = {
      pk: instanceKey(id),
      // Right after the step of the version it met, so history pages show it in place.
      sk: `${stepKey(version)}#n${pad(record.at, 15)}${Math.random().toString(36).slice(2, 8)}`,
      kind: "note",
      at: record.at,
      message: await this.payloads.put(JSON.stringify(record.message)),
      notes: JSON.stringify(record.notes),
      commands: "[]",
    };
    await aws("recording a note", () =>
      this.table.client.send(new PutCommand({ TableName: this.table.name, Item: item })),
    );
  }

  async markSent(id: string, version: number): Promise<void> {
    const launch = version === 1;
    const tip = this.tips.get(id);
    if (tip?.version === version) this.tips.set(id, { ...tip, outbox: [] });
    // The launch's commands are on the head; later ones on their step.
    if (launch) this.heads.delete(id);
    await this.table.client
      .send(
        new UpdateCommand({
          TableName: this.table.name,
          Key: { pk: instanceKey(id), sk: launch ? "HEAD" : stepKey(version) },
          UpdateExpression: "SET sent = :t",
          ConditionExpression: launch ? "version = :one" : "attribute_exists(pk)",
          ExpressionAttributeValues: launch ? { ":t": true, ":one": 1 } : { ":t": true },
        }),
      )
      .catch((error: Error) => {
        if (error.name !== "ConditionalCheckFailedException") throw error;
      });
  }

  /** Steps and, after each, the notes of messages it ignored; a page never splits a step from its notes. */
  async history(id: string, page: { after?: number; limit?: number } = {}): Promise<HistoryPage> {
    const limit = Math.min(Math.max(page.limit ?? 100, 1), 1000);
    const seqOf = (s: Step) => Number(s.sk.slice(2, 2 + STEP_DIGITS));
    const { Items = [], LastEvaluatedKey } = await aws("reading history", () =>
      this.table.client.send(
        new QueryCommand({
          TableName: this.table.name,
          // Past the notes of the version `after` ("~" sorts after "#n…"), up to the last step's.
          KeyConditionExpression: "pk = :pk AND sk BETWEEN :from AND :to",
          ExpressionAttributeValues: {
            ":pk": instanceKey(id),
            ":from": `${stepKey(page.after ?? 0)}~`,
            ":to": "V#~",
          },
          Limit: limit + 50,
        }),
      ),
    );
    const items = Items as Step[];
    let end = Math.min(limit, items.length);
    while (end < items.length && seqOf(items[end] as Step) === seqOf(items[end - 1] as Step)) end++;
    // A page DynamoDB cut short may end inside a version's notes: leave that version to the next page.
    if (LastEvaluatedKey && end === items.length) {
      const lastSeq = seqOf(items[end - 1] as Step);
      while (end > 1 && seqOf(items[end - 1] as Step) === lastSeq) end--;
    }
    const records = await Promise.all(
      items.slice(0, end).map(async (s) => ({
        seq: seqOf(s),
        at: s.at,
        message: JSON.parse(await this.payloads.get(s.message)) as Message,
        commands: JSON.parse(s.commands) as Command[],
        notes: s.notes ? (JSON.parse(s.notes) as Note[]) : [],
      })),
    );
    const last = records[records.length - 1];
    const more = items.length > end || LastEvaluatedKey !== undefined;
    return more && last ? { records, next: last.seq } : { records };
  }

  /** Newest first, from the status index (listing.ts). */
  list(filter: InstanceFilter = {}): Promise<InstanceSummary[]> {
    return listInstances(this.table, filter);
  }

  async remove(id: string): Promise<boolean> {
    this.heads.delete(id);
    this.tips.delete(id);
    const { Items = [] } = await this.table.client.send(
      new QueryCommand({
        TableName: this.table.name,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": instanceKey(id) },
      }),
    );
    for (const item of Items)
      await this.table.client.send(
        new DeleteCommand({ TableName: this.table.name, Key: { pk: item.pk, sk: item.sk } }),
      );
    return Items.some((item) => item.sk === "HEAD");
  }
}

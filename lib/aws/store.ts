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
import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { transition, upgradeSnapshot } from "../engine/index.js";
import type { Command, InstanceStatus, Message, Snapshot } from "../engine/types.js";
import { ConflictError, EngineError } from "../errors.js";
import {
  checkStateSize,
  type DefinitionStore,
  type HistoryPage,
  type HistoryRecord,
  type InstanceCount,
  type InstanceFilter,
  type InstanceStore,
  type InstanceSummary,
  type StoredInstance,
} from "../ports.js";
import { keepNewest } from "../runtime/lru.js";
import { migrationStep } from "../runtime/migration.js";
import { batchWriteAll, queryAll, queryPages } from "./calls.js";
import { readHistory, type Step, sentKey, stepItem, stepKey, versionOf } from "./history.js";
import { countInstances, listInstances, listingKey } from "./listing.js";
import { inlinePayloads, type PayloadStore } from "./payloads.js";
import { readRecentHistory } from "./recent-history.js";
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
  /**
   * The commands of the step at `version`: loading from this head replays no step, so the outbox
   * must be here (the launch has no step at all); sent once its `sent` marker item exists.
   */
  outbox?: string;
  /** The inbox delivery that was applied at `version` (see Runtime.apply). */
  delivery?: string;
  /** The status index (byStatus): partition `S#<status>#<shard>` (listing.ts), sorted newest first by `listed`. */
  listing: string;
  listed: string;
}

const HEAD_CACHE = 1000;

export class DynamoInstanceStore implements InstanceStore {
  /** Heads (snapshot + version) this process wrote or read last: most loads skip the head read. */
  private readonly heads = new Map<string, { head: Head; snapshot: Snapshot }>();
  /** The latest state this process saved or loaded, per instance: a load then reads only newer steps. */
  private readonly tips = new Map<string, StoredInstance>();
  /** Heads due at a step whose commands are not sent yet: written by markSent. */
  private readonly dueHeads = new Map<
    string,
    { next: Omit<StoredInstance, "version">; json: string; version: number }
  >();

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
        new GetCommand({
          TableName: this.table.name,
          Key: { pk: instanceKey(id), sk: "HEAD" },
          ConsistentRead: true,
        }),
      ),
    );
    if (!Item) return undefined;
    const head = Item as Head;
    // Kept, so the next save knows when the head is due (not rewriting it on this process's first step).
    const snapshot = upgradeSnapshot(JSON.parse(await this.payloads.get(head.snapshot)));
    return keepNewest(this.heads, id, { head, snapshot }, HEAD_CACHE);
  }

  /** The steps after `version`, and which versions (that one included) are marked sent. */
  private async stepsAfter(id: string, version: number): Promise<{ steps: Step[]; sent: Set<number> }> {
    const steps: Step[] = [];
    const sent = new Set<number>();
    const pages = queryPages(this.table, "reading steps", {
      KeyConditionExpression: "pk = :pk AND sk > :from",
      ExpressionAttributeValues: { ":pk": instanceKey(id), ":from": stepKey(version), ":kind": "note" },
      FilterExpression: "attribute_not_exists(kind) OR kind <> :kind",
      ConsistentRead: true,
    });
    for await (const page of pages)
      for (const item of page as unknown as Step[]) {
        if (item.kind === "sent") sent.add(versionOf(item));
        else if (item.sk.startsWith("V#")) steps.push(item);
      }
    return { steps, sent };
  }

  async load(id: string): Promise<StoredInstance | undefined> {
    // The state this process last saw is a valid base: steps are append-only, so only newer ones are read.
    const tip = this.tips.get(id);
    if (tip) {
      const { steps, sent } = await this.stepsAfter(id, tip.version);
      if (steps.length) return this.rememberLoaded(await this.replay(tip, steps, sent));
      return this.remember(sent.has(tip.version) ? { ...tip, outbox: [] } : tip);
    }
    const base = await this.readHead(id);
    if (!base) return undefined;
    const { head } = base;
    const { steps, sent } = await this.stepsAfter(id, head.version);
    if (steps.length)
      return this.rememberLoaded(
        await this.replay(
          { snapshot: base.snapshot, version: head.version, definition: head.definition },
          steps,
          sent,
        ),
      );
    const pending = head.outbox !== undefined && !sent.has(head.version);
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
    sent: ReadonlySet<number>,
  ): Promise<StoredInstance> {
    const definition = await this.definitions.byHash(base.definition);
    if (!definition)
      throw new EngineError(
        "UnknownDefinition",
        `definition ${base.definition} of ${base.snapshot.id} is not stored`,
      );
    let snapshot = base.snapshot;
    let commands: readonly Command[] = [];
    let current = { hash: base.definition, definition };
    const messages = await Promise.all(steps.map((step) => this.payloads.get(step.message)));
    for (const [i, step] of steps.entries()) {
      const message = JSON.parse(messages[i] as string) as Message;
      // Under the rules it was applied under: a docket upgraded since replays it as it was written.
      const semantics = step.semantics ?? 1;
      if (message.type === "migrate") {
        const moved = await migrationStep(this.definitions, current, snapshot, message, step.at, semantics);
        ({ snapshot, commands } = moved.result);
        current = { hash: moved.hash, definition: moved.definition };
      } else ({ snapshot, commands } = transition(current.definition, snapshot, message, step.at, semantics));
    }
    const last = steps[steps.length - 1] as Step;
    return {
      snapshot,
      version: base.version + steps.length,
      outbox: last.sent || sent.has(versionOf(last)) ? [] : commands,
      definition: current.hash,
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
    // Checked before anything is written: a state too large must leave the message unapplied.
    const json = JSON.stringify(snapshot);
    checkStateSize(snapshot.id, json);
    if (expected === undefined) {
      // The first version is the head itself: the launch's snapshot (the head is the lock).
      await this.putHead(next, json, 1, "attribute_not_exists(pk)");
      this.remember({ ...next, version: 1 });
      // The launch's step item is history only (loading starts at the head, after it), so an
      // operator sees what launched the instance and with which fields, as on the embedded host.
      // Written once: a redelivered launch that finds it there changes nothing. Not in one
      // transaction with the head: a crash between the two leaves the history without its launch
      // (the state is whole, the head has it), at the price of one write, not a transaction's two.
      const launch = await stepItem(this.payloads, next, record, 1);
      await aws("recording the launch in the history", () => this.putStepIfAbsent(launch));
      return 1;
    }
    // The step's put-if-absent is the optimistic lock; whatever fails, the cached state is not trusted.
    const written = await this.putStepIfAbsent(await stepItem(this.payloads, next, record, version)).catch(
      (error: unknown) => {
        this.forgetCached(snapshot.id);
        throw error;
      },
    );
    if (!written) {
      this.forgetCached(snapshot.id);
      throw new ConflictError(`instance ${snapshot.id} is past version ${expected}`);
    }
    this.remember({ ...next, version });
    if (this.headDue(snapshot, version, next.definition)) {
      // A head is rewritten only once its step's commands are sent (markSent), so a head never
      // carries an outbox: loading from it replays nothing and finds nothing left to send.
      if (next.outbox.length) keepNewest(this.dueHeads, snapshot.id, { next, json, version }, HEAD_CACHE);
      else await this.advanceHead(next, json, version);
    }
    return version;
  }

  /** Drops what this process cached of an instance: its next load reads the head afresh. */
  forget(id: string): void {
    this.forgetCached(id);
  }

  private forgetCached(id: string): void {
    this.heads.delete(id);
    this.tips.delete(id);
  }

  /** Puts a step item unless one is there already (false then). */
  private async putStepIfAbsent(step: Step): Promise<boolean> {
    try {
      await this.table.client.send(
        new PutCommand({
          TableName: this.table.name,
          Item: step,
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof Error && error.name === "ConditionalCheckFailedException") return false;
      throw error;
    }
  }

  /** Whether the head should move to `version`: every `snapshotEvery` steps, and when the status changes. */
  private headDue(snapshot: Snapshot, version: number, definition: string): boolean {
    const base = this.heads.get(snapshot.id);
    const finished = ["completed", "faulted", "canceled"].includes(snapshot.status);
    return (
      !base ||
      version - base.head.version >= this.snapshotEvery ||
      base.head.status !== snapshot.status ||
      // A migration: the head names the definition (listings, the byDefinition index, replays).
      base.head.definition !== definition ||
      finished
    );
  }

  /**
   * A loaded state whose commands are unsent may be one whose head is due (another container saved
   * it and died before sending): its markSent here then writes that head, so a finished instance's
   * head does not stay behind forever.
   */
  private rememberLoaded(state: StoredInstance): StoredInstance {
    if (
      state.outbox.length &&
      state.version > 1 &&
      this.headDue(state.snapshot, state.version, state.definition)
    ) {
      const { version, ...next } = state;
      const json = JSON.stringify(state.snapshot);
      keepNewest(this.dueHeads, state.snapshot.id, { next, json, version }, HEAD_CACHE);
    }
    return this.remember(state);
  }

  /** A newer head only: a crash before it leaves the older head, and loading replays the steps. */
  private async advanceHead(next: Omit<StoredInstance, "version">, json: string, version: number) {
    await this.putHead(
      { ...next, outbox: [] },
      json,
      version,
      "attribute_not_exists(pk) OR version < :v",
      version,
    ).catch((error: Error) => {
      if (error.name !== "ConditionalCheckFailedException") throw error;
    });
  }

  private async putHead(
    next: Omit<StoredInstance, "version">,
    json: string,
    version: number,
    condition: string,
    below?: number,
  ): Promise<void> {
    const { snapshot } = next;
    const scope = { instance: snapshot.id };
    const head: Head = {
      pk: instanceKey(snapshot.id),
      sk: "HEAD",
      version,
      status: snapshot.status,
      process: snapshot.process,
      definition: next.definition,
      snapshot: await this.payloads.put(json, scope),
      createdAt: snapshot.createdAt,
      updatedAt: snapshot.updatedAt,
      ...(next.outbox.length ? { outbox: await this.payloads.put(JSON.stringify(next.outbox), scope) } : {}),
      ...(next.delivery === undefined ? {} : { delivery: next.delivery }),
      listing: listingKey(snapshot.status, snapshot.id),
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
      message: await this.payloads.put(JSON.stringify(record.message), { instance: id }),
      notes: await this.payloads.put(JSON.stringify(record.notes), { instance: id }),
      commands: "[]",
    };
    await aws("recording a note", () =>
      this.table.client.send(new PutCommand({ TableName: this.table.name, Item: item })),
    );
  }

  /**
   * Marks a step's commands sent with a small item of its own beside the step (a write unit,
   * where updating the step would be billed by the step's whole size); loading reads it with the
   * steps. Then writes the head if it was due at this step.
   */
  async markSent(id: string, version: number): Promise<void> {
    const tip = this.tips.get(id);
    if (tip?.version === version) this.tips.set(id, { ...tip, outbox: [] });
    const due = this.dueHeads.get(id);
    this.dueHeads.delete(id);
    await aws("marking a step's commands sent", () =>
      this.table.client.send(
        new PutCommand({
          TableName: this.table.name,
          Item: { pk: instanceKey(id), sk: sentKey(version), kind: "sent" },
        }),
      ),
    );
    // After the marker: a container that replays this step from an older base reads the marker.
    if (due?.version === version) await this.advanceHead(due.next, due.json, version);
  }

  /** Steps and, after each, the notes of messages it ignored (history.ts). */
  history(id: string, page: { after?: number; limit?: number } = {}): Promise<HistoryPage> {
    return readHistory(this.table, this.payloads, id, page);
  }

  recentHistory(id: string, limit: number): Promise<HistoryRecord[]> {
    return readRecentHistory(this.table, this.payloads, id, limit);
  }

  /** Newest first, from the status index (listing.ts). */
  list(filter: InstanceFilter = {}): Promise<InstanceSummary[]> {
    return listInstances(this.table, filter);
  }

  count(filter: { status: InstanceStatus; process?: string }, cap: number): Promise<InstanceCount> {
    return countInstances(this.table, filter, cap);
  }

  /**
   * Deletes the instance's items and its payloads. The head goes last: a delete cut short (a
   * timeout on a long history) is found again and finished by the next attempt.
   */
  async remove(id: string): Promise<boolean> {
    this.forgetCached(id);
    this.dueHeads.delete(id);
    const keys = (
      await queryAll(this.table, "finding an instance's items", {
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": instanceKey(id) },
        ProjectionExpression: "pk, sk",
        ConsistentRead: true,
      })
    ).map((item) => ({ pk: item.pk, sk: item.sk }));
    const head = keys.filter((key) => key.sk === "HEAD");
    const rest = keys.filter((key) => key.sk !== "HEAD");
    await batchWriteAll(
      this.table,
      "deleting an instance's items",
      rest.map((Key) => ({ DeleteRequest: { Key } })),
    );
    await this.payloads.removeInstance(id);
    await batchWriteAll(
      this.table,
      "deleting an instance's head",
      head.map((Key) => ({ DeleteRequest: { Key } })),
    );
    return head.length > 0;
  }
}

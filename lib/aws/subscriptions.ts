/**
 * Await subscriptions and the event buffer in the DynamoDB table, laid out so that no read grows
 * with what it does not need and no partition takes every write of a busy event name:
 *
 *   S#<event>#*          <subscription>   an await on the event whatever its key
 *   S#<event>#=<key>     <subscription>   an await on the event with that key
 *   E#<event>#=<key>     <at>#<id>        a keyed event, for keyed awaits that subscribe later
 *   E#<event>#*<shard>   <at>#<id>        every event of the name, spread over BUFFER_SHARDS
 *                                         partitions by its id, for unkeyed awaits
 *
 * Routing an event reads the two subscription partitions it can match a page at a time; a keyed
 * await reads only its key's buffer, an unkeyed one every shard of the name's (in time order).
 */
import { DeleteCommand, GetCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { ExternalEvent, Subscription, SubscriptionIndex, SubscriptionPage } from "../ports.js";
import { batchWriteAll, queryAll } from "./calls.js";
import { inlinePayloads, type PayloadStore } from "./payloads.js";
import { aws, instanceKey, pad, shardOf, type TableRef } from "./table.js";

/** Partitions an unkeyed event name's buffer is spread over (each takes ~1,000 writes a second). */
export const BUFFER_SHARDS = 8;
/** Subscriptions routed per page: a hundred SendMessageBatch calls, well within one invocation. */
export const ROUTE_PAGE = 1000;
/**
 * The bytes of messages one page may queue: a large event makes smaller pages, as each of its
 * messages over the large-payload threshold is a PutObject of its own (1 MB of data: ten a page).
 */
export const ROUTE_PAGE_BYTES = 10 * 1024 * 1024;

/** How many of an event's awaits one page wakes, by the size of the messages it queues. */
export function routePageFor(event: ExternalEvent, pageSize: number): number {
  const bytes = JSON.stringify(event.data ?? null).length + 512;
  return Math.max(1, Math.min(pageSize, Math.floor(ROUTE_PAGE_BYTES / bytes)));
}

const subscriptionKey = (event: string, key?: string) => `S#${event}#${key === undefined ? "*" : `=${key}`}`;
const keyedBufferKey = (event: string, key: string) => `E#${event}#=${key}`;
const sharedBufferKey = (event: string, shard: number) => `E#${event}#*${shard}`;
const eventSort = (at: number, id: string) => `${pad(at, 15)}#${id}`;

type Item = Record<string, unknown>;

/** The items a subscription is: itself under its (event, key), and a pointer under its instance. */
export function subscriptionItems(s: Subscription): Item[] {
  const item = {
    pk: subscriptionKey(s.event, s.key),
    sk: s.subscription,
    instance: s.instance,
    node: s.node,
    event: s.event,
    ...(s.key === undefined ? {} : { key: s.key }),
  };
  return [item, { pk: instanceKey(s.instance), sk: `S#${s.subscription}`, at: item.pk }];
}

const toSubscription = (i: Item): Subscription => ({
  subscription: String(i.sk),
  instance: String(i.instance),
  node: String(i.node),
  event: String(i.event),
  ...(i.key === undefined ? {} : { key: String(i.key) }),
});

/** A buffered event, its data read back from S3 when it was offloaded there. */
const toEvent = async (e: Item, payloads: PayloadStore): Promise<ExternalEvent> => ({
  id: String(e.id),
  name: String(e.name),
  ...(e.key === undefined ? {} : { key: String(e.key) }),
  data: JSON.parse(await payloads.get(String(e.data))),
  at: Number(e.at),
});

/** Whether an item read back is really for this event (a `#` in a name could make two keys alike). */
const sameEvent = (i: Item, name: string) => i.event === name || i.name === name;

/** A routing cursor: which of the event's subscription partitions, and the last subscription read there. */
function parseCursor(cursor: string | undefined): { part: number; after?: string } {
  if (!cursor) return { part: 0 };
  const bar = cursor.indexOf("|");
  const after = cursor.slice(bar + 1);
  return { part: Number(cursor.slice(0, bar)), ...(after ? { after } : {}) };
}

export class DynamoSubscriptionIndex implements SubscriptionIndex {
  /**
   * `payloads`: where event data over the large-payload threshold goes (an item holds 400 KB, an
   * event 1 MB); `bufferTtlMs`: how long after its time a buffered event item expires (DynamoDB TTL).
   */
  constructor(
    private readonly table: TableRef,
    private readonly payloads: PayloadStore = inlinePayloads,
    private readonly bufferTtlMs = 2 * 60 * 60 * 1000,
    private readonly pageSize = ROUTE_PAGE,
  ) {}

  async subscribe(s: Subscription, since: number): Promise<ExternalEvent[]> {
    await batchWriteAll(
      this.table,
      "subscribing",
      subscriptionItems(s).map((Item) => ({ PutRequest: { Item } })),
    );
    // Consistent: an event buffered just before this subscription must be found here or find it there.
    const partitions =
      s.key === undefined
        ? Array.from({ length: BUFFER_SHARDS }, (_, shard) => sharedBufferKey(s.event, shard))
        : [keyedBufferKey(s.event, s.key)];
    const read = await Promise.all(
      partitions.map((pk) =>
        queryAll(this.table, "reading the event buffer", {
          KeyConditionExpression: "pk = :pk AND sk > :since",
          ExpressionAttributeValues: { ":pk": pk, ":since": pad(since, 15) },
          ConsistentRead: true,
        }),
      ),
    );
    const matching = read
      .flat()
      .filter((e) => sameEvent(e, s.event) && (s.key === undefined || e.key === s.key))
      .sort((a, b) => (String(a.sk) < String(b.sk) ? -1 : 1));
    return Promise.all(matching.map((e) => toEvent(e, this.payloads)));
  }

  async unsubscribe(subscription: string): Promise<void> {
    // The subscription's own key is needed to delete it: find it through any instance pointer.
    const pointer = await this.pointer(subscription);
    if (!pointer) return;
    await aws("unsubscribing", () =>
      this.table.client.send(
        new DeleteCommand({ TableName: this.table.name, Key: { pk: pointer.at, sk: subscription } }),
      ),
    );
    await aws("unsubscribing", () =>
      this.table.client.send(
        new DeleteCommand({ TableName: this.table.name, Key: { pk: pointer.pk, sk: `S#${subscription}` } }),
      ),
    );
  }

  private async pointer(subscription: string): Promise<{ pk: string; at: string } | undefined> {
    // Subscription ids start with the instance id: `<instance>/<node>/s<n>`.
    const instance = subscription.slice(0, subscription.indexOf("/"));
    const { Item } = await aws("finding a subscription", () =>
      this.table.client.send(
        new GetCommand({
          TableName: this.table.name,
          Key: { pk: instanceKey(instance), sk: `S#${subscription}` },
          ConsistentRead: true,
        }),
      ),
    );
    return Item ? { pk: String(Item.pk), at: String(Item.at) } : undefined;
  }

  async unsubscribeInstance(instance: string): Promise<void> {
    const pointers = await queryAll(this.table, "finding an instance's subscriptions", {
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :s)",
      ExpressionAttributeValues: { ":pk": instanceKey(instance), ":s": "S#" },
      ConsistentRead: true,
    });
    for (const item of pointers) await this.unsubscribe(String(item.sk).slice(2));
  }

  /** One write call: the event under its key (when it has one) and in one shard of its name's buffer. */
  async record(event: ExternalEvent, _since: number): Promise<void> {
    const item = {
      sk: eventSort(event.at, event.id),
      id: event.id,
      name: event.name,
      ...(event.key === undefined ? {} : { key: event.key }),
      // Stored once, in S3 when large: both of the event's items point to it.
      data: await this.payloads.put(JSON.stringify(event.data), "transient"),
      at: event.at,
      // Old events expire by TTL, not by a delete on every publish.
      expires: Math.ceil((event.at + this.bufferTtlMs) / 1000),
    };
    const partitions = [
      sharedBufferKey(event.name, shardOf(event.id, BUFFER_SHARDS)),
      ...(event.key === undefined ? [] : [keyedBufferKey(event.name, event.key)]),
    ];
    await batchWriteAll(
      this.table,
      "buffering an event",
      partitions.map((pk) => ({ PutRequest: { Item: { pk, ...item } } })),
    );
  }

  /**
   * Up to a page of the event's subscriptions: the unkeyed awaits on its name, then those on its
   * key. Consistent: a subscription written just before this event must be found here or find it there.
   */
  async matching(event: ExternalEvent, cursor?: string): Promise<SubscriptionPage> {
    const partitions = [
      subscriptionKey(event.name),
      ...(event.key === undefined ? [] : [subscriptionKey(event.name, event.key)]),
    ];
    const found: Subscription[] = [];
    const pageSize = routePageFor(event, this.pageSize);
    let { part, after } = parseCursor(cursor);
    while (part < partitions.length) {
      if (found.length === pageSize) return { subscriptions: found, next: `${part}|` };
      const pk = partitions[part] as string;
      const { Items = [], LastEvaluatedKey } = await aws("finding subscriptions", () =>
        this.table.client.send(
          new QueryCommand({
            TableName: this.table.name,
            KeyConditionExpression: "pk = :pk",
            ExpressionAttributeValues: { ":pk": pk },
            ConsistentRead: true,
            Limit: pageSize - found.length,
            ...(after === undefined ? {} : { ExclusiveStartKey: { pk, sk: after } }),
          }),
        ),
      );
      for (const item of Items)
        if (sameEvent(item, event.name) && (item.key === undefined || item.key === event.key))
          found.push(toSubscription(item));
      if (LastEvaluatedKey) return { subscriptions: found, next: `${part}|${String(LastEvaluatedKey.sk)}` };
      part += 1;
      after = undefined;
    }
    return { subscriptions: found };
  }
}

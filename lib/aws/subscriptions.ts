/** Await subscriptions on (event, key) and the event buffer, in the DynamoDB table. */
import { DeleteCommand, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { ExternalEvent, Subscription, SubscriptionIndex } from "../ports.js";
import { batchWriteAll, queryAll } from "./calls.js";
import { aws, instanceKey, pad, type TableRef } from "./table.js";

const subscriptionKey = (event: string, key?: string) => `S#${event}#${key === undefined ? "*" : `=${key}`}`;
const eventSort = (at: number, id: string) => `${pad(at, 15)}#${id}`;

export class DynamoSubscriptionIndex implements SubscriptionIndex {
  /** `bufferTtlMs`: how long after its time a buffered event item expires (DynamoDB TTL). */
  constructor(
    private readonly table: TableRef,
    private readonly bufferTtlMs = 2 * 60 * 60 * 1000,
  ) {}

  async subscribe(s: Subscription, since: number): Promise<ExternalEvent[]> {
    const item = {
      pk: subscriptionKey(s.event, s.key),
      sk: s.subscription,
      instance: s.instance,
      node: s.node,
      event: s.event,
      ...(s.key === undefined ? {} : { key: s.key }),
    };
    await batchWriteAll(this.table, "subscribing", [
      { PutRequest: { Item: item } },
      { PutRequest: { Item: { pk: instanceKey(s.instance), sk: `S#${s.subscription}`, at: item.pk } } },
    ]);
    // Consistent: an event buffered just before this subscription must be found here or find it there.
    const buffered = await queryAll(this.table, "reading the event buffer", {
      KeyConditionExpression: "pk = :pk AND sk > :since",
      ExpressionAttributeValues: { ":pk": `E#${s.event}`, ":since": pad(since, 15) },
      ConsistentRead: true,
    });
    return buffered
      .filter((e) => s.key === undefined || e.key === s.key)
      .map((e) => ({
        id: String(e.id),
        name: s.event,
        ...(e.key === undefined ? {} : { key: String(e.key) }),
        data: JSON.parse(String(e.data)),
        at: Number(e.at),
      }));
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

  async record(event: ExternalEvent, _since: number): Promise<Subscription[]> {
    await aws("buffering an event", () =>
      this.table.client.send(
        new PutCommand({
          TableName: this.table.name,
          Item: {
            pk: `E#${event.name}`,
            sk: eventSort(event.at, event.id),
            id: event.id,
            ...(event.key === undefined ? {} : { key: event.key }),
            data: JSON.stringify(event.data),
            at: event.at,
            expires: Math.ceil((event.at + this.bufferTtlMs) / 1000),
          },
        }),
      ),
    );
    const keys = [
      subscriptionKey(event.name),
      ...(event.key === undefined ? [] : [subscriptionKey(event.name, event.key)]),
    ];
    const out: Subscription[] = [];
    for (const pk of keys) {
      // Consistent: a subscription written just before this event must be found here or find it there.
      const found = await queryAll(this.table, "finding subscriptions", {
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": pk },
        ConsistentRead: true,
      });
      for (const i of found)
        out.push({
          subscription: String(i.sk),
          instance: String(i.instance),
          node: String(i.node),
          event: String(i.event),
          ...(i.key === undefined ? {} : { key: String(i.key) }),
        });
    }
    return out;
  }
}

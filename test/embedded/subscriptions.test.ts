/**
 * The SQLite subscription index answers as `key IS NULL OR key = ?` did, from two index ranges:
 * a keyed event wakes its key's awaits and the unkeyed ones in the order they subscribed; an
 * unkeyed await takes every buffered event of the name; pruning drops old events a few at a time.
 */
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../lib/embedded/database.js";
import { PRUNE_BATCH, SqliteSubscriptionIndex } from "../../lib/embedded/subscriptions.js";

const event = (id: string, name: string, at: number, key?: string) => ({
  id,
  name,
  at,
  data: { id },
  ...(key === undefined ? {} : { key }),
});
const subscription = (id: string, event: string, key?: string) => ({
  subscription: id,
  instance: `i-${id}`,
  node: "n",
  event,
  ...(key === undefined ? {} : { key }),
});

describe("the SQLite subscription index", () => {
  it("a keyed event matches its key and the unkeyed awaits, in the order they subscribed", async () => {
    const index = new SqliteSubscriptionIndex(openDatabase(":memory:"));
    for (const [id, key] of [
      ["s1", "a"],
      ["s2", undefined],
      ["s3", "b"],
      ["s4", "a"],
      ["s5", undefined],
    ] as const)
      await index.subscribe(subscription(id, "go", key), 0);
    await index.subscribe(subscription("other", "stop", "a"), 0);
    const ids = async (key?: string) =>
      (await index.matching(event("e", "go", 1, key))).subscriptions.map((s) => s.subscription);
    expect(await ids("a")).toEqual(["s1", "s2", "s4", "s5"]);
    expect(await ids("b")).toEqual(["s2", "s3", "s5"]);
    expect(await ids()).toEqual(["s2", "s5"]);
    await index.unsubscribeInstance("i-s2");
    expect(await ids("a")).toEqual(["s1", "s4", "s5"]);
  });

  it("an unkeyed await takes every buffered event of the name; a keyed one its key's, oldest first, within the window", async () => {
    const index = new SqliteSubscriptionIndex(openDatabase(":memory:"));
    await index.record(event("old", "go", 5, "a"), 0);
    await index.record(event("e1", "go", 20, "a"), 0);
    await index.record(event("e2", "go", 10, "b"), 0);
    await index.record(event("e3", "go", 30), 0);
    await index.record(event("x", "stop", 15, "a"), 0);
    const ids = async (key: string | undefined, since: number) =>
      (await index.subscribe(subscription(`s-${key}-${since}`, "go", key), since)).map((e) => e.id);
    expect(await ids(undefined, 6)).toEqual(["e2", "e1", "e3"]);
    expect(await ids("a", 6)).toEqual(["e1"]);
    expect(await ids("a", 0)).toEqual(["old", "e1"]);
  });

  it("recording an event prunes at most a batch of the expired ones, oldest first", async () => {
    const db = openDatabase(":memory:");
    const index = new SqliteSubscriptionIndex(db);
    for (let i = 0; i < PRUNE_BATCH * 2; i++) await index.record(event(`old${i}`, "go", i), -1);
    const count = () => (db.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n;
    await index.record(event("new1", "go", 1000), 999);
    expect(count()).toBe(PRUNE_BATCH + 1);
    await index.record(event("new2", "go", 1001), 999);
    expect(count()).toBe(2);
    expect((await index.subscribe(subscription("s", "go"), 999)).map((e) => e.id)).toEqual(["new1", "new2"]);
  });
});

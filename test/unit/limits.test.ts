/** The limits: a long loop runs and its history pages; runaway loops, huge messages and deep calls stop with clear errors. */
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../lib/embedded/database.js";
import { SqliteDefinitionStore } from "../../lib/embedded/definitions.js";
import { EmbeddedQueues } from "../../lib/embedded/queues.js";
import { SqliteInstanceStore } from "../../lib/embedded/store.js";
import { SqliteSubscriptionIndex } from "../../lib/embedded/subscriptions.js";
import { rootContext, STEP_BUDGET, transition } from "../../lib/engine/index.js";
import { readDefinition } from "../../lib/language/index.js";
import { MAX_STATE_BYTES } from "../../lib/ports.js";
import { Runtime } from "../../lib/runtime/runtime.js";

const loop = (n: number, body: string) =>
  readDefinition(`context: { i: 0 }\ndo:\n  - while: { condition: 'context.i < ${n}', do: [ ${body} ] }\n`, {
    file: "loop.yaml",
  });
const increment = "{ assign: { property: i, value: 'context.i + 1' } }";

describe("limits", () => {
  it("runs a 100,000-iteration loop that never waits in one transition", () => {
    const { snapshot } = transition(
      loop(100_000, increment),
      undefined,
      { type: "launch", instance: "l" },
      0,
    );
    expect(snapshot.status).toBe("completed");
    expect(rootContext(snapshot)).toEqual({ i: 100_000 });
  });

  it("stops a loop that never ends with StepLimit, naming the cure", () => {
    const { snapshot } = transition(loop(1e12, increment), undefined, { type: "launch", instance: "l" }, 0);
    expect(snapshot.fault).toMatchObject({
      code: "StepLimit",
      message: expect.stringContaining(`more than ${STEP_BUDGET} steps`),
    });
  });

  it("keeps the history of a long-running loop readable, page by page", async () => {
    const db = openDatabase(":memory:");
    const definitions = new SqliteDefinitionStore(db);
    const queues = new EmbeddedQueues(db, () => 0);
    const store = new SqliteInstanceStore(db);
    const runtime = new Runtime({
      store,
      dispatcher: queues,
      subscriptions: new SqliteSubscriptionIndex(db),
      definitions,
      clock: { now: () => 0 },
      newId: () => "x",
      sendsCommitWithState: true,
    });
    const STEPS = 5_000;
    await definitions.register(
      "work.yaml",
      `context: { i: 0 }\ndo:\n  - while: { condition: 'context.i < ${STEPS}', do: [ { action: w } ] }\n`,
    );
    await runtime.launch({ process: "work", id: "w-1" });
    for (let item = queues.peek(); item; item = queues.peek()) {
      await runtime.apply(item.instance, item.message);
      queues.ack(item.id);
      for (const open of queues.openTasks()) {
        const i = (open.task.fields.i as number) + 1;
        await runtime.reply({ task: open.task.task, status: "done", fields: { i } });
        queues.closeTask(open.id);
      }
    }
    expect((await store.load("w-1"))?.snapshot.status).toBe("completed");
    let pages = 0;
    let records = 0;
    let after: number | undefined = 0;
    while (after !== undefined) {
      const page = await store.history("w-1", { after, limit: 1000 });
      expect(page.records.length).toBeLessThanOrEqual(1000);
      records += page.records.length;
      pages++;
      after = page.next;
    }
    expect(records).toBe(STEPS + 1);
    expect(pages).toBe(Math.ceil((STEPS + 1) / 1000));
  }, 60_000);

  it("refuses a reply, launch or event over the message limit, naming the field and sizes", async () => {
    const db = openDatabase(":memory:");
    const definitions = new SqliteDefinitionStore(db);
    await definitions.register("p.yaml", "do: [ { action: a } ]\n");
    const runtime = new Runtime({
      store: new SqliteInstanceStore(db),
      dispatcher: new EmbeddedQueues(db, () => 0),
      subscriptions: new SqliteSubscriptionIndex(db),
      definitions,
      clock: { now: () => 0 },
      newId: () => "x",
      maxMessageBytes: 1000,
    });
    const big = { blob: "b".repeat(2000) };
    await expect(runtime.launch({ process: "p", fields: big })).rejects.toThrow(
      /fields: is 20\d\d bytes; the limit is 1000 bytes/,
    );
    await expect(runtime.publish({ name: "e", data: big })).rejects.toThrow(
      /data: is 20\d\d bytes; the limit is 1000 bytes/,
    );
    await expect(
      runtime.reply({
        task: { id: "x/0/1", instance: "x", node: "0", attempt: 1 },
        status: "done",
        fields: big,
      }),
    ).rejects.toThrow(/fields: is 20\d\d bytes/);
  });

  it("refuses a state over the size limit instead of storing it", async () => {
    const db = openDatabase(":memory:");
    const store = new SqliteInstanceStore(db);
    const huge = { id: "h", scopes: [["0", { blob: "x".repeat(MAX_STATE_BYTES) }]] } as never;
    await expect(
      store.save(
        { snapshot: huge, outbox: [], definition: "d" },
        { at: 0, message: { type: "launch", instance: "h" }, commands: [], notes: [] },
        undefined,
      ),
    ).rejects.toThrow(/instance h's state would be \d+ bytes; the limit is 16777216 bytes/);
  });
});

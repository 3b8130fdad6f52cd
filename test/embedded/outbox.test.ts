/**
 * The outbox: a crash between the state write and the sends loses nothing. Each port call of the
 * advance loop fails once in turn; the redelivered message then gives the same end state and every
 * task exactly once.
 */
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../lib/embedded/database.js";
import { SqliteDefinitionStore } from "../../lib/embedded/definitions.js";
import { EmbeddedQueues } from "../../lib/embedded/queues.js";
import { SqliteInstanceStore } from "../../lib/embedded/store.js";
import { SqliteSubscriptionIndex } from "../../lib/embedded/subscriptions.js";
import { rootContext, type TaskCommand } from "../../lib/engine/index.js";
import { InfrastructureError } from "../../lib/errors.js";
import type { Dispatcher, InstanceStore } from "../../lib/ports.js";
import { Runtime } from "../../lib/runtime/runtime.js";

const SOURCE = "context: { n: 0 }\ndo:\n  - all: { do: [ { action: a }, { action: b } ] }\n  - action: c\n";

/** Wraps every method of an object so that call number `failAt` (counting all calls) throws once, before or after it runs. */
function faulty<T extends object>(target: T, plan: { calls: number; failAt: number; after: boolean }): T {
  return new Proxy(target, {
    get(object, name, receiver) {
      const value = Reflect.get(object, name, receiver);
      if (typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        const call = ++plan.calls;
        if (call === plan.failAt && !plan.after)
          throw new InfrastructureError(`injected failure before ${String(name)}`);
        const result = await value.apply(object, args);
        if (call === plan.failAt && plan.after)
          throw new InfrastructureError(`injected failure after ${String(name)}`);
        return result;
      };
    },
  });
}

async function scenario(failAt: number, after: boolean) {
  const db = openDatabase(":memory:");
  const queues = new EmbeddedQueues(db, () => 0);
  const plan = { calls: 0, failAt, after };
  const definitions = new SqliteDefinitionStore(db);
  await definitions.register("flow.yaml", SOURCE);
  const runtime = new Runtime({
    store: faulty<InstanceStore>(new SqliteInstanceStore(db), plan),
    dispatcher: faulty<Dispatcher>(queues, plan),
    subscriptions: new SqliteSubscriptionIndex(db),
    definitions,
    clock: { now: () => 0 },
    newId: () => "id",
  });
  const sent: TaskCommand[] = [];
  const received: string[] = [];
  queues.on("task", (task: TaskCommand) => sent.push(task));
  await runtime.launch({ process: "flow", id: "i" }).catch(() => undefined);
  if (!queues.peek()) await runtime.launch({ process: "flow", id: "i" });
  // The inbox loop: apply, ack; a failure leaves the message for redelivery.
  for (let item = queues.peek(), guard = 0; item && guard < 50; item = queues.peek(), guard++) {
    try {
      await runtime.apply(item.instance, item.message);
      queues.ack(item.id);
    } catch {
      // redelivered on the next turn
    }
    // Participants answer each task they receive once.
    for (const task of sent.splice(0)) {
      received.push(task.task.id);
      await queues.enqueue("i", {
        type: "reply",
        task: task.task,
        status: "done",
        fields: { [task.task.participant]: true },
      });
    }
  }
  const stored = await new SqliteInstanceStore(db).load("i");
  return { stored, ids: received };
}

describe("a failure at any port call of the advance loop", () => {
  it.each(Array.from({ length: 24 }, (_, i) => [i + 1, i % 2 === 1] as const))(
    "call %i (after: %s) loses nothing and sends no task twice",
    async (failAt, after) => {
      const { stored, ids } = await scenario(failAt, after);
      expect(stored?.snapshot.status).toBe("completed");
      expect(rootContext(stored?.snapshot ?? ({} as never))).toEqual({ n: 0, a: true, b: true, c: true });
      expect(stored?.outbox).toEqual([]);
      expect(new Set(ids)).toEqual(new Set(["i/0.0.0/1", "i/0.0.1/1", "i/0.1/1"]));
      expect(ids.length).toBe(3);
    },
  );
});

/**
 * The in-memory ports keep the promises the advance loop relies on (the same ones the SQLite and
 * DynamoDB stores keep), and MemoryHost delivers as a host does: a refused message is set aside,
 * a failure of the machinery is redelivered and its saved outbox sent then.
 */
import { describe, expect, it } from "vitest";
import type { EventMessage, Snapshot } from "../../lib/engine/types.js";
import { ConflictError, InfrastructureError } from "../../lib/errors.js";
import { readDefinition } from "../../lib/language/index.js";
import { MemoryStore } from "../../lib/runtime/memory.js";
import { MemoryHost } from "../../lib/runtime/memory-host.js";

const twoActions = readDefinition("process: two\ndo:\n  - action: a\n  - action: b\n", { format: "yaml" });

function snapshotOf(id: string): Snapshot {
  return { id, process: "p", status: "running", createdAt: 1, updatedAt: 1 } as unknown as Snapshot;
}

const rootContext = (snapshot: Snapshot | undefined) => new Map(snapshot?.scopes).get("0");

const record = { at: 1, message: { type: "launch", instance: "x" } as const, commands: [], notes: [] };

describe("MemoryStore", () => {
  it("saves only over the version it was given, and clears an outbox only for that version", async () => {
    const store = new MemoryStore();
    const first = { snapshot: snapshotOf("x"), outbox: [], definition: "h" };
    expect(await store.save(first, record, undefined)).toBe(1);
    await expect(store.save(first, record, undefined)).rejects.toBeInstanceOf(ConflictError);
    const outbox = [{ type: "publish", event: "e", detail: {} }] as const;
    expect(await store.save({ ...first, outbox }, record, 1)).toBe(2);
    await store.markSent("x", 1);
    expect((await store.load("x"))?.outbox).toEqual(outbox);
    await store.markSent("x", 2);
    expect((await store.load("x"))?.outbox).toEqual([]);
  });

  it("pages history and lists newest first after a cursor", async () => {
    const store = new MemoryStore();
    for (const [id, createdAt] of [
      ["a", 1],
      ["b", 2],
      ["c", 2],
    ] as const)
      await store.save(
        { snapshot: { ...snapshotOf(id), createdAt }, outbox: [], definition: "h" },
        record,
        undefined,
      );
    for (let i = 0; i < 4; i++) await store.note("a", record, 1);
    const page = await store.history("a", { limit: 3 });
    expect(page.records.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect((await store.history("a", { after: page.next ?? 0 })).records.map((r) => r.seq)).toEqual([4, 5]);
    expect((await store.list()).map((s) => s.id)).toEqual(["c", "b", "a"]);
    expect((await store.list({ after: "000000000000002#c" })).map((s) => s.id)).toEqual(["b", "a"]);
  });
});

describe("MemoryHost", () => {
  it("redelivers a message whose sends failed after its save, and the saved outbox goes out then", async () => {
    const host = new MemoryHost();
    host.definitions.add(twoActions);
    await host.launch("two", { id: "i" });
    const send = host.dispatcher.sendTask.bind(host.dispatcher);
    let failures = 1;
    host.dispatcher.sendTask = async (command) => {
      if (failures-- > 0) throw new InfrastructureError("the queue is down");
      return send(command);
    };
    const [task] = host.openTasks();
    if (!task) throw new Error("no task a");
    await host.send("i", { type: "reply", task: task.task, status: "done" });
    expect(host.openTasks().map((t) => t.task.participant)).toEqual(["b"]);
    expect(host.history("i").map((r) => r.message.type)).toEqual(["launch", "reply"]);
    expect(host.setAside).toEqual([]);
  });

  it("queues no buffered event to an await that may not take it, and the instance still ignores a repeat", async () => {
    const host = new MemoryHost();
    host.definitions.add(
      readDefinition(
        'process: loop\ncontext: { n: 0 }\ndo:\n  - while:\n      condition: context.n < 2\n      do:\n        - await: { event: go }\n        - assign: { property: n, value: "context.n + 1" }\n',
        { format: "yaml" },
      ),
    );
    await host.launch("loop", { id: "i" });
    await host.publish("go", undefined, 1);
    // The loop's next await finds the event still buffered: it was taken, so nothing is queued.
    expect(host.history("i").map((r) => r.message.type)).toEqual(["launch", "event"]);
    expect(rootContext(host.snapshot("i"))?.n).toBe(1);
    // Delivered again all the same (a redelivery), the interpreter refuses it as consumed.
    const [taken] = host.history("i").filter((r) => r.message.type === "event");
    const second = host.snapshot("i")?.nodes.find(([, state]) => state.k === "await");
    if (!taken || !second || second[1].k !== "await") throw new Error("no event step or no await");
    await host.send("i", {
      ...(taken.message as EventMessage),
      subscription: second[1].subscription,
      node: second[0],
    });
    expect(
      host
        .history("i")
        .at(-1)
        ?.notes.map((n) => n.reason),
    ).toEqual([expect.stringContaining("already consumed")]);
    expect(rootContext(host.snapshot("i"))?.n).toBe(1);
  });

  it("sets aside a message the loop refuses, with the reason, and goes on with the rest", async () => {
    const host = new MemoryHost();
    await host.send("ghost", { type: "launch", instance: "ghost", version: "nope" });
    expect(host.setAside.map((s) => s.reason)).toEqual([
      expect.stringContaining("UnknownDefinition: definition version nope"),
    ]);
  });
});

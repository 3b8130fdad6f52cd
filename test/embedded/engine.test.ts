import { afterEach, describe, expect, it } from "vitest";
import type { EmbeddedEngine } from "../../lib/embedded/engine.js";
import { rootContext } from "../../lib/engine/index.js";
import type { Snapshot } from "../../lib/engine/types.js";
import { InfrastructureError, MessageError } from "../../lib/errors.js";
import { open, project, until } from "./helpers.js";

const engines: EmbeddedEngine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});
async function start(...args: Parameters<typeof open>) {
  const engine = await open(...args);
  engines.push(engine);
  return engine;
}

const flow = `process: flow
context: { n: 0 }
do:
  - action: { participant: local, retry: 1 }
  - action: manual
  - delay: 0.2
  - await: { event: go, key: context.key }
  - action: { participant: shell }
`;

describe("the embedded engine", () => {
  it("runs a process with module, command and external participants, timers and events", async () => {
    const { config } = project(
      {
        "definitions/flow.yaml": flow,
        "participants/local.ts": "export default async (task) => ({ n: task.fields.n + 1, key: 'k1' });",
      },
      'database: state/docket.sqlite\nparticipants:\n  shell: { command: "node -e \\"let s=\\x27\\x27;process.stdin.on(\\x27data\\x27,d=>s+=d).on(\\x27end\\x27,()=>{const t=JSON.parse(s);console.log(JSON.stringify({from_shell:t.fields.n*10}))})\\"" }\n',
    );
    const engine = await start(config);
    const id = await engine.launch({ process: "flow", fields: { n: 1 } });
    const task = await until(() => engine.queues.claim("manual", 60_000));
    expect(task.fields).toMatchObject({ n: 2, key: "k1" });
    await engine.reply({ task: task.task, status: "done", fields: { manual: true } });
    await engine.publish({ name: "go", key: "k1", data: { ok: 1 } });
    const done = await until(async () => {
      const s = await engine.snapshot(id);
      return s?.status === "completed" ? s : undefined;
    });
    expect(rootContext(done)).toMatchObject({ n: 2, manual: true, from_shell: 20 });
  });

  it("survives a restart: queued work, open tasks and timers carry on", async () => {
    const { config } = project({
      "definitions/wait.yaml": "do:\n  - action: manual\n  - delay: 0.3\n  - action: manual\n",
    });
    let engine = await start(config);
    const id = await engine.launch({ process: "wait" });
    const first = await until(() => engine.queues.claim("manual", 1));
    await engine.reply({ task: first.task, status: "done" });
    await engine.idle();
    await engine.close();
    engine = await start(config);
    expect((await engine.snapshot(id))?.status).toBe("running");
    const second = await until(() => engine.queues.claim("manual", 60_000));
    expect(second.task.node).toBe("0.2");
    await engine.reply({ task: second.task, status: "done" });
    await until(async () => ((await engine.snapshot(id))?.status === "completed" ? true : undefined));
  });

  it("takes operator commands: pause, resume, retry, skip, fail, cancel", async () => {
    const { config } = project({ "definitions/ops.yaml": "do:\n  - action: manual\n  - action: manual\n" });
    const engine = await start(config);
    const id = await engine.launch({ process: "ops" });
    let task = await until(() => engine.queues.claim("manual", 1));
    await engine.reply({ task: task.task, status: "error", error: { message: "no" } });
    await engine.idle();
    expect((await engine.snapshot(id))?.status).toBe("suspended");
    await engine.operate(id, "retry");
    task = await until(() => engine.queues.claim("manual", 1));
    expect(task.task.attempt).toBe(2);
    await engine.reply({ task: task.task, status: "error", error: { message: "again" } });
    await engine.idle();
    await engine.operate(id, "pause");
    await engine.operate(id, "skip", { fields: { skipped: true } });
    await engine.idle();
    expect(engine.queues.claim("manual", 1)).toBeUndefined();
    await engine.operate(id, "resume");
    task = await until(() => engine.queues.claim("manual", 1));
    await engine.operate(id, "cancel");
    await engine.idle();
    const snapshot = await engine.snapshot(id);
    expect(snapshot?.status).toBe("canceled");
    expect(rootContext(snapshot ?? ({} as never))).toMatchObject({ skipped: true });
    const history = await engine.store.history(id);
    expect(
      history.records.map((r) => (r.message.type === "operator" ? r.message.action : r.message.type)),
    ).toEqual(["launch", "reply", "retry", "reply", "pause", "skip", "resume", "cancel"]);
    await expect(engine.operate("nope", "cancel")).rejects.toThrow(/no instance nope/);
  });

  it("refuses a malformed reply with the field at fault, and ignores a duplicate one", async () => {
    const { config } = project({ "definitions/one.yaml": "do: [ { action: manual } ]\n" });
    const engine = await start(config);
    const id = await engine.launch({ process: "one" });
    const task = await until(() => engine.queues.claim("manual", 1));
    await expect(engine.reply({ task: { id: task.task.id }, status: "done" })).rejects.toThrow(
      /task.node: must be a non-empty string/,
    );
    await expect(engine.reply({ process_id: "x", type: "response" })).rejects.toThrow(
      /task: must be the task object/,
    );
    await engine.reply({ task: task.task, status: "done", fields: { v: 1 } });
    await engine.reply({ task: task.task, status: "done", fields: { v: 2 } });
    await engine.idle();
    const snapshot = await engine.snapshot(id);
    expect(rootContext(snapshot ?? ({} as never))).toEqual({ v: 1 });
    const notes = (await engine.store.history(id)).records.flatMap((r) => r.notes.map((n) => n.reason));
    expect(notes).toContainEqual(expect.stringMatching(/stale or a duplicate|is completed/));
  });

  it("pins instances to the definition version they started on", async () => {
    const { dir, config } = project({
      "definitions/v.yaml": "do: [ { action: manual }, { assign: { property: v, value: '1' } } ]\n",
    });
    const engine = await start(config);
    const id = await engine.launch({ process: "v" });
    const { writeFileSync } = await import("node:fs");
    writeFileSync(
      `${dir}/definitions/v.yaml`,
      "do: [ { action: manual }, { assign: { property: v, value: '2' } } ]\n",
    );
    await engine.definitions.register(
      "v.yaml",
      "do: [ { action: manual }, { assign: { property: v, value: '2' } } ]\n",
    );
    const task = await until(() => engine.queues.claim("manual", 1));
    await engine.reply({ task: task.task, status: "done" });
    await engine.idle();
    expect(rootContext((await engine.snapshot(id)) ?? ({} as never))).toEqual({ v: 1 });
    const newer = await engine.launch({ process: "v" });
    const next = await until(() => engine.queues.claim("manual", 1));
    await engine.reply({ task: next.task, status: "done" });
    await engine.idle();
    expect(rootContext((await engine.snapshot(newer)) ?? ({} as never))).toEqual({ v: 2 });
  });

  it("registers a dropped definition file, and rejects an invalid one with its errors", async () => {
    const { dir, config } = project({ "definitions/keep.yaml": "do: [ { action: a } ]\n" });
    const engine = await start(config, { watch: true });
    const { writeFileSync, mkdirSync } = await import("node:fs");
    mkdirSync(`${dir}/definitions/team`, { recursive: true });
    writeFileSync(`${dir}/definitions/team/order.xml`, '<process><action participant="x"/></process>');
    writeFileSync(`${dir}/definitions/broken.xml`, "<process><nope/></process>");
    await until(
      async () =>
        (await engine.definitions.catalogue()).processes.some((p) => p.name === "team/order") || undefined,
    );
    const rejected = await until(async () =>
      (await engine.definitions.catalogue()).rejected.find((r) => r.name === "broken"),
    );
    expect(rejected.problems[0]).toMatch(/^broken\.xml:1:\d+: unknown element <nope>/);
    await expect(engine.launch({ process: "broken" })).rejects.toThrow(/no process "broken" is registered/);
  });
});

describe("a definition's name", () => {
  it("is its file's path in the folder, whatever the name it declares, which is logged as not used", async () => {
    const { config } = project({
      "definitions/team/order.xml": '<process name="orders"><action participant="x"/></process>',
      "definitions/plain.yaml": "do: [ { action: a } ]\n",
    });
    const said: string[] = [];
    const engine = await start(config, { log: (line) => said.push(line) });
    const names = (await engine.definitions.catalogue()).processes.map((p) => p.name);
    expect(names).toEqual(["plain", "team/order"]);
    expect(said.filter((line) => line.startsWith("registered")).sort()).toEqual([
      expect.stringMatching(/^registered plain \(\w+\)$/),
      expect.stringMatching(
        /^registered team\/order \(\w+\); the name it declares, "orders", is not used: a stored definition is named by its file's path$/,
      ),
    ]);
    await expect(engine.launch({ process: "orders" })).rejects.toThrow(/no process "orders" is registered/);
  });
});

describe("the embedded engine under a failing port", () => {
  // A failure after the state is written but before (or while) the tasks are sent must not commit
  // the state alone: the whole message is rolled back and retried.
  it.each(
    Array.from({ length: 14 }, (_, i) => [
      [i + 1, "before"],
      [i + 1, "after"],
    ]).flat() as [number, "before" | "after"][],
  )("loses no task when port call %i fails %s it", async (call, moment) => {
    const { FaultInjector } = await import("../../lib/runtime/faults.js");
    const faults = new FaultInjector([{ call, moment, kind: "fail" }]);
    const { config } = project({
      "definitions/pair.yaml":
        "do: [ { all: { do: [ { action: left }, { action: right } ] } }, { action: last } ]\n",
    });
    const engine = await start(config, { faults, log: () => {} });
    // A client whose call failed calls again.
    const again = async (call: () => Promise<unknown>) => {
      for (let i = 0; i < 3; i++)
        if (
          await call().then(
            () => true,
            () => false,
          )
        )
          return;
    };
    const id = "pair-1";
    await again(() => engine.launch({ process: "pair", id }));
    for (const participant of ["left", "right", "last"]) {
      const task = await until(() => engine.queues.claim(participant, 60_000));
      await again(() => engine.reply({ task: task.task, status: "done", fields: { [participant]: true } }));
    }
    await until(async () => (await engine.store.load(id))?.snapshot.status === "completed");
    expect(faults.fired).toHaveLength(1);
    expect(rootContext((await engine.store.load(id))?.snapshot ?? ({} as never))).toEqual({
      left: true,
      right: true,
      last: true,
    });
  });

  describe("a reply taken when nothing is queued", () => {
    const two = { "definitions/two.yaml": "do:\n  - action: manual\n  - action: manual\n" };
    const queuedReplies = (engine: EmbeddedEngine) => {
      const queued: string[] = [];
      const enqueue = engine.queues.enqueue.bind(engine.queues);
      engine.queues.enqueue = (instance, message) => {
        queued.push(message.type);
        return enqueue(instance, message);
      };
      return queued;
    };

    it("is applied in the commit that takes it, with no inbox row", async () => {
      const engine = await start(project(two).config);
      const id = await engine.launch({ process: "two" });
      const task = await until(() => engine.queues.claim("manual", 60_000));
      const queued = queuedReplies(engine);
      await engine.reply({ task: task.task, status: "done", fields: { a: 1 } });
      // Applied by the time the caller hears the reply was taken: the next task is stored.
      expect(engine.queues.openTasks().map((t) => t.task.task.node)).toEqual(["0.1"]);
      expect(queued).toEqual([]);
      expect(rootContext((await engine.snapshot(id)) as Snapshot)).toMatchObject({ a: 1 });
    });

    it("is queued when applying it fails, what that wrote undone, its task closed, and applied from the inbox after", async () => {
      const engine = await start(project(two).config);
      const id = await engine.launch({ process: "two" });
      const task = await until(() => engine.queues.claim("manual", 60_000));
      const queued = queuedReplies(engine);
      const apply = engine.runtime.apply.bind(engine.runtime);
      let failures = 1;
      // The first application saves the step (its state, history and next task), then fails.
      engine.runtime.apply = async (...args) => {
        const outcome = await apply(...args);
        if (failures-- > 0) throw new InfrastructureError("the disk filled after the step was saved");
        return outcome;
      };
      await engine.reply({ task: task.task, status: "done", fields: { a: 1 } });
      expect(queued).toEqual(["reply"]);
      expect(engine.queues.taskState(task.task.id)).toBe("replied");
      await engine.idle();
      expect(engine.queues.queued).toBe(false);
      // Applied once, from the inbox: the first application's rows were undone with it.
      expect((await engine.store.history(id)).records.map((r) => r.message.type)).toEqual([
        "launch",
        "reply",
      ]);
      expect(engine.queues.openTasks().map((t) => t.task.task.node)).toEqual(["0.1"]);
      expect(rootContext((await engine.snapshot(id)) as Snapshot)).toMatchObject({ a: 1 });
    });

    it("is refused, with nothing of it kept, when it can be neither applied nor queued", async () => {
      const engine = await start(project(two).config);
      const id = await engine.launch({ process: "two" });
      const task = await until(() => engine.queues.claim("manual", 60_000));
      engine.runtime.apply = () => Promise.reject(new InfrastructureError("the disk is busy"));
      engine.queues.enqueue = () => Promise.reject(new InfrastructureError("the inbox is busy"));
      await expect(engine.reply({ task: task.task, status: "done" })).rejects.toThrow("the inbox is busy");
      expect(engine.queues.taskState(task.task.id)).toBe("open");
      expect((await engine.store.history(id)).records.map((r) => r.message.type)).toEqual(["launch"]);
    });

    it("queued behind another, is refused when it cannot be queued, tried once", async () => {
      const engine = await start(project(two).config);
      const id = await engine.launch({ process: "two" });
      const task = await until(() => engine.queues.claim("manual", 60_000));
      const apply = engine.runtime.apply.bind(engine.runtime);
      engine.runtime.apply = (instance, message, ...rest) =>
        message.type === "operator"
          ? Promise.reject(new InfrastructureError("the disk is busy"))
          : apply(instance, message, ...rest);
      await engine.operate(id, "pause");
      expect(engine.queues.queued).toBe(true);
      let tries = 0;
      engine.queues.enqueue = () => {
        tries++;
        return Promise.reject(new InfrastructureError("the inbox is full"));
      };
      await expect(engine.reply({ task: task.task, status: "done" })).rejects.toThrow("the inbox is full");
      expect(tries).toBe(1);
      expect(engine.queues.taskState(task.task.id)).toBe("open");
    });

    it("is refused as malformed when its fields are not its own (what is checked is what is applied)", async () => {
      const engine = await start(project(two).config);
      await engine.launch({ process: "two" });
      const task = await until(() => engine.queues.claim("manual", 60_000));
      const inherited = Object.create({ task: task.task, status: "done" }) as object;
      await expect(engine.reply(inherited)).rejects.toBeInstanceOf(MessageError);
      expect(engine.queues.taskState(task.task.id)).toBe("open");
    });

    it("waits its turn behind a message queued before it in the same transaction", async () => {
      const { config } = project({
        "definitions/both.yaml":
          "do:\n  - all:\n      - action: manual\n      - await: { event: go, into: a }\n      - await: { event: go, into: b }\n",
      });
      const engine = await start(config);
      const id = await engine.launch({ process: "both" });
      const task = await until(() => engine.queues.claim("manual", 60_000));
      // In one turn, so one transaction: the event queues two messages, the first applied before
      // the reply's write runs; the reply must come after the second, not between them.
      await Promise.all([
        engine.publish({ name: "go", data: 1 }),
        engine.reply({ task: task.task, status: "done" }),
      ]);
      await engine.idle();
      expect((await engine.store.history(id)).records.map((r) => r.message.type)).toEqual([
        "launch",
        "event",
        "event",
        "reply",
      ]);
      expect((await engine.snapshot(id))?.status).toBe("completed");
    });

    it("waits its turn behind a message queued before it (one retried)", async () => {
      const engine = await start(project(two).config);
      const id = await engine.launch({ process: "two" });
      const task = await until(() => engine.queues.claim("manual", 60_000));
      const apply = engine.runtime.apply.bind(engine.runtime);
      // The pause fails until the reply has been taken (its retries come every 50 ms or more).
      let failing = true;
      engine.runtime.apply = (instance, message, ...rest) =>
        message.type === "operator" && failing
          ? Promise.reject(new InfrastructureError("the disk is busy"))
          : apply(instance, message, ...rest);
      await engine.operate(id, "pause");
      // The pause waits for its retry; the reply comes behind it, so the next task is held.
      await engine.reply({ task: task.task, status: "done" });
      expect(engine.queues.queued).toBe(true);
      failing = false;
      await engine.idle();
      expect((await engine.store.history(id)).records.map((r) => r.message.type)).toEqual([
        "launch",
        "operator",
        "reply",
      ]);
      const snapshot = await engine.snapshot(id);
      expect(snapshot?.status).toBe("suspended");
      expect(snapshot?.held.map((t) => t.task.node)).toEqual(["0.1"]);
    });
  });
});

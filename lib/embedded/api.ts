/**
 * The embedded host of the operations API (`docket serve`): the engine's store and definitions,
 * its writes (each in a transaction), and the task long-poll and replies for external workers.
 */
import type { Server } from "node:http";
import type { ChangeFeed } from "../api/console.js";
import { type ApiOptions, serveOperations } from "../api/http.js";
import { awaitsTask } from "../engine/types.js";
import { EngineError, MessageError } from "../errors.js";
import type { StepObservation } from "../ports.js";
import { EngineOperations, type OperationsPort, type TaskPort } from "../runtime/operations.js";
import { replyProblems } from "../runtime/runtime.js";
import type { EmbeddedEngine } from "./engine.js";
import { toWire } from "./participants.js";

export type { ApiOptions } from "../api/http.js";

function embeddedTasks(engine: EmbeddedEngine): TaskPort {
  return {
    async claim(participant, waitMs, leaseMs, signal) {
      const deadline = Date.now() + waitMs;
      for (;;) {
        const task = engine.queues.claim(participant, leaseMs);
        // A worker that went away while it waited never gets this task: give it back at once.
        if (task && signal?.aborted) engine.queues.extendLease(task.task.id, 0);
        else if (task && !(await stillAwaited(engine, task.task))) {
          // Its action was canceled (a race lost, a fault, the instance canceled): withdrawn, the next one taken.
          engine.queues.closeTask(task.task.id);
          continue;
        } else if (task) return toWire(task, "/replies");
        if (Date.now() >= deadline || signal?.aborted) return undefined;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async reply(reply) {
      const problems = replyProblems(reply);
      if (problems.length) throw new MessageError(problems);
      const task = (reply as { task: { id: string; instance?: string } }).task;
      const instance = task.instance ?? "";
      if (!(await engine.store.load(instance)))
        throw new EngineError("NoInstance", `no instance ${instance} for the reply to task ${task.id}`);
      const state = engine.queues.taskState(task.id);
      if (state === undefined) throw new EngineError("NoTask", `instance ${instance} has no task ${task.id}`);
      if (state === "replied") throw taskClosed(task.id);
      await engine.reply(reply);
    },
    async lease(task, seconds) {
      const state = engine.queues.taskState(task);
      if (state === undefined) throw new EngineError("NoTask", `no task ${task}`);
      if (state === "replied") throw taskClosed(task);
      return engine.queues.extendLease(task, seconds * 1000);
    },
  };
}

/** A reply or a lease for a task the engine no longer takes one for (409). */
const taskClosed = (task: string) =>
  new EngineError(
    "TaskClosed",
    `task ${task} is closed: answered already, or withdrawn (its action no longer waits for it)`,
  );

async function stillAwaited(
  engine: EmbeddedEngine,
  task: { id: string; instance: string },
): Promise<boolean> {
  const stored = await engine.store.load(task.instance);
  return stored !== undefined && awaitsTask(stored.snapshot, task.id);
}

/** The operations port over an embedded engine; `operatorWaitMs` as in OperationsHost (default 5 s). */
export function embeddedOperations(
  engine: EmbeddedEngine,
  options: { operatorWaitMs?: number } = {},
): OperationsPort {
  return new EngineOperations({
    ...options,
    name: "embedded",
    store: engine.store,
    definitions: engine.definitions,
    clock: engine.clock,
    launch: (request) => engine.launch(request),
    publish: (request) => engine.publish(request),
    enqueue: (instance, message) => engine.enqueue(instance, message),
    tasks: embeddedTasks(engine),
    // Brought in line first: a definition registered a moment ago lists its schedule.
    schedules: async (count) => {
      if (engine.options.schedules !== false) await engine.schedules.reconcile();
      return engine.schedules.scheduler.list(count);
    },
  });
}

/** Each step the engine applies, as the console's change feed hears of it. */
export function engineChanges(engine: EmbeddedEngine): ChangeFeed {
  return (listener) => {
    const heard = (step: StepObservation) => {
      if (step.outcome === "applied")
        listener({ instance: step.instance, process: step.process, status: step.statusAfter });
    };
    engine.queues.on("step", heard);
    return () => engine.queues.off("step", heard);
  };
}

export function serveApi(engine: EmbeddedEngine, options: ApiOptions = {}): Server {
  return serveOperations(embeddedOperations(engine), { changes: engineChanges(engine), ...options });
}

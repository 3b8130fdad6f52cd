/**
 * The advance loop tells its observer what each step did (started, ended, faults, incidents, a
 * resent outbox), and an observer that throws never fails a step.
 */
import { describe, expect, it } from "vitest";
import { InfrastructureError } from "../../lib/errors.js";
import { readDefinition } from "../../lib/language/index.js";
import type { RuntimeObserver, StepObservation } from "../../lib/ports.js";
import { MemoryHost } from "../../lib/runtime/memory-host.js";
import { Runtime } from "../../lib/runtime/runtime.js";

const yaml = (text: string) => readDefinition(text, { format: "yaml" });

const DEFINITIONS = [
  yaml("process: two\ndo: [{ action: a }, { action: b }]\n"),
  yaml("process: risky\ndo: [{ action: risky }]\n"),
  yaml(
    "process: caught\nfaults: [{ default: [{ assign: { property: x, value: '1' } }] }]\ndo: [{ fault: { code: Stop } }]\n",
  ),
  yaml("process: uncaught\ndo: [{ fault: { code: Stop } }]\n"),
];

/** A MemoryHost's ports under a runtime with `observer`, applying the inbox as the host would. */
function observed(observer: RuntimeObserver) {
  const host = new MemoryHost();
  for (const definition of DEFINITIONS) host.definitions.add(definition);
  const runtime = new Runtime({ ...host.runtime.deps, observer });
  const drain = async () => {
    const outcomes = [];
    for (let entry = host.dispatcher.inbox.shift(); entry; entry = host.dispatcher.inbox.shift())
      outcomes.push(await runtime.apply(entry.instance, entry.message, entry.delivery));
    return outcomes;
  };
  const launch = async (process: string, id: string) => {
    await runtime.launch({ process, id });
    return drain();
  };
  return { host, runtime, drain, launch };
}

function recorder() {
  const steps: StepObservation[] = [];
  return { steps, observer: { stepObserved: (step: StepObservation) => void steps.push(step) } };
}

describe("a runtime observer", () => {
  it("never fails a step by throwing: the step is saved and its commands sent", async () => {
    let calls = 0;
    const { host, launch } = observed({
      stepObserved() {
        calls++;
        throw new Error("the metrics sink is broken");
      },
    });
    expect(await launch("two", "i")).toEqual(["applied"]);
    expect(calls).toBe(1);
    expect(host.snapshot("i")?.status).toBe("running");
    expect(host.openTasks().map((t) => t.task.participant)).toEqual(["a"]);
  });

  it("hears of a start, each step's outcome and time, and the end with its status", async () => {
    const { steps, observer } = recorder();
    const { host, runtime, launch, drain } = observed(observer);
    await launch("two", "i");
    const [a] = host.openTasks();
    if (!a) throw new Error("no task a");
    const reply = { type: "reply", task: a.task, status: "done" } as const;
    await runtime.apply("i", reply, "r1");
    // The same delivery again changes nothing.
    expect(await runtime.apply("i", reply, "r1")).toBe("ignored");
    const [b] = host.openTasks();
    if (!b) throw new Error("no task b");
    await runtime.apply("i", { type: "reply", task: b.task, status: "done" }, "r2");
    await drain();
    expect(steps.map((s) => [s.messageType, s.outcome, s.statusBefore, s.statusAfter])).toEqual([
      ["launch", "applied", undefined, "running"],
      ["reply", "applied", "running", "running"],
      ["reply", "ignored", "running", "running"],
      ["reply", "applied", "running", "completed"],
    ]);
    for (const step of steps) {
      expect(step).toMatchObject({ instance: "i", process: "two", faults: 0, incidentsOpened: 0 });
      expect(step.elapsedMs).toBeGreaterThanOrEqual(0);
    }
  });

  it("counts a fault a handler caught, a fault that ended the instance, and an incident opened", async () => {
    const { steps, observer } = recorder();
    const { host, runtime, launch } = observed(observer);
    await launch("caught", "c");
    await launch("uncaught", "u");
    await launch("risky", "r");
    const [task] = host.openTasks();
    if (!task) throw new Error("no risky task");
    await runtime.apply("r", { type: "reply", task: task.task, status: "error", error: { message: "no" } });
    expect(steps.map((s) => [s.instance, s.statusAfter, s.faults, s.incidentsOpened])).toEqual([
      ["c", "completed", 1, 0],
      ["u", "faulted", 1, 0],
      ["r", "running", 0, 0],
      ["r", "suspended", 0, 1],
    ]);
  });

  it("says when a step first sent again the outbox an earlier delivery saved but failed to send", async () => {
    const { steps, observer } = recorder();
    const { host, runtime, launch } = observed(observer);
    await launch("two", "i");
    const send = host.dispatcher.sendTask.bind(host.dispatcher);
    let failures = 1;
    host.dispatcher.sendTask = async (command) => {
      if (failures-- > 0) throw new InfrastructureError("the queue is down");
      return send(command);
    };
    const [a] = host.openTasks();
    if (!a) throw new Error("no task a");
    const reply = { type: "reply", task: a.task, status: "done" } as const;
    await expect(runtime.apply("i", reply, "r1")).rejects.toBeInstanceOf(InfrastructureError);
    expect(await runtime.apply("i", reply, "r1")).toBe("ignored");
    expect(steps.map((s) => [s.outcome, s.resentOutbox])).toEqual([
      ["applied", false],
      ["ignored", true],
    ]);
  });
});

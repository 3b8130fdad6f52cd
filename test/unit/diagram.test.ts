import { describe, expect, it } from "vitest";
import { type Message, type Snapshot, type TaskCommand, transition } from "../../lib/engine/index.js";
import { readDefinition } from "../../lib/language/index.js";
import type { HistoryRecord } from "../../lib/ports.js";
import { diagram } from "../../lib/runtime/diagram.js";

const yaml = (source: string) => readDefinition(source, { format: "yaml" });

/** Runs messages through the interpreter, keeping the history a host would keep. */
function run(source: string, replies: readonly ("done" | "critical" | "error")[]) {
  const definition = yaml(source);
  const history: HistoryRecord[] = [];
  let snapshot: Snapshot | undefined;
  let open: TaskCommand | undefined;
  const apply = (message: Message) => {
    const result = transition(definition, snapshot, message, history.length);
    snapshot = result.snapshot;
    history.push({ at: history.length, message, commands: result.commands, notes: result.notes });
    open = result.commands.find((c): c is TaskCommand => c.type === "task") ?? open;
  };
  apply({ type: "launch", instance: "i-1" });
  for (const status of replies) {
    if (!open) throw new Error("no open task");
    const { id, node, attempt } = open.task;
    open = undefined;
    apply({ type: "reply", task: { id, node, attempt }, status, error: { message: "boom" } });
  }
  if (!snapshot) throw new Error("no snapshot");
  return diagram(definition, { snapshot, history });
}

describe("diagram", () => {
  it("draws a join where the branches of all, race and switch meet, before the next activity", () => {
    const text = diagram(
      yaml(`do:
  - all: [{ action: a }, { sequence: [{ action: b }, { action: c }] }]
  - race: [{ await: e }, { delay: PT1H }]
  - switch:
      - when: context.x > 1
        do: [{ action: big }]
  - action: end
`),
    );
    const lines = text.split("\n").map((line) => line.trim());
    expect(lines).toEqual(
      expect.arrayContaining([
        'n0_0_join(("join"))',
        "n0_0_0 --> n0_0_join",
        "n0_0_1_1 --> n0_0_join", // a sequence branch flows on from its last activity
        "n0_0_join --> n0_1",
        'n0_1_join(("first wins"))',
        "n0_1_0 --> n0_1_join",
        "n0_1_1 --> n0_1_join",
        "n0_1_join --> n0_2",
        "n0_2_0_0 --> n0_2_join",
        'n0_2 -.->|"no case holds"| n0_2_join',
        "n0_2_join --> n0_3",
      ]),
    );
    expect(lines).not.toContain("n0_0 --> n0_1");
  });

  it("colours an action whose critical reply a handler caught as faulted, and the handler's action active", () => {
    const text = run(
      `faults: [{ case: ActionError, do: [{ action: cure }] }]
do: [{ action: first }, { action: risky }]
`,
      ["done", "critical"],
    );
    expect(text).toContain("class n0_0 done");
    expect(text).toContain("class n0_1 faulted");
    expect(text).toContain("class n0_f0_0 waiting");
  });

  it("colours the action of an unhandled fault faulted, and one with an open incident", () => {
    expect(run("do: [{ action: risky }]", ["critical"])).toContain("class n0_0 faulted");
    expect(run("do: [{ action: flaky }]", ["error"])).toContain("class n0_0 faulted");
  });

  it("colours the branches that lost a race canceled, the winner done", () => {
    const text = run(
      `do:
  - race: [{ action: fast }, { sequence: [{ action: slow }] }, { await: e }]
  - action: after
`,
      ["done"],
    );
    expect(text).toContain("classDef canceled");
    expect(text).toContain("class n0_0_0 done");
    expect(text).toContain("class n0_0_1_0 canceled");
    expect(text).toContain("class n0_0_2 canceled");
    expect(text).toContain("class n0_1 waiting");
  });

  it("colours what a caught fault stopped canceled, and the node that raised it faulted", () => {
    const text = run(
      `faults: [{ default: [{ action: cure }] }]
do: [{ all: [{ action: risky }, { delay: PT1H }] }]
`,
      ["critical"],
    );
    expect(text).toContain("class n0_0_0 faulted");
    expect(text).toContain("class n0_0_1 canceled");
  });

  it("colours a <fault> activity that a handler caught, though it sends nothing", () => {
    const text = run(
      `faults: [{ default: [{ action: cure }] }]
do: [{ fault: { code: Stop } }]
`,
      [],
    );
    expect(text).toContain("class n0_0 faulted");
  });
});

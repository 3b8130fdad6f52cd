/**
 * Fuzzing: fast-check arbitraries for definition sources (random text, mutated valid files, random
 * XML and YAML trees in docket's vocabulary) and for valid definitions driven by random message
 * streams. The properties: the parsers and the interpreter never crash, never hang, and every error
 * they raise is one of docket's (a DocketError). `fuzz.test.ts` runs a quick share; `npm run fuzz`
 * runs as many as FUZZ_RUNS says.
 */
import fc from "fast-check";
import { stringify } from "yaml";
import { checkMessage, transition } from "../../lib/engine/index.js";
import type { Command, Message, Snapshot } from "../../lib/engine/types.js";
import { DocketError } from "../../lib/errors.js";
import { type Definition, readDefinition } from "../../lib/language/index.js";

const ELEMENTS = ["process", "sequence", "action", "switch", "case", "condition", "while", "foreach", "all"];
const MORE = [
  "call",
  "delay",
  "await",
  "fault",
  "assign",
  "context",
  "property",
  "faults",
  "input",
  "output",
];
const ATTRIBUTES = ["participant", "timeout", "retry", "backoff", "event", "key", "code", "name", "select"];
const VALUES = ["x", "1", "-1", "PT1S", "P", "context.n > 1", "1 +", "", "&amp;", "a\u0000b", "9".repeat(30)];

const SAMPLE_XML = `<process name="p">
  <context><property name="n">1</property></context>
  <sequence>
    <action participant="a" timeout="PT5M" retry="2"/>
    <switch><case><condition>context.n &gt; 0</condition><action participant="b"/></case></switch>
    <while><condition>context.n &lt; 3</condition><assign property="n" value="context.n + 1"/></while>
  </sequence>
</process>`;
const SAMPLE_YAML = `process: p
context: { n: 1, items: [1, 2] }
do:
  - action: { participant: a, timeout: PT5M, retry: 2 }
  - all: { do: [ { action: b }, { delay: PT1S } ] }
  - foreach: { select: context.items, parallel: true, do: [ { action: c } ] }
  - await: { event: e, key: context.n, timeout: PT1H }
`;

/** A random XML tree in (mostly) docket's vocabulary. */
const xmlTree: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
  node: fc
    .tuple(
      fc.constantFrom(...ELEMENTS, ...MORE),
      fc.array(fc.tuple(fc.constantFrom(...ATTRIBUTES), fc.constantFrom(...VALUES)), { maxLength: 3 }),
      fc.array(fc.oneof({ maxDepth: 5, depthIdentifier: "xml" }, fc.constantFrom(...VALUES), tie("node")), {
        maxLength: 4,
      }),
    )
    .map(([name, attributes, children]) => {
      const attrs = attributes.map(([k, v]) => ` ${k}="${v.replaceAll('"', "&quot;")}"`).join("");
      return children.length ? `<${name}${attrs}>${children.join("")}</${name}>` : `<${name}${attrs}/>`;
    }),
})).node;

/** A random YAML tree: activity keys, fields and values, nested. */
const yamlValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 5, depthIdentifier: "yaml" },
    fc.constantFrom(...VALUES, 0, 1, -5, 2.5, true, null),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(
      fc.constantFrom(
        "do",
        "action",
        "participant",
        "when",
        "condition",
        "select",
        ...ATTRIBUTES,
        "sequence",
        "all",
        "delay",
        "await",
        "assign",
        "property",
        "value",
        "faults",
        "case",
      ),
      tie("value"),
      { maxKeys: 3 },
    ),
  ),
})).value;

/** A valid file with a few characters inserted, deleted or replaced. */
function mutated(source: string): fc.Arbitrary<string> {
  return fc
    .array(
      fc.tuple(
        fc.nat(source.length),
        fc.constantFrom("insert", "delete", "replace"),
        fc.string({ maxLength: 3 }),
      ),
      {
        minLength: 1,
        maxLength: 6,
      },
    )
    .map((edits) => {
      let text = source;
      for (const [at, kind, chars] of edits) {
        const i = Math.min(at, text.length);
        if (kind === "insert") text = text.slice(0, i) + chars + text.slice(i);
        else if (kind === "delete") text = text.slice(0, i) + text.slice(i + 1 + chars.length);
        else text = text.slice(0, i) + chars + text.slice(i + chars.length);
      }
      return text;
    });
}

export const definitionSources: fc.Arbitrary<{ file: string; source: string }> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 200 }).map((source) => ({ file: "random.yaml", source })),
  fc
    .string({ maxLength: 200 })
    .map((source) => ({ file: "random.xml", source: `<process>${source}</process>` })),
  mutated(SAMPLE_XML).map((source) => ({ file: "mutated.xml", source })),
  mutated(SAMPLE_YAML).map((source) => ({ file: "mutated.yaml", source })),
  xmlTree.map((source) => ({ file: "tree.xml", source })),
  yamlValue.map((value) => ({ file: "tree.yaml", source: stringify(value) })),
  yamlValue.map((value) => ({ file: "tree.json", source: JSON.stringify(value) ?? "null" })),
);

/** Reads a source; anything but a definition or a DocketError is a failure. */
export function readsCleanly({ file, source }: { file: string; source: string }): Definition | undefined {
  try {
    return readDefinition(source, { file });
  } catch (error) {
    if (error instanceof DocketError) return undefined;
    throw new Error(
      `readDefinition threw a ${(error as Error)?.name}, not a DocketError, for ${file}: ${JSON.stringify(source).slice(0, 200)}`,
      {
        cause: error,
      },
    );
  }
}

/** Valid definitions built from the language's activities, small enough to drive to their end. */
const ACTIVITY_YAML: fc.Arbitrary<string> = fc.letrec<{ activity: string; list: string }>((tie) => ({
  activity: fc.oneof(
    { maxDepth: 4, depthIdentifier: "activity", withCrossShrink: true },
    fc.constantFrom(
      "{ action: a }",
      "{ action: { participant: b, retry: 1, timeout: PT1M } }",
      "{ delay: PT5S }",
      "{ await: { event: e, timeout: PT1M } }",
      "{ assign: { property: n, value: 'context.n + 1' } }",
      "{ fault: { code: Oops, message: no } }",
      "{ call: { process: p } }",
    ),
    tie("list").map((list) => `{ sequence: { do: ${list} } }`),
    tie("list").map((list) => `{ all: { do: ${list} } }`),
    tie("list").map(
      (list) => `{ switch: [ { when: 'context.n > 1', do: ${list} }, { when: 'true', do: [] } ] }`,
    ),
    // Each round counts, so loops end: a loop that never does stops at StepLimit after 500,000
    // steps (test/unit/limits.test.ts), which would make each run here take a second.
    tie("list").map(
      (list) =>
        `{ while: { condition: 'context.w < 3', do: [ { assign: { property: w, value: 'context.w + 1' } }, { sequence: { do: ${list} } } ] } }`,
    ),
    tie("list").map((list) => `{ foreach: { select: '[1, 2]', parallel: true, do: ${list} } }`),
  ),
  list: fc.array(tie("activity"), { maxLength: 3 }).map((items) => `[ ${items.join(", ")} ]`),
})).list;

export const validDefinitions: fc.Arbitrary<Definition> = ACTIVITY_YAML.map((list) =>
  readDefinition(`context: { n: 0, w: 0 }\nfaults: [ { case: Oops, do: [] } ]\ndo: ${list}\n`, {
    file: "fuzz.yaml",
  }),
);

/** What may happen to an instance: answers to its tasks, fired timers, events, operators, junk. */
type Move =
  | { kind: "reply"; pick: number; status: "done" | "error" | "critical"; fields: Record<string, unknown> }
  | { kind: "timer"; pick: number }
  | { kind: "event"; key: string }
  | { kind: "operator"; action: "pause" | "resume" | "cancel" | "retry" | "skip" | "fail" }
  | { kind: "child"; status: "completed" | "faulted" }
  | { kind: "junk"; message: unknown };

export const moves: fc.Arbitrary<Move[]> = fc.array(
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant("reply" as const),
        pick: fc.nat(),
        status: fc.constantFrom("done" as const, "error" as const, "critical" as const),
        fields: fc.dictionary(
          fc.constantFrom("n", "x"),
          fc.oneof(fc.integer(), fc.string(), fc.constant(null)),
          { maxKeys: 2 },
        ),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("timer" as const), pick: fc.nat() }) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant("event" as const), key: fc.constantFrom("k", "") }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("operator" as const),
        action: fc.constantFrom(
          "pause" as const,
          "resume" as const,
          "cancel" as const,
          "retry" as const,
          "skip" as const,
          "fail" as const,
        ),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("child" as const),
        status: fc.constantFrom("completed" as const, "faulted" as const),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("junk" as const), message: fc.anything() }) },
  ),
  { maxLength: 40 },
);

/** The message a move means for the instance as it stands (undefined: nothing to do). */
function messageOf(move: Move, snapshot: Snapshot, commands: Command[]): unknown {
  const tasks = commands.filter((c) => c.type === "task");
  const timers = commands.filter((c) => c.type === "timer");
  switch (move.kind) {
    case "reply": {
      const task = tasks[move.pick % Math.max(1, tasks.length)];
      return (
        task && {
          type: "reply",
          task: task.task,
          status: move.status,
          fields: move.fields,
          ...(move.status === "done" ? {} : { error: { message: "fuzz" } }),
        }
      );
    }
    case "timer": {
      const timer = timers[move.pick % Math.max(1, timers.length)];
      return timer && { type: "timer", node: timer.node, timer: timer.timer };
    }
    case "event": {
      const sub = commands.find((c) => c.type === "subscribe");
      return (
        sub && {
          type: "event",
          node: sub.node,
          subscription: sub.subscription,
          id: `ev-${snapshot.steps}`,
          name: sub.event,
          ...(move.key ? { key: move.key } : {}),
          data: {},
        }
      );
    }
    case "operator":
      return { type: "operator", action: move.action };
    case "child": {
      const start = commands.find((c) => c.type === "start-child");
      return (
        start && {
          type: "child",
          instance: snapshot.id,
          node: start.parent.node,
          child: start.child,
          status: move.status,
          ...(move.status === "faulted" ? { fault: { code: "X", message: "x" } } : { fields: {} }),
        }
      );
    }
    case "junk":
      return move.message;
  }
}

/**
 * Drives a definition with a stream of moves. Every message is checked as the runtime checks it;
 * a well-formed one goes to transition(), which must not throw anything but a DocketError, and
 * whose snapshot must survive a JSON round trip.
 */
export function drive(definition: Definition, stream: readonly Move[]): Snapshot {
  let { snapshot, commands } = transition(definition, undefined, { type: "launch", instance: "f-1" }, 0);
  const pending: Command[] = [...commands];
  let now = 0;
  for (const move of stream) {
    now += 1000;
    const message = messageOf(move, snapshot, pending);
    if (message === undefined) continue;
    if (checkMessage(message).length) continue;
    try {
      ({ snapshot, commands } = transition(definition, snapshot, message as Message, now));
    } catch (error) {
      if (error instanceof DocketError) continue;
      throw error;
    }
    pending.push(...commands);
    if (JSON.stringify(JSON.parse(JSON.stringify(snapshot))) !== JSON.stringify(snapshot))
      throw new Error("the snapshot does not survive a JSON round trip");
  }
  return snapshot;
}

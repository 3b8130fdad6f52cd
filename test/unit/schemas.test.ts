import { readdirSync, readFileSync } from "node:fs";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { transition } from "../../lib/engine/index.js";
import { readDefinition } from "../../lib/language/index.js";

const ajv = new Ajv({ allErrors: true, strict: false });
const load = (name: string) => ajv.compile(JSON.parse(readFileSync(`schemas/${name}.schema.json`, "utf8")));
const definitionSchema = load("definition");
const yamlDefinitions = [
  ...readdirSync("definitions")
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => `definitions/${f}`),
  ...readdirSync("test/fixtures/docket")
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => `test/fixtures/docket/${f}`),
];

describe("the definition JSON Schema", () => {
  it.each(yamlDefinitions)("accepts %s, which the reader accepts", (file) => {
    const source = readFileSync(file, "utf8");
    expect(() => readDefinition(source, { file })).not.toThrow();
    expect(definitionSchema(parse(source)), JSON.stringify(definitionSchema.errors)).toBe(true);
  });

  it("rejects what the reader rejects: unknown activities and keys", () => {
    expect(definitionSchema({ do: [{ sing: {} }] })).toBe(false);
    expect(definitionSchema({ do: [{ action: { participant: "a", colour: "red" } }] })).toBe(false);
    expect(definitionSchema({ do: [{ while: { do: [] } }] })).toBe(false);
  });
});

describe("the task and reply JSON Schemas", () => {
  it("describe what the engine sends and takes", () => {
    const definition = readDefinition("do: [ { action: a } ]", { format: "yaml" });
    const task = transition(definition, undefined, { type: "launch", instance: "i" }, 0).commands.find(
      (c) => c.type === "task",
    );
    if (task?.type !== "task") throw new Error("no task");
    const wire = {
      docket: 1,
      task: { ...task.task, reply_to: "queue", reply_group: "i" },
      fields: task.fields,
    };
    expect(load("task")(wire)).toBe(true);
    const reply = load("reply");
    expect(reply({ task: task.task, status: "done", fields: { x: 1 } })).toBe(true);
    expect(reply({ task: task.task, status: "critical" })).toBe(false);
    expect(reply({ task: task.task, status: "maybe" })).toBe(false);
  });
});

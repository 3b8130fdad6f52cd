import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { processNameFromKey, readDefinition } from "../../lib/language/index.js";
import { problemsOf, shape } from "../support/definitions.js";

describe("XML reader", () => {
  it("reads every bureaucrat conformance definition that bureaucrat reads", () => {
    const files = [
      "BC01-process-sequence",
      "BC02-switch",
      "BC03-while-true",
      "BC09-fault",
      "BC10-fault-handlers",
      "BC12-foreach",
      "BC13-context-scoping",
      "BC15-workflow-persistence",
      "BC16-example1",
      "BC17-readme-await-fragment",
      "BC20-readme-fault-handlers",
    ];
    for (const name of files) {
      const definition = readDefinition(readFileSync(`test/fixtures/bureaucrat/${name}.xml`, "utf8"), {
        file: `${name}.xml`,
      });
      expect(definition.root.kind).toBe("process");
    }
  });

  it("wraps a root activity in a process and numbers nodes by path", () => {
    const definition = readDefinition(
      "<switch><case><condition>True</condition><action participant='a'/></case></switch>",
    );
    const root = definition.root.children[0];
    expect(root?.kind).toBe("switch");
    expect(root?.id).toBe("0.0");
    if (root?.kind !== "switch") throw new Error("not a switch");
    expect(root.cases[0]?.children[0]?.id).toBe("0.0.0.0");
    expect(root.cases[0]?.conditions[0]?.cel).toBe("true");
  });

  it("numbers paths segment by segment past ten children", () => {
    const actions = Array.from({ length: 12 }, (_, i) => `<action participant="p${i}"/>`).join("");
    const definition = readDefinition(`<process>${actions}</process>`);
    expect(definition.root.children.map((c) => c.id).slice(9)).toEqual(["0.9", "0.10", "0.11"]);
  });

  it("types properties as bureaucrat did; an empty str is the empty string", () => {
    const definition = readDefinition(readFileSync("test/fixtures/bureaucrat/BC16-example1.xml", "utf8"));
    const values = Object.fromEntries(definition.root.scope.properties.map((p) => [p.name, p.value]));
    expect(values).toEqual({
      testprop1: false,
      testprop2: "hello world",
      testprop3: 123456,
      testprop4: 0.5,
      testprop5: { hello: "world" },
      some_process: "",
    });
  });

  it("collects every problem with its line and column", () => {
    const problems = problemsOf(`<process>
  <action/>
  <action participant="x" retry="lots" colour="red"/>
  <delay duration="soon"/>
  <while><action participant="y"/></while>
  <switch><case><condition>context.a &gt;</condition></case></switch>
  <context><property name="p" type="int">1.5</property></context>
</process>`);
    expect(problems).toEqual([
      expect.stringMatching(/^2:\d+ <action> needs a participant attribute$/),
      expect.stringMatching(
        /^3:\d+ <action> has an unknown attribute "colour"; allowed: participant, timeout, heartbeat, retry, backoff, input, output, id$/,
      ),
      expect.stringMatching(/^3:\d+ retry "lots" is not a whole number from 0 to 1000$/),
      expect.stringMatching(/^4:\d+ duration "soon" is not a duration; use seconds/),
      expect.stringMatching(/^5:\d+ <while> needs a <condition>$/),
      expect.stringMatching(/^6:\d+ expression `context.a >` does not compile: /),
      expect.stringMatching(/^7:\d+ property "p" of type int: "1.5" is not an integer$/),
    ]);
  });

  it("refuses an unknown attribute on every element, not only on activities", () => {
    const problems = problemsOf(`<process>
  <context x="1">
    <property name="p" type="int" default="2">1</property>
    <faults y="2">
      <case code="A" codes="B"><action participant="a"/></case>
      <default z="3"><action participant="b"/></default>
    </faults>
  </context>
  <while><condition lang="py">context.p &lt; 2</condition><action participant="c"/></while>
</process>`);
    expect(problems).toEqual([
      expect.stringMatching(/^2:\d+ <context> has an unknown attribute "x"; allowed: none$/),
      expect.stringMatching(/^3:\d+ <property> has an unknown attribute "default"; allowed: name, type$/),
      expect.stringMatching(/^4:\d+ <faults> has an unknown attribute "y"; allowed: none$/),
      expect.stringMatching(/^5:\d+ <case> has an unknown attribute "codes"; allowed: code$/),
      expect.stringMatching(/^6:\d+ <default> has an unknown attribute "z"; allowed: none$/),
      expect.stringMatching(/^9:\d+ <condition> has an unknown attribute "lang"; allowed: none$/),
    ]);
  });

  it("names an unknown element and its line (BC14)", () => {
    expect(
      problemsOf(readFileSync("test/fixtures/bureaucrat/BC14-terminate-cancel-abstract.xml", "utf8"))[0],
    ).toMatch(/^2:23 unknown element <complexexpression>; allowed: <process>, <sequence>, <action>/);
  });

  it("names a mismatched close tag and the line where it stands (BC18)", () => {
    expect(problemsOf(readFileSync("test/fixtures/bureaucrat/BC18-readme-fault-switch.xml", "utf8"))).toEqual(
      ["6:56 </context> closes <condition> (opened at line 6); expected </condition>"],
    );
  });

  it("refuses DTDs, so no entity can expand", () => {
    const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><process><assign property="x">"&lol2;"</assign></process>`;
    expect(problemsOf(bomb)[0]).toMatch(/DTDs \(<!DOCTYPE …>\) are not allowed/);
  });

  it("refuses undeclared entities and external references", () => {
    expect(problemsOf(`<process><assign property="x">"&xxe;"</assign></process>`)[0]).toMatch(
      /undefined entity/i,
    );
  });

  it("enforces the size and depth limits, each configurable", () => {
    const deep = `${"<sequence>".repeat(70)}${"</sequence>".repeat(70)}`;
    expect(problemsOf(deep)[0]).toMatch(/nests deeper than the limit of 64 levels/);
    expect(() => readDefinition(deep, { limits: { maxDepth: 100 } })).not.toThrow();
    const big = `<process><assign property="x">"${"a".repeat(2000)}"</assign></process>`;
    expect(() => readDefinition(big, { limits: { maxBytes: 1000 } })).toThrow(/the limit is 1000 bytes/);
  });

  it("keeps the file name in every message", () => {
    expect(() => readDefinition("<process><nope/></process>", { file: "team/order.xml" })).toThrow(
      /team\/order\.xml:1:\d+: unknown element <nope>/,
    );
  });
});

describe("YAML/JSON reader", () => {
  it("compiles to the same model as the XML of the same process", () => {
    const yaml = readDefinition(readFileSync("definitions/order.yaml", "utf8"), { file: "order.yaml" });
    const xml = readDefinition(readFileSync("test/fixtures/docket/order-equivalent.xml", "utf8"), {
      file: "order.xml",
    });
    expect(shape(xml)).toEqual(shape(yaml));
    expect(xml.name).toBe(yaml.name);
  });

  it("reads JSON too", () => {
    const definition = readDefinition(
      JSON.stringify({ process: "j", do: [{ action: { participant: "a", retry: 2 } }] }),
      { file: "j.json" },
    );
    expect(definition.root.children[0]).toMatchObject({ kind: "action", participant: "a", retry: 2 });
  });

  it("names the field path, line and column of each problem", () => {
    const problems = problemsOf(
      `process: bad
do:
  - action: { participant: a, colour: red }
  - delay: { duration: soon }
  - sing: {}
  - switch:
      - do: []
`,
      "bad.yaml",
    );
    expect(problems).toEqual([
      '3:31 unknown key "colour" at do[0].action; allowed: participant, timeout, heartbeat, retry, backoff, input, output, id',
      expect.stringMatching(/^4:24 duration "soon" is not a duration/),
      "5:5 do[2] must be a map with one activity key: sequence, action, switch, while, foreach, all, race, call, delay, await, fault, assign",
      "7:9 do[3].switch[0].when is required",
    ]);
  });

  it("reports YAML syntax errors with their position", () => {
    expect(problemsOf("do: [a, b\nx: 1", "broken.yaml")[0]).toMatch(/^\d+:\d+ /);
  });

  it("refuses anchors and aliases (the YAML entity bomb)", () => {
    expect(problemsOf("x: &a [1]\ndo:\n  - assign: { property: p, value: *a }\n", "alias.yaml")[0]).toMatch(
      /anchors and aliases are not allowed/,
    );
  });
});

describe("process names", () => {
  it("are the key without its extension", () => {
    expect(processNameFromKey("team/order.xml")).toBe("team/order");
    expect(processNameFromKey("./order.yaml")).toBe("order");
  });
});

describe("an action's heartbeat", () => {
  it("is read in seconds from XML and YAML alike", () => {
    const xml = readDefinition('<process name="p"><action participant="a" heartbeat="PT1M"/></process>', {
      file: "p.xml",
    });
    const yaml = readDefinition("do:\n  - action: { participant: a, heartbeat: PT1M }\n", { file: "p.yaml" });
    for (const definition of [xml, yaml]) {
      const [action] = definition.root.children;
      expect(action?.kind === "action" && action.heartbeat).toBe(60);
    }
  });
});

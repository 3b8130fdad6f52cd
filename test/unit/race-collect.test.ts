import { describe, expect, it } from "vitest";
import { readDefinition } from "../../lib/language/index.js";
import { problemsOf, shape } from "../support/definitions.js";

describe("race and foreach collect in the language", () => {
  it("compile to the same model from XML and from YAML", () => {
    const xml = readDefinition(
      `<process>
    <foreach select="context.items" parallel="true" collect="inst.current * 2" into="doubled">
        <action participant="p" />
    </foreach>
    <race>
        <await event="e" />
        <delay duration="PT1H" />
    </race>
</process>`,
      { file: "d.xml" },
    );
    const yaml = readDefinition(
      `do:
  - foreach: { select: context.items, parallel: true, collect: inst.current * 2, into: doubled, do: [{ action: p }] }
  - race: [{ await: e }, { delay: PT1H }]
`,
      { file: "d.yaml" },
    );
    expect(shape(xml)).toEqual(shape(yaml));
    expect(xml.root.children[0]).toMatchObject({
      collect: { into: "doubled", value: { cel: "inst.current * 2" } },
    });
    expect(xml.root.children[1]?.kind).toBe("race");
  });

  it("report a bad collect, into or race with its line and column", () => {
    expect(
      problemsOf(
        `<process>
    <foreach select="context.items" collect="context.price +">
        <action participant="p" />
    </foreach>
    <foreach select="context.items" into="total"><action participant="p" /></foreach>
    <foreach select="context.items" collect="1" into="not a name"><action participant="p" /></foreach>
    <race></race>
</process>`,
        "d.xml",
      ).map((problem) => problem.replace(/does not compile: .*/, "does not compile")),
    ).toEqual([
      "2:62 expression `context.price +` does not compile",
      "2:62 <foreach> has collect without into; give both: collect (the value of each iteration) and into (the list property that receives them)",
      "5:49 <foreach> has into without collect; give both: collect (the value of each iteration) and into (the list property that receives them)",
      '6:66 into="not a name" is not a property name',
      "7:10 race needs at least one branch: the first to complete wins",
    ]);
    expect(
      problemsOf(
        `do:
  - foreach:
      select: context.items
      collect: "{"
      do: [{ action: p }]
  - race: []
`,
        "d.yaml",
      ).map((problem) => problem.replace(/does not compile: .*/, "does not compile")),
    ).toEqual([
      "4:16 expression `{` does not compile",
      "4:16 do[0].foreach has collect without into; give both: collect (the value of each iteration) and into (the list property that receives them)",
      "6:5 race needs at least one branch: the first to complete wins",
    ]);
  });
});

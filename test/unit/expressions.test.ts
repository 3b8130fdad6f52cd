import { describe, expect, it } from "vitest";
import { ExpressionError } from "../../lib/errors.js";
import { checkExpression, evaluate, evaluateCondition, rewritePython, toCel } from "../../lib/expr/index.js";
import { readDefinition } from "../../lib/language/index.js";
import type { Expression, JsonObject } from "../../lib/language/model.js";

const python = (source: string): Expression => ({ source, cel: rewritePython(source) });
const cel = (source: string): Expression => ({ source, cel: source });
const run = (expression: Expression, context: JsonObject = {}) =>
  evaluate(expression, { context: toCel(context) });

describe("the Python-compat rewrite", () => {
  it.each([
    ["True", "true"],
    ['context["p"] is True', 'context["p"] == true'],
    ["x is not None", "x != null"],
    ["a and b or c", "a && b || c"],
    ["a or b and c", "a || b && c"],
    ["not a == b and c", "!(a == b) && c"],
    ["(not a) or b", "!a || b"],
    ["not (a or b)", "!(a || b)"],
    ["not x in y", "!(x in y)"],
    ["x not in y", "!(x in y)"],
    ["a < b <= c", "a < b && b <= c"],
    ["a - (b - c)", "a - (b - c)"],
    ["(a - b) - c", "a - b - c"],
    ["a // b * c", "python_floordiv(a, b) * c"],
    ["a * b / c", "python_truediv(a * b, c)"],
    ["-a % b", "python_mod(-a, b)"],
    ["a + b % c", "a + python_mod(b, c)"],
    ["x if c else y", "c ? dyn(x) : dyn(y)"],
    ["x in (1, 2)", "x in [1, 2]"],
    ["1_000 + 0x10 + 1. + 2e3", "1000 + 16 + 1.0 + 2000.0"],
    ['"and or not True" and True', '"and or not True" && true'],
    ["'it''s' is None", '"it" + "s" == null'],
    ["'say \\'hi\\'' + r'\\d'", '"say \'hi\'" + "\\\\d"'],
    ["a && !b || c ? 1 : 2.5", "a && !b || c ? dyn(1) : dyn(2.5)"],
  ])("%s -> %s", (source, expected) => {
    expect(rewritePython(source)).toBe(expected);
  });

  it("runs bureaucrat's conditions unchanged", () => {
    const context = { prop1: 1, precondition: true, missing: null };
    expect(evaluateCondition(python('context["prop1"] > 0'), { context: toCel(context) })).toBe(true);
    expect(evaluateCondition(python('context["precondition"] is True'), { context: toCel(context) })).toBe(
      true,
    );
    expect(
      evaluateCondition(python('not context["precondition"] and True'), { context: toCel(context) }),
    ).toBe(false);
    expect(evaluateCondition(python('context["missing"] is None'), { context: toCel(context) })).toBe(true);
    expect(evaluateCondition(python("1 > 2"), { context: {} })).toBe(false);
  });
});

describe("numbers behave as in Python", () => {
  it("keeps integral numbers as ints", () => {
    expect(run(python('context["prop2"] + 5'), { prop2: 3 })).toBe(8);
    expect(run(cel("context.a * context.b"), { a: 6, b: 7 })).toBe(42);
  });
  it("mixes ints and doubles in arithmetic", () => {
    expect(run(cel("context.a + 0.5"), { a: 1 })).toBe(1.5);
    expect(run(cel("0.5 + context.a"), { a: 1 })).toBe(1.5);
    expect(run(cel("context.a - 0.25"), { a: 1 })).toBe(0.75);
    expect(run(cel("context.a * 1.5"), { a: 2 })).toBe(3);
    expect(run(cel("context.a / 2.0"), { a: 3 })).toBe(1.5);
    expect(run(cel("context.f + context.i"), { f: 0.5, i: 2 })).toBe(2.5);
  });
  it("compares ints with doubles", () => {
    expect(run(cel("context.a < 2.5"), { a: 2 })).toBe(true);
    expect(run(cel("context.a == 2.0"), { a: 2 })).toBe(true);
    expect(run(cel("context.f >= 1"), { f: 1.5 })).toBe(true);
  });
  it("compares an int with a double even as literals, and finds a substring with in", () => {
    expect(run(cel("2 == 2.0 && 2.5 != 2 && 1 < 1.5"))).toBe(true);
    expect(run(cel('"ell" in "hello" && !("z" in context.s)'), { s: "abc" })).toBe(true);
  });
  it("keeps CEL's own division in CEL expressions (YAML/JSON)", () => {
    expect(run(cel("7 / 2"))).toBe(3);
    expect(run(cel("-7 % 3"))).toBe(-1);
    expect(run(cel("context.a / 2.0"), { a: 7 })).toBe(3.5);
  });
  it("has Python's len()", () => {
    expect(run(cel("len(context.items) + len(context.name)"), { items: [1, 2], name: "abc" })).toBe(5);
  });
});

describe("expression errors", () => {
  it("name the expression and the missing key", () => {
    expect(() => run(python('context["counter"] < 4'), {})).toThrow(ExpressionError);
    expect(() => run(python('context["counter"] < 4'), {})).toThrow(
      /expression `context\["counter"\] < 4` failed: No such key: counter/,
    );
  });
  it("name a type problem", () => {
    expect(() => run(cel('context.a + "x"'), { a: 1 })).toThrow(/no such overload/);
  });
  it("refuse a condition that is not a bool", () => {
    expect(() => evaluateCondition(cel("1 + 1"), { context: {} })).toThrow(/must give a bool, got int/);
  });
  it("refuse unknown variables and bad syntax at compile time", () => {
    expect(() => run(cel("foo > 1"))).toThrow(/does not compile/);
    expect(() => run(cel("context.a >"))).toThrow(/does not compile/);
  });
  it("never execute JavaScript", () => {
    expect(() => run(cel('constructor.constructor("return process")()'))).toThrow(ExpressionError);
  });
});

describe("Python words in CEL (YAML/JSON expressions)", () => {
  it.each([
    ["context.a and context.b", "`and` is Python; write `&&` in CEL"],
    ["context.a or context.b", "`or` is Python; write `||` in CEL"],
    ["not context.a", "`not` is Python; write `!` in CEL"],
    ['"k" not in context', "`not in` is Python; write `!(x in y)` in CEL"],
    ["context.a is None", "`is` is Python; write `==` in CEL; `None` is Python; write `null` in CEL"],
    ["context.a is not null", "`is not` is Python; write `!=` in CEL"],
    [
      "context.a == True || context.b == False",
      "`True` is Python; write `true` in CEL; `False` is Python; write `false` in CEL",
    ],
    ["1 if context.a else 2", "`x if c else y` is Python; write `c ? x : y` in CEL"],
    ["[1, 2].map(x, x * 2) == [2, 4] and\n  context.a", "`and` is Python; write `&&` in CEL"],
  ])("%s: %s", (source, hint) => {
    expect(checkExpression(cel(source))).toBe(hint);
  });

  it("ignores the words inside string literals, comments and as field names", () => {
    expect(checkExpression(cel('context.s == "a and b or not None" || context.and'))).toBeUndefined();
    expect(checkExpression(cel("context.s == r'x is None'"))).toBeUndefined();
    expect(checkExpression(cel("context.not >"))).toMatch(/^Unexpected token/);
    expect(checkExpression(cel("context.a && b"))).toBe("Unknown variable: b");
  });

  it("refuses `//`, which CEL reads as a comment (Python's floor division would vanish silently)", () => {
    expect(checkExpression(cel("context.a // 2"))).toMatch(
      /^`\/\/` starts a comment in CEL.*no floor division/,
    );
    expect(checkExpression(cel("context.x > 1 && // and not\n context.y"))).toMatch(/starts a comment/);
    expect(checkExpression(cel("context.url == 'http://x' && \"//\" in context.s"))).toBeUndefined();
  });

  it("reports each at the file, line and column of its expression, in YAML and JSON", () => {
    const problems = (source: string, file: string) => {
      try {
        readDefinition(source, { file });
        return "";
      } catch (error) {
        return String(error);
      }
    };
    expect(problems("do:\n  - assign: { property: x, value: context.a and True }\n", "a.yaml")).toContain(
      "a.yaml:2:35 (do[0].assign.value): expression `context.a and True` does not compile: `and` is Python; write `&&` in CEL; `True` is Python; write `true` in CEL",
    );
    expect(
      problems('{"do": [{"while": {"condition": "context.n is not None", "do": []}}]}', "a.json"),
    ).toContain(
      "a.json:1:33 (do[0].while.condition): expression `context.n is not None` does not compile: `is not` is Python",
    );
  });
});

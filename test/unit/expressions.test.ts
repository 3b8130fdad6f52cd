import { describe, expect, it } from "vitest";
import { ExpressionError } from "../../lib/errors.js";
import { evaluate, evaluateCondition, rewritePython, toCel } from "../../lib/expr/index.js";
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
    ["not a == b and c", "!( a == b )&& c"],
    ["(not a) or b", "(!( a)) || b"],
    ['"and or not True" and True', '"and or not True" && true'],
    ["'it''s' is None", "'it''s' == null"],
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

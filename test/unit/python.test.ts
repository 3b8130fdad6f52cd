import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ExpressionError } from "../../lib/errors.js";
import { evaluate, rewritePython, toCel, translatePython } from "../../lib/expr/index.js";
import type { Json, JsonObject } from "../../lib/language/model.js";

/** Evaluates a Python expression as XML definitions do. */
const python = (source: string, context: unknown = {}): Json =>
  evaluate({ source, cel: rewritePython(source) }, { context });
/** The same context with its numbers as the engine passes them (integral ones as CEL ints)... */
const asInts = (context: JsonObject) => toCel(context);
/** ...and with every number a double, as a host passing plain JSON numbers would. */
const asDoubles = (context: JsonObject) => context;

describe("Python 3 arithmetic in XML expressions", () => {
  it.each([
    ["7 / 2", 3.5],
    ["6 / 3", 2],
    ["-7 / 2", -3.5],
    ["7 // 2", 3],
    ["-7 // 2", -4],
    ["7 // -2", -4],
    ["-7 // -2", 3],
    ["7.5 // 2", 3],
    ["-7.5 // 2", -4],
    ["1 // 0.1", 9], // Python: 9.0 (0.1 is a little more than a tenth)
    ["-7 % 3", 2],
    ["7 % -3", -2],
    ["-7 % -3", -1],
    ["7 % 3", 1],
    ["-7.5 % 2", 0.5],
    ["7.5 % -2", -0.5],
    ["6 % 3", 0],
    ["2 + 3 * 4 // 5 - 6 % 4", 2],
    ["context.a // context.b * context.c", 9],
    ["context.a * context.b // context.c", 4],
    ["-context.a // context.b", -4],
    ["- context.a % context.b", 1],
    ["(context.a + 1) / context.b", 4],
    ["len('hello') / 2", 2.5],
    ["[1, 2, 3][5 // 2]", 3],
    ["{'x': 7 // 2}['x']", 3],
    ["7 / 2 > 3 and 7 // 2 == 3", true],
    ["6 / 3 == 2 and 2 == 6 / 3 and 6 / 4 != 1", true],
    ["1 < 7 // 2 <= 3 < 3.5", true],
    ["7 / 2 if 1 < 2 else 0", 3.5],
    ["7 / 2 if 1 > 2 else 0", 0],
  ])("%s == %j", (source, expected) => {
    expect(python(source, toCel({ a: 7, b: 2, c: 3 }))).toEqual(expected);
  });

  it("gives the same numbers whether context numbers arrive as ints or as doubles", () => {
    const context = { n: 7, d: 2, f: 7.5, z: 0, items: [1, 2, 3] };
    for (const source of [
      "context.n / context.d",
      "context.n // context.d",
      "-context.n % context.d",
      "context.f // context.d",
      "context.f % -context.d",
      "context.n // context.d * context.d + context.n % context.d == context.n",
      "context.n / context.d > 3",
      "context.d in context.items",
      "len(context.items) // context.d",
    ]) {
      expect(python(source, asDoubles(context)), source).toEqual(python(source, asInts(context)));
    }
  });

  it("raises ExpressionError on division or modulo by zero, as Python's ZeroDivisionError", () => {
    for (const [source, what] of [
      ["1 / 0", "division by zero"],
      ["1 / 0.0", "division by zero"],
      ["context.n // context.z", "floor division by zero"],
      ["context.n % context.z", "modulo by zero"],
      ["1.5 % context.z", "modulo by zero"],
    ] as const) {
      for (const context of [asInts({ n: 7, z: 0 }), asDoubles({ n: 7, z: 0 })]) {
        expect(() => python(source, context)).toThrow(ExpressionError);
        expect(() => python(source, context)).toThrow(`failed: ${what} (Python's ZeroDivisionError)`);
      }
    }
  });

  it("names the Python operator when the operands are not numbers", () => {
    expect(() => python("'a' / 2")).toThrow(
      "does not compile: unsupported operand types for /: string and int",
    );
    expect(() => python("context.s // 2", toCel({ s: "x" }))).toThrow(
      "failed: unsupported operand types for //: string and int",
    );
  });
});

describe("in and not in", () => {
  const context = toCel({ items: [1, 2.5, "x"], word: "hello", prices: { tea: 3 } });
  it.each([
    ["2.5 in context.items", true],
    ["'x' in context.items and 3 not in context.items", true],
    ["'ell' in context.word", true],
    ["'z' not in context.word", true],
    ["'tea' in context.prices and 'cake' not in context.prices", true],
    ["not 'tea' in context.prices", false],
    ["not 'cake' in context.prices", true],
    ["'prices' in context and 'tea' not in context", true],
    ["context.word in ('hello', 'bye')", true],
    ["not 1 in [1] or 2 in [2]", true],
  ])("%s == %j", (source, expected) => {
    expect(python(source, context)).toBe(expected);
  });
});

describe("what the rewrite refuses", () => {
  it.each([
    ["2 ** 3", "`**` (power) is not supported (column 3)"],
    ["a[1:2]", "slices are not supported (column 4)"],
    ["x = 1", "`=` assigns; compare with `==` (column 3)"],
    ["a & b", "bitwise operators are not supported; use `and` (column 3)"],
    ["True and", "the expression ends too early (column 9)"],
    ["(1 + 2", "expected `)`; the expression ends too early (column 7)"],
    ["a == not b", "unexpected `not` (column 6)"],
    ["{1, 2}", "sets are not supported; use a list (column 3)"],
    ["[x for x in y]", "comprehensions are not supported; use CEL's map() or filter() (column 4)"],
    ["f'{x}'", "f-strings are not supported; join strings with `+` (column 1)"],
    ["'open", "a string literal is not closed (column 1)"],
    ["007", "leading zeros in 007 are not allowed; use 0o for octal (column 1)"],
    ["1 if a", "expected `else`; the expression ends too early (column 7)"],
  ])("%s: %s", (source, message) => {
    expect(translatePython(source).error).toBe(message);
  });

  it("keeps its own stack safe on deep nesting and leaves the depth limit to CEL", () => {
    for (const deep of [
      `${"(".repeat(500)}1${")".repeat(500)}`,
      `${"-".repeat(1000)}1`,
      `${"not ".repeat(1000)}x`,
    ])
      expect(translatePython(deep).error).toMatch(/nests too deeply/);
    expect(translatePython(`${"(".repeat(50)}1${")".repeat(50)}`)).toEqual({ cel: "1" });
    expect(translatePython(Array(5000).fill("a").join(" + ")).error).toMatch(
      /too long: more than 4000 tokens/,
    );
  });
});

/** Python's floor division and modulo, defined mathematically: a == q*b + r, r has b's sign, |r| < |b|. */
function isPythonDivmod(a: bigint, b: bigint, q: bigint, r: bigint): boolean {
  return a === q * b + r && (b > 0n ? r >= 0n && r < b : r <= 0n && r > b);
}

const nonZero = (max: number) => fc.integer({ min: -max, max }).filter((n) => n !== 0);

describe("properties against Python's definitions", () => {
  it("int // and % satisfy Python's divmod identity, with ints or doubles from the context", () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e9, max: 1e9 }), nonZero(1e6), fc.boolean(), (a, b, doubles) => {
        const context = doubles ? { a, b } : toCel({ a, b });
        const q = python("context.a // context.b", context) as number;
        const r = python("context.a % context.b", context) as number;
        expect(isPythonDivmod(BigInt(a), BigInt(b), BigInt(q), BigInt(r))).toBe(true);
        expect(python("context.a / context.b", context)).toBe(a / b);
      }),
    );
  });

  it("float // and % are exact for dyadic values (multiples of 1/8), as Python's are", () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e6, max: 1e6 }), nonZero(1e4), (a8, b8) => {
        // a = a8/8 and b = b8/8: floor(a/b) == floor(a8/b8) and a % b == (a8 % b8) / 8 with b8's sign.
        const [a, b] = [a8 / 8, b8 / 8];
        const q = python(`${a.toFixed(3)} // ${b.toFixed(3)}`) as number;
        const r = python(`${a.toFixed(3)} % ${b.toFixed(3)}`) as number;
        expect(isPythonDivmod(BigInt(a8), BigInt(b8), BigInt(q), BigInt(r * 8))).toBe(true);
      }),
    );
  });

  it("parses + - * // % and unary minus with Python's precedence and associativity", () => {
    fc.assert(
      fc.property(arithmetic(4), (tree) => {
        const source = show(tree, 0);
        let expected: bigint | "ZeroDivisionError";
        try {
          expected = reference(tree);
        } catch {
          expected = "ZeroDivisionError";
        }
        if (expected === "ZeroDivisionError") expect(() => python(source)).toThrow("ZeroDivisionError");
        else expect(python(source), source).toBe(Number(expected));
      }),
    );
  });
});

type Tree =
  | number
  | { readonly op: "+" | "-" | "*" | "//" | "%"; readonly left: Tree; readonly right: Tree }
  | { readonly neg: Tree };

const arithmetic = (depth: number): fc.Arbitrary<Tree> =>
  fc.letrec<{ tree: Tree }>((tie) => ({
    tree: fc.oneof(
      { depthSize: "small", maxDepth: depth },
      fc.integer({ min: 0, max: 9 }),
      fc.record({
        op: fc.constantFrom("+", "-", "*", "//", "%"),
        left: tie("tree"),
        right: tie("tree"),
      }) as fc.Arbitrary<Tree>,
      fc.record({ neg: tie("tree") }) as fc.Arbitrary<Tree>,
    ),
  })).tree;

const STRENGTH = { "+": 1, "-": 1, "*": 2, "//": 2, "%": 2 } as const;

/** Python text with only the parentheses Python needs: a left operand binds at least as tight, a right one tighter. */
function show(tree: Tree, needs: number): string {
  if (typeof tree === "number") return String(tree);
  const [text, strength] =
    "neg" in tree
      ? [`-${show(tree.neg, 3)}`, 3]
      : [
          `${show(tree.left, STRENGTH[tree.op])} ${tree.op} ${show(tree.right, STRENGTH[tree.op] + 1)}`,
          STRENGTH[tree.op],
        ];
  return strength < needs ? `(${text})` : text;
}

/** Python's int semantics from the definitions: floor division is the q of the divmod identity. */
function reference(tree: Tree): bigint {
  if (typeof tree === "number") return BigInt(tree);
  if ("neg" in tree) return -reference(tree.neg);
  const [a, b] = [reference(tree.left), reference(tree.right)];
  if (tree.op === "+") return a + b;
  if (tree.op === "-") return a - b;
  if (tree.op === "*") return a * b;
  if (b === 0n) throw new Error("ZeroDivisionError");
  let q = a / b;
  while (!isPythonDivmod(a, b, q, a - q * b)) q -= 1n;
  return tree.op === "//" ? q : a - q * b;
}

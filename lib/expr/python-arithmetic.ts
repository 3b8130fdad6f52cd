/**
 * Python 3's division and modulo for XML (bureaucrat) expressions. CEL's `/` truncates ints and
 * its `%` takes the sign of the dividend; Python's `/` is true division, `//` floors and `%` takes
 * the sign of the divisor. The rewrite in python.ts turns those operators into calls of the
 * functions registered here, so YAML/JSON expressions keep CEL's own operators.
 */
import type { Environment } from "@marcbachmann/cel-js";

type Num = bigint | number;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The CEL function each Python operator becomes. */
export const PYTHON_OPERATORS: Readonly<Record<"/" | "//" | "%", string>> = {
  "/": "python_truediv",
  "//": "python_floordiv",
  "%": "python_mod",
};

function int64(value: bigint): bigint {
  if (value < INT64_MIN || value > INT64_MAX) throw new Error(`integer overflow: ${value}`);
  return value;
}

function zeroDivision(what: string): Error {
  return new Error(`${what} by zero (Python's ZeroDivisionError)`);
}

/** `a / b`: always a float, as in Python 3 (7 / 2 == 3.5, 6 / 3 == 2.0). */
export function trueDivide(a: Num, b: Num): number {
  if (b === 0n || b === 0) throw zeroDivision("division");
  return Number(a) / Number(b);
}

/** Python's float divmod (CPython's float_divmod), exact for every pair of doubles. */
function floatDivmod(a: number, b: number): { floor: number; mod: number } {
  let mod = a % b; // JS `%` is C's fmod: exact
  let div = (a - mod) / b;
  if (mod !== 0) {
    if (b < 0 !== mod < 0) {
      mod += b;
      div -= 1;
    }
  } else mod = b < 0 ? -0 : 0;
  if (div === 0) return { floor: a / b < 0 ? -0 : 0, mod };
  let floor = Math.floor(div);
  if (div - floor > 0.5) floor += 1;
  return { floor, mod };
}

/** `a // b`: the floor of the quotient; an int for two ints, else a float (-7 // 2 == -4). */
export function floorDivide(a: Num, b: Num): Num {
  if (b === 0n || b === 0) throw zeroDivision("floor division");
  if (typeof a === "bigint" && typeof b === "bigint") {
    const quotient = a / b; // truncates toward zero
    return int64(a % b !== 0n && a < 0n !== b < 0n ? quotient - 1n : quotient);
  }
  return floatDivmod(Number(a), Number(b)).floor;
}

/** `a % b`: the remainder with the sign of the divisor (-7 % 3 == 2, 7 % -3 == -2). */
export function modulo(a: Num, b: Num): Num {
  if (b === 0n || b === 0) throw zeroDivision("modulo");
  if (typeof a === "bigint" && typeof b === "bigint") {
    const remainder = a % b; // sign of the dividend
    return remainder !== 0n && remainder < 0n !== b < 0n ? remainder + b : remainder;
  }
  return floatDivmod(Number(a), Number(b)).mod;
}

const NUMBER_TYPES = ["int", "double"] as const;

/**
 * Registers the functions of PYTHON_OPERATORS for every pair of int and double. `//` and `%` give an
 * int for two ints and a double otherwise, so they are declared `dyn`: the checker would otherwise
 * take the first overload's type for a `dyn` operand (a context value) and pick the wrong `+` after.
 */
export function registerPythonArithmetic(env: Environment): void {
  for (const left of NUMBER_TYPES) {
    for (const right of NUMBER_TYPES) {
      const operands = `${left}, ${right}`;
      env.registerFunction(`${PYTHON_OPERATORS["/"]}(${operands}): double`, trueDivide);
      env.registerFunction(`${PYTHON_OPERATORS["//"]}(${operands}): dyn`, floorDivide);
      env.registerFunction(`${PYTHON_OPERATORS["%"]}(${operands}): dyn`, modulo);
    }
  }
}

const OPERATOR_OF: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(PYTHON_OPERATORS).map(([operator, name]) => [name, operator]),
);

/** cel-js's "no matching overload for 'python_mod(string, int)'" told as the Python operator it was. */
export function explainPythonOverload(message: string): string {
  const match = /no matching overload for '(python_\w+)\(([^)]*)\)'/.exec(message);
  const operator = match ? OPERATOR_OF[match[1] as string] : undefined;
  if (!match || !operator) return message;
  return `unsupported operand types for ${operator}: ${(match[2] as string).split(", ").join(" and ")}`;
}

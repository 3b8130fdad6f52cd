/**
 * Tokens of bureaucrat's Python expressions. Literals are turned into CEL text here: numbers in
 * CEL's spelling, strings decoded by Python's rules and written as CEL double-quoted strings.
 */
import { ExpressionError } from "../errors.js";

export type TokenKind = "name" | "number" | "string" | "op" | "end";

export interface Token {
  readonly kind: TokenKind;
  /** The source text; for literals, their CEL spelling. */
  readonly text: string;
  /** Offset in the source. */
  readonly at: number;
}

/** An expression that cannot be rewritten, pointing at the column of `at` (an offset in the source). */
export function syntaxError(source: string, at: number, message: string): ExpressionError {
  return new ExpressionError(source, `${message} (column ${at + 1})`);
}

/** Longest first, so `//` wins over `/`. */
const OPERATORS = [
  "**",
  "//",
  "==",
  "!=",
  "<=",
  ">=",
  "&&",
  "||",
  "<<",
  ">>",
  "<>",
  ":=",
  ..."()[]{},:.?!<>+-*/%=&|^~@;#",
];

const UNSUPPORTED: Readonly<Record<string, string>> = {
  "**": "`**` (power) is not supported",
  "<<": "bitwise operators are not supported",
  ">>": "bitwise operators are not supported",
  "&": "bitwise operators are not supported; use `and`",
  "|": "bitwise operators are not supported; use `or`",
  "^": "bitwise operators are not supported",
  "~": "bitwise operators are not supported",
  "<>": "`<>` is not Python 3; use `!=`",
  "=": "`=` assigns; compare with `==`",
  ":=": "assignment expressions are not supported",
  "@": "`@` (matrix product) is not supported",
  ";": "`;` is not allowed in an expression",
  "#": "comments are not allowed in an expression",
};

const NUMBER =
  /(?:0[xX][\da-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(\d[\d_]*\.(?:\d[\d_]*)?|\.\d[\d_]*|\d[\d_]*(?=[eE]))(?:[eE][+-]?\d[\d_]*)?|\d[\d_]*)/y;
const STRING_PREFIX = /^(?:[rRuUbB]|[bB][rR]|[rR][bB])$/;

/** A Python number literal in CEL's spelling: ints in decimal, floats always with a `.` or exponent. */
function celNumber(source: string, text: string, at: number): string {
  const digits = text.replace(/_/g, "");
  if (/^0[xXoObB]/.test(digits) || /^\d+$/.test(digits)) {
    if (/^0\d/.test(digits) && /[1-9]/.test(digits))
      throw syntaxError(source, at, `leading zeros in ${text} are not allowed; use 0o for octal`);
    return BigInt(digits).toString();
  }
  const value = Number(digits);
  if (!Number.isFinite(value)) throw syntaxError(source, at, `${text} is too large for a float`);
  const spelled = String(value);
  return /[.e]/.test(spelled) ? spelled : `${spelled}.0`;
}

/** Sticky (`y`): matched at lastIndex, so no slice of the source is copied per token. */
const OCTAL = /[0-7]{1,3}/y;

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\n": "",
};

/** Decodes one escape at `body[i]` (just after the backslash); returns the text and its length. */
function decodeEscape(body: string, i: number): { text: string; length: number } {
  const ch = body[i] as string;
  const simple = SIMPLE_ESCAPES[ch];
  if (simple !== undefined) return { text: simple, length: 1 };
  OCTAL.lastIndex = i;
  const octal = OCTAL.exec(body);
  if (octal) return { text: String.fromCodePoint(Number.parseInt(octal[0], 8)), length: octal[0].length };
  const hexLength = ch === "x" ? 2 : ch === "u" ? 4 : ch === "U" ? 8 : 0;
  const hex = body.slice(i + 1, i + 1 + hexLength);
  if (hexLength > 0 && new RegExp(`^[\\da-fA-F]{${hexLength}}$`).test(hex)) {
    const code = Number.parseInt(hex, 16);
    if (code <= 0x10ffff) return { text: String.fromCodePoint(code), length: 1 + hexLength };
  }
  return { text: `\\${ch}`, length: 1 }; // Python keeps an unknown escape as written
}

function decodeString(body: string, raw: boolean): string {
  if (raw) return body;
  let out = "";
  for (let i = 0; i < body.length; i++) {
    if (body[i] !== "\\") {
      out += body[i];
      continue;
    }
    const decoded = decodeEscape(body, i + 1);
    out += decoded.text;
    i += decoded.length;
  }
  return out;
}

/** Reads the string literal whose quote starts at `start` (after any prefix); returns its end. */
function readString(source: string, start: number, prefix: string): { end: number; cel: string } {
  const quote = source.startsWith(source[start]?.repeat(3) ?? "", start)
    ? (source[start] as string).repeat(3)
    : (source[start] as string);
  let i = start + quote.length;
  while (!source.startsWith(quote, i)) {
    if (i >= source.length || (quote.length === 1 && source[i] === "\n"))
      throw syntaxError(source, start, "a string literal is not closed");
    i += source[i] === "\\" ? 2 : 1;
  }
  const lower = prefix.toLowerCase();
  const text = decodeString(source.slice(start + quote.length, i), lower.includes("r"));
  return { end: i + quote.length, cel: `${lower.includes("b") ? "b" : ""}${JSON.stringify(text)}` };
}

function readWord(source: string, i: number): Token & { end: number } {
  let end = i + 1;
  while (end < source.length && /\w/.test(source[end] as string)) end++;
  const word = source.slice(i, end);
  if (source[end] === '"' || source[end] === "'") {
    if (/^(?:[fF]|[rR][fF]|[fF][rR])$/.test(word))
      throw syntaxError(source, i, "f-strings are not supported; join strings with `+`");
    if (STRING_PREFIX.test(word)) {
      const string = readString(source, end, word);
      return { kind: "string", text: string.cel, at: i, end: string.end };
    }
  }
  return { kind: "name", text: word, at: i, end };
}

function readOperator(source: string, i: number): Token & { end: number } {
  const op = OPERATORS.find((candidate) => source.startsWith(candidate, i));
  if (!op) throw syntaxError(source, i, `unexpected character ${JSON.stringify(source[i])}`);
  const unsupported = UNSUPPORTED[op];
  if (unsupported) throw syntaxError(source, i, unsupported);
  return { kind: "op", text: op, at: i, end: i + op.length };
}

/**
 * More than CEL's 2,000 AST nodes could come from, and few enough that the rewrite's recursion over
 * a long chain (`a + b + …`) stays well inside the stack.
 */
const MAX_TOKENS = 4000;

/** Splits a Python expression into tokens, ending with an `end` token. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    if (tokens.length === MAX_TOKENS)
      throw syntaxError(source, i, `the expression is too long: more than ${MAX_TOKENS} tokens`);
    const ch = source[i] as string;
    if (/\s/.test(ch) || (ch === "\\" && source[i + 1] === "\n")) {
      i += ch === "\\" ? 2 : 1;
      continue;
    }
    let token: Token & { end: number };
    NUMBER.lastIndex = i;
    const startsNumber = /\d/.test(ch) || (ch === "." && /\d/.test(source[i + 1] ?? ""));
    const number = startsNumber ? NUMBER.exec(source) : null;
    if (number) {
      const end = i + number[0].length;
      if (/\w/.test(source[end] ?? ""))
        throw syntaxError(source, i, `${source.slice(i, end + 1)} is not a number`);
      token = { kind: "number", text: celNumber(source, number[0], i), at: i, end };
    } else if (ch === '"' || ch === "'") {
      const string = readString(source, i, "");
      token = { kind: "string", text: string.cel, at: i, end: string.end };
    } else if (/[A-Za-z_]/.test(ch)) token = readWord(source, i);
    else token = readOperator(source, i);
    tokens.push({ kind: token.kind, text: token.text, at: token.at });
    i = token.end;
  }
  tokens.push({ kind: "end", text: "", at: source.length });
  return tokens;
}

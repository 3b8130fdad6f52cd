/**
 * Bureaucrat's conditions are Python: `context["p"] > 0 and not done`, `x is None`, `7 // 2`.
 * This parses a Python expression with Python's precedence and writes it as CEL: `and`/`or`/`not`
 * become `&&`/`||`/`!`, `True`/`False`/`None` become `true`/`false`/`null`, `is` becomes `==`,
 * `not in` becomes `!(… in …)`, chained comparisons are joined with `&&`, `x if c else y` becomes
 * `c ? x : y`, tuples become lists, and `/`, `//` and `%` become calls of python-arithmetic.ts so
 * they divide as Python does. CEL's own `&&`, `||`, `!` and `?:` are accepted too. Member access,
 * indexing and calls pass through, so CEL's functions and macros still work.
 */
import { ExpressionError } from "../errors.js";
import { PYTHON_OPERATORS } from "./python-arithmetic.js";
import { syntaxError, type Token, tokenize } from "./python-lexer.js";

type Node =
  | { readonly kind: "atom"; readonly cel: string }
  | { readonly kind: "unary"; readonly op: "-" | "!"; readonly operand: Node }
  | { readonly kind: "binary"; readonly op: string; readonly left: Node; readonly right: Node }
  | { readonly kind: "call"; readonly callee: Node | string; readonly args: readonly Node[] }
  | { readonly kind: "member"; readonly object: Node; readonly name: string }
  | { readonly kind: "index"; readonly object: Node; readonly index: Node }
  | { readonly kind: "conditional"; readonly test: Node; readonly whenTrue: Node; readonly whenFalse: Node }
  | { readonly kind: "list"; readonly items: readonly Node[] }
  | { readonly kind: "map"; readonly entries: readonly (readonly [Node, Node])[] };

const LITERALS: ReadonlyMap<string, string> = new Map([
  ["True", "true"],
  ["False", "false"],
  ["None", "null"],
]);
const KEYWORDS = new Set(
  "and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield".split(
    " ",
  ),
);
const COMPARISONS = new Set(["<", ">", "==", "!=", "<=", ">="]);
const TERM_OPERATORS = ["*", "/", "//", "%"];
/** Deeper than CEL's own limit (64), so CEL reports depth; this only keeps the parser's stack safe. */
const MAX_NESTING = 100;

const binary = (op: string, left: Node, right: Node): Node => ({ kind: "binary", op, left, right });
const not = (operand: Node): Node => ({ kind: "unary", op: "!", operand });

class Parser {
  private index = 0;
  private nesting = 0;

  constructor(
    private readonly source: string,
    private readonly tokens: readonly Token[],
  ) {}

  parse(): Node {
    const node = this.expression();
    if (this.peek().kind !== "end") throw this.unexpected();
    return node;
  }

  private peek(): Token {
    return this.tokens[this.index] as Token;
  }

  private take(): Token {
    const token = this.peek();
    if (token.kind !== "end") this.index++;
    return token;
  }

  /** Consumes the next token when it is the operator or word `text`. */
  private accept(text: string): boolean {
    const token = this.peek();
    if ((token.kind !== "op" && token.kind !== "name") || token.text !== text) return false;
    this.index++;
    return true;
  }

  private expect(text: string): void {
    if (!this.accept(text)) throw this.unexpected(`expected \`${text}\``);
  }

  private unexpected(expected?: string): ExpressionError {
    const token = this.peek();
    const found = token.kind === "end" ? "the expression ends too early" : `unexpected \`${token.text}\``;
    return syntaxError(this.source, token.at, expected ? `${expected}; ${found}` : found);
  }

  /** Runs a parse one level deeper, refusing nesting that could exhaust the stack. */
  private nested(parse: () => Node): Node {
    if (++this.nesting > MAX_NESTING)
      throw syntaxError(this.source, this.peek().at, "the expression nests too deeply");
    const node = parse();
    this.nesting--;
    return node;
  }

  /** `x if c else y`, or CEL's `c ? x : y`. */
  private expression(): Node {
    return this.nested(() => {
      const node = this.or();
      if (this.accept("if")) {
        const test = this.or();
        this.expect("else");
        return { kind: "conditional", test, whenTrue: node, whenFalse: this.expression() };
      }
      if (!this.accept("?")) return node;
      const whenTrue = this.expression();
      this.expect(":");
      return { kind: "conditional", test: node, whenTrue, whenFalse: this.expression() };
    });
  }

  private or(): Node {
    let node = this.and();
    while (this.accept("or") || this.accept("||")) node = binary("||", node, this.and());
    return node;
  }

  private and(): Node {
    let node = this.not();
    while (this.accept("and") || this.accept("&&")) node = binary("&&", node, this.not());
    return node;
  }

  /** Python's `not` binds looser than comparisons: `not x in y` is `not (x in y)`. */
  private not(): Node {
    if (this.accept("not")) return this.nested(() => not(this.not()));
    return this.comparison();
  }

  /** `a < b < c` is `a < b and b < c`, as in Python. */
  private comparison(): Node {
    let left = this.sum();
    let node: Node | undefined;
    for (let op = this.comparisonOperator(); op; op = this.comparisonOperator()) {
      const right = this.sum();
      const compared = compare(op, left, right);
      node = node ? binary("&&", node, compared) : compared;
      left = right;
    }
    return node ?? left;
  }

  private comparisonOperator(): string | undefined {
    const token = this.peek();
    if (token.kind === "op" && COMPARISONS.has(token.text)) return this.take().text;
    if (this.accept("in")) return "in";
    if (this.accept("is")) return this.accept("not") ? "is not" : "is";
    if (token.kind === "name" && token.text === "not" && this.tokens[this.index + 1]?.text === "in") {
      this.index += 2;
      return "not in";
    }
    return undefined;
  }

  /** Consumes the next token when it is one of the operators `ops`; returns it. */
  private operator(ops: readonly string[]): string | undefined {
    const token = this.peek();
    if (token.kind !== "op" || !ops.includes(token.text)) return undefined;
    this.index++;
    return token.text;
  }

  private sum(): Node {
    let node = this.term();
    for (let op = this.operator(["+", "-"]); op; op = this.operator(["+", "-"]))
      node = binary(op, node, this.term());
    return node;
  }

  /** `*` stays CEL's; `/`, `//` and `%` call the Python arithmetic. */
  private term(): Node {
    let node = this.factor();
    for (let op = this.operator(TERM_OPERATORS); op; op = this.operator(TERM_OPERATORS)) {
      const right = this.factor();
      node =
        op === "/" || op === "//" || op === "%"
          ? { kind: "call", callee: PYTHON_OPERATORS[op], args: [node, right] }
          : binary(op, node, right);
    }
    return node;
  }

  private factor(): Node {
    if (this.accept("-")) return this.nested(() => ({ kind: "unary", op: "-", operand: this.factor() }));
    if (this.accept("!")) return this.nested(() => not(this.factor()));
    if (this.accept("+")) return this.nested(() => this.factor());
    return this.primary();
  }

  /** An atom followed by `.name`, `[index]` and `(arguments)`. */
  private primary(): Node {
    let node = this.atom();
    for (;;) {
      if (this.accept(".")) {
        const name = this.take();
        if (name.kind !== "name") throw syntaxError(this.source, name.at, "expected a name after `.`");
        node = { kind: "member", object: node, name: name.text };
      } else if (this.accept("[")) {
        node = { kind: "index", object: node, index: this.expression() };
        if (this.peek().text === ":")
          throw syntaxError(this.source, this.peek().at, "slices are not supported");
        this.expect("]");
      } else if (this.accept("(")) {
        node = { kind: "call", callee: node, args: this.items(")") };
      } else return node;
    }
  }

  private atom(): Node {
    const token = this.peek();
    if (token.kind === "number" || (token.kind === "name" && !KEYWORDS.has(token.text))) {
      this.take();
      return { kind: "atom", cel: LITERALS.get(token.text) ?? token.text };
    }
    if (token.kind === "string") return this.strings(this.take());
    if (this.accept("(")) return this.parenthesized();
    if (this.accept("[")) return { kind: "list", items: this.items("]") };
    if (this.accept("{")) return this.map();
    throw this.unexpected();
  }

  /** Python joins adjacent string literals: `"a" "b"` is `"ab"`. */
  private strings(first: Token): Node {
    let node: Node = { kind: "atom", cel: first.text };
    while (this.peek().kind === "string") node = binary("+", node, { kind: "atom", cel: this.take().text });
    return node;
  }

  /** `(x)` is x; `()`, `(x,)` and `(x, y)` are tuples, which CEL spells as lists. */
  private parenthesized(): Node {
    if (this.accept(")")) return { kind: "list", items: [] };
    const first = this.expression();
    if (this.accept(")")) return first;
    if (!this.accept(",")) throw this.unexpected("expected `)`");
    return { kind: "list", items: [first, ...this.items(")")] };
  }

  /** Comma-separated expressions up to `close`, a trailing comma allowed. */
  private items(close: string): Node[] {
    const items: Node[] = [];
    while (!this.accept(close)) {
      items.push(this.expression());
      if (this.peek().text === "for")
        throw syntaxError(
          this.source,
          this.peek().at,
          "comprehensions are not supported; use CEL's map() or filter()",
        );
      if (!this.accept(",")) {
        this.expect(close);
        break;
      }
    }
    return items;
  }

  private map(): Node {
    const entries: (readonly [Node, Node])[] = [];
    while (!this.accept("}")) {
      const key = this.expression();
      if (this.peek().text !== ":")
        throw syntaxError(this.source, this.peek().at, "sets are not supported; use a list");
      this.take();
      entries.push([key, this.expression()]);
      if (!this.accept(",")) {
        this.expect("}");
        break;
      }
    }
    return { kind: "map", entries };
  }
}

function compare(op: string, left: Node, right: Node): Node {
  if (op === "is") return binary("==", left, right);
  if (op === "is not") return binary("!=", left, right);
  if (op === "not in") return not(binary("in", left, right));
  return binary(op, left, right);
}

/** CEL's binding strength of each operator; higher binds tighter. */
const CEL_PRECEDENCE: Readonly<Record<string, number>> = {
  "||": 2,
  "&&": 3,
  "==": 4,
  "!=": 4,
  "<": 4,
  "<=": 4,
  ">": 4,
  ">=": 4,
  in: 4,
  "+": 5,
  "-": 5,
  "*": 6,
};
const UNARY = 7;
const PRIMARY = 8;

function precedence(node: Node): number {
  if (node.kind === "conditional") return 1;
  if (node.kind === "binary") return CEL_PRECEDENCE[node.op] ?? 0;
  if (node.kind === "unary") return UNARY;
  return PRIMARY;
}

/** Writes a node as CEL, parenthesized when it binds looser than its place needs. */
function emit(node: Node, needs = 0): string {
  const text = emitBare(node);
  return precedence(node) < needs ? `(${text})` : text;
}

function emitBare(node: Node): string {
  switch (node.kind) {
    case "atom":
      return node.cel;
    case "unary":
      return `${node.op}${emit(node.operand, node.operand.kind === "unary" ? PRIMARY : UNARY)}`;
    case "binary": {
      const strength = precedence(node);
      return `${emit(node.left, strength)} ${node.op} ${emit(node.right, strength + 1)}`;
    }
    case "call": {
      const callee = typeof node.callee === "string" ? node.callee : emit(node.callee, PRIMARY);
      return `${callee}(${node.args.map((arg) => emit(arg)).join(", ")})`;
    }
    case "member":
      return `${emit(node.object, PRIMARY)}.${node.name}`;
    case "index":
      return `${emit(node.object, PRIMARY)}[${emit(node.index)}]`;
    case "conditional":
      // Python's branches may differ in type (`x / 2 if c else 0`); CEL's must agree unless dyn.
      return `${emit(node.test, 2)} ? dyn(${emit(node.whenTrue)}) : dyn(${emit(node.whenFalse)})`;
    case "list":
      return `[${node.items.map((item) => emit(item, 1)).join(", ")}]`;
    case "map":
      return `{${node.entries.map(([key, value]) => `${emit(key, 2)}: ${emit(value, 1)}`).join(", ")}}`;
  }
}

/** Rewrites a Python expression as CEL; throws ExpressionError naming what it cannot rewrite. */
export function rewritePython(source: string): string {
  return emit(new Parser(source, tokenize(source)).parse());
}

/** rewritePython for the definition readers: the CEL, or the problem as text. */
export function translatePython(source: string): { readonly cel: string; readonly error?: string } {
  try {
    return { cel: rewritePython(source) };
  } catch (error) {
    if (!(error instanceof ExpressionError)) throw error;
    return { cel: source, error: error.message };
  }
}

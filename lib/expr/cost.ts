/**
 * What an expression may cost. CEL has no loops, but its comprehension macros (map, filter, all,
 * exists, exists_one) nest into polynomial work over a context's lists, and `matches` runs a
 * regular expression, which can backtrack exponentially. Both are bounded when the expression is
 * compiled, so a definition cannot stall the engine at run time.
 */

/** Comprehensions inside the body of another: two levels (n²) at most. */
export const MAX_COMPREHENSION_NESTING = 2;

const COMPREHENSIONS = new Set(["map", "filter", "all", "exists", "exists_one"]);
/** A quantified group that itself holds a quantifier, like `(a+)+`: the shape of catastrophic backtracking. */
const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)(?:[+*]|\{\d+,?\d*\})/;

interface Node {
  readonly op: string;
  readonly args: unknown;
}

const isNode = (value: unknown): value is Node =>
  value !== null && typeof value === "object" && typeof (value as Node).op === "string";

/** The problem with an expression's cost, or undefined when it is bounded. */
export function costProblem(ast: unknown): string | undefined {
  let problem: string | undefined;
  const visit = (value: unknown, nesting: number): void => {
    if (problem) return;
    if (Array.isArray(value)) {
      for (const item of value) visit(item, nesting);
      return;
    }
    if (!isNode(value)) return;
    if (value.op === "rcall" || value.op === "call") {
      const args = value.args as unknown[];
      const name = args[0] as string;
      if (name === "matches") problem = regexProblem(value);
      if (value.op === "rcall" && COMPREHENSIONS.has(name)) {
        visit(args[1], nesting);
        const depth = nesting + 1;
        if (depth > MAX_COMPREHENSION_NESTING)
          problem = `comprehensions (${[...COMPREHENSIONS].join(", ")}) nest ${depth} deep; the limit is ${MAX_COMPREHENSION_NESTING}`;
        else visit(args[2], depth);
        return;
      }
    }
    visit(value.args, nesting);
  };
  visit(ast, 0);
  return problem;
}

function regexProblem(node: Node): string | undefined {
  const args = node.args as unknown[];
  const list = (node.op === "rcall" ? args[2] : args[1]) as unknown[];
  const pattern = node.op === "rcall" ? list[0] : list[1];
  if (!isNode(pattern) || pattern.op !== "value" || typeof pattern.args !== "string")
    return "matches() needs a literal pattern (a pattern from data could take exponential time)";
  if (NESTED_QUANTIFIER.test(pattern.args))
    return `matches() pattern ${JSON.stringify(pattern.args)} nests quantifiers, which can take exponential time`;
  return undefined;
}

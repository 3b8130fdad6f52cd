/**
 * Bureaucrat's conditions are Python: `context["p"] > 0 and not done`, `True`, `x is None`.
 * This rewrites the Python words into CEL outside string literals, so such conditions run
 * unchanged. It is a token rewrite, not a Python parser: anything else passes through to CEL,
 * which reports what it does not understand.
 */

const WORDS: Readonly<Record<string, string>> = {
  True: "true",
  False: "false",
  None: "null",
  and: "&&",
  or: "||",
};

type Token = { kind: "string" | "word" | "other"; text: string };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i] as string;
    if (ch === '"' || ch === "'") {
      let j = i + 1;
      while (j < source.length && source[j] !== ch) j += source[j] === "\\" ? 2 : 1;
      tokens.push({ kind: "string", text: source.slice(i, j + 1) });
      i = j + 1;
    } else if (/[A-Za-z_]/.test(ch)) {
      let j = i + 1;
      while (j < source.length && /[\w]/.test(source[j] as string)) j++;
      tokens.push({ kind: "word", text: source.slice(i, j) });
      i = j;
    } else {
      tokens.push({ kind: "other", text: ch });
      i++;
    }
  }
  return tokens;
}

function nextWord(tokens: Token[], from: number): { index: number; text: string } | undefined {
  for (let j = from; j < tokens.length; j++) {
    const token = tokens[j] as Token;
    if (token.kind === "other" && /\s/.test(token.text)) continue;
    return token.kind === "word" ? { index: j, text: token.text } : undefined;
  }
  return undefined;
}

/**
 * Rewrites `and`/`or`/`not`/`True`/`False`/`None`/`is`/`is not` into CEL. `not x` becomes `!(x)`,
 * the parenthesis closing where Python's `not` ends: before the next `and`/`or`, a closing
 * bracket of the enclosing level, or the end.
 */
export function rewritePython(source: string): string {
  const tokens = tokenize(source);
  let out = "";
  let depth = 0;
  const closeAt: number[] = []; // bracket depths at which an open `!(` must be closed
  const closeNots = (atDepth: number) => {
    while (closeAt.length > 0 && closeAt[closeAt.length - 1] === atDepth) {
      closeAt.pop();
      out += ")";
    }
  };
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as Token;
    if (token.kind === "other") {
      if ("([{".includes(token.text)) depth++;
      if (")]}".includes(token.text)) {
        closeNots(depth);
        depth--;
      }
      out += token.text;
      continue;
    }
    if (token.kind === "string") {
      out += token.text;
      continue;
    }
    const word = token.text;
    if (word === "and" || word === "or") {
      closeNots(depth);
      out += WORDS[word];
    } else if (word === "not") {
      out += "!(";
      closeAt.push(depth);
    } else if (word === "is") {
      const following = nextWord(tokens, i + 1);
      if (following?.text === "not") {
        out += "!=";
        i = following.index;
      } else out += "==";
    } else out += WORDS[word] ?? word;
  }
  closeNots(depth);
  while (closeAt.length > 0) {
    closeAt.pop();
    out += ")";
  }
  return out;
}

/**
 * YAML/JSON expressions are CEL, but Python habits carry over (`a and b`, `x is None`). When such an
 * expression does not compile, the Python words in it (outside string literals and comments, and
 * not as field names like `context.and`) explain why better than CEL's syntax error does.
 */

const HINTS: ReadonlyMap<string, string> = new Map([
  ["and", "`and` is Python; write `&&` in CEL"],
  ["or", "`or` is Python; write `||` in CEL"],
  ["not", "`not` is Python; write `!` in CEL"],
  ["not in", "`not in` is Python; write `!(x in y)` in CEL"],
  ["is", "`is` is Python; write `==` in CEL"],
  ["is not", "`is not` is Python; write `!=` in CEL"],
  ["True", "`True` is Python; write `true` in CEL"],
  ["False", "`False` is Python; write `false` in CEL"],
  ["None", "`None` is Python; write `null` in CEL"],
  ["if", "`x if c else y` is Python; write `c ? x : y` in CEL"],
  ["else", "`x if c else y` is Python; write `c ? x : y` in CEL"],
  ["elif", "`elif` is Python; write `c1 ? x : c2 ? y : z` in CEL"],
]);

interface Word {
  readonly text: string;
  /** The word follows a `.`: a field name, not a keyword. */
  readonly isField: boolean;
}

/** The end of the string literal whose quote is at `start` (a backslash never ends one, raw or not). */
function skipString(source: string, start: number): number {
  const ch = source[start] as string;
  const quote = source.startsWith(ch.repeat(3), start) ? ch.repeat(3) : ch;
  let i = start + quote.length;
  while (i < source.length && !source.startsWith(quote, i)) i += source[i] === "\\" ? 2 : 1;
  return i + quote.length;
}

/** The words of a CEL expression outside string literals and `//` comments. */
function words(source: string): Word[] {
  const found: Word[] = [];
  let previous = ""; // the last character that is not white space
  let i = 0;
  while (i < source.length) {
    const ch = source[i] as string;
    if (source.startsWith("//", i)) {
      while (i < source.length && source[i] !== "\n") i++;
    } else if (ch === '"' || ch === "'") {
      i = skipString(source, i);
      previous = ch;
    } else if (/[A-Za-z_]/.test(ch)) {
      let end = i + 1;
      while (end < source.length && /\w/.test(source[end] as string)) end++;
      const text = source.slice(i, end);
      const quote = source[end];
      if ((quote === '"' || quote === "'") && /^(?:[rRbB]|[rR][bB]|[bB][rR])$/.test(text)) {
        i = skipString(source, end);
        previous = quote;
        continue;
      }
      found.push({ text, isField: previous === "." });
      previous = text;
      i = end;
    } else {
      if (!/\s/.test(ch)) previous = ch;
      i++;
    }
  }
  return found;
}

/**
 * A `//` outside string literals: CEL reads it as a comment, so `a // 2` (Python's floor division)
 * would silently compile as `a`. Expressions are one line of intent; comments belong in the YAML.
 */
export function commentProblem(cel: string): string | undefined {
  for (let i = 0; i < cel.length; i++) {
    const ch = cel[i] as string;
    if (ch === '"' || ch === "'") i = skipString(cel, i) - 1;
    else if (cel.startsWith("//", i))
      return "`//` starts a comment in CEL, so the rest of the line would be ignored; CEL has no floor division: write `a / b` (whole numbers divide to a whole number), and put comments in the YAML with `#`";
  }
  return undefined;
}

/** What to write instead of each Python word in a CEL expression, or undefined when there is none. */
export function pythonHint(cel: string): string | undefined {
  const hints = new Set<string>();
  const list = words(cel);
  for (let i = 0; i < list.length; i++) {
    const word = list[i] as Word;
    if (word.isField) continue;
    const next = list[i + 1];
    const pair = next && !next.isField ? `${word.text} ${next.text}` : "";
    const hint = HINTS.get(pair) ?? HINTS.get(word.text);
    if (hint) hints.add(hint);
    if (HINTS.has(pair)) i++;
  }
  return hints.size > 0 ? [...hints].join("; ") : undefined;
}

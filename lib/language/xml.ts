/**
 * Reads XML into a small element tree with positions, refusing what a definition never needs:
 * DTDs (and so entity expansion of any kind), documents over the size limit, nesting past the
 * depth limit. Well-formedness errors stop the read and name the line and column.
 */
import { SaxesParser } from "saxes";
import type { Problem } from "../errors.js";
import type { SourcePos } from "./model.js";

export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  /** Text directly inside the element (not in children), entities decoded. */
  text: string;
  readonly pos: SourcePos;
}

export interface ReadLimits {
  /** Largest source accepted, in bytes. Default 1 MB. */
  readonly maxBytes?: number;
  /** Deepest nesting accepted. Default 64. */
  readonly maxDepth?: number;
}

export const DEFAULT_LIMITS: Required<ReadLimits> = { maxBytes: 1024 * 1024, maxDepth: 64 };

export type XmlResult = { root: XmlElement; problems: [] } | { root?: undefined; problems: Problem[] };

/** Byte length of a string as UTF-8, without node:buffer (this module stays pure). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

export function readXml(source: string, file: string | undefined, limits: ReadLimits = {}): XmlResult {
  const { maxBytes, maxDepth } = { ...DEFAULT_LIMITS, ...limits };
  const size = utf8Length(source);
  if (size > maxBytes) {
    return { problems: [{ file, message: `the file is ${size} bytes; the limit is ${maxBytes} bytes` }] };
  }
  const parser = new SaxesParser({ position: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let failure: Problem | undefined;
  const fail = (message: string, line = parser.line, col = parser.column) => {
    failure ??= { file, line, col, message };
  };
  parser.on("error", (error) => {
    // saxes prefixes its messages with "line:col: "; we report the position separately.
    fail(error.message.replace(/^(?:[^:]*:)?\d+:\d+: /, ""));
  });
  parser.on("doctype", () => fail("DTDs (<!DOCTYPE …>) are not allowed in definitions"));
  parser.on("opentag", (tag) => {
    const element: XmlElement = {
      name: tag.name,
      attributes: tag.attributes as Record<string, string>,
      children: [],
      text: "",
      pos: { line: parser.line, col: parser.column },
    };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(element);
    else root ??= element;
    stack.push(element);
    if (stack.length > maxDepth) fail(`<${tag.name}> nests deeper than the limit of ${maxDepth} levels`);
  });
  parser.on("closetag", (tag) => {
    const open = stack.pop();
    // saxes recovers from a mismatched close tag by closing the open one; we name both instead.
    const before = source.slice(Math.max(0, parser.position - 200), parser.position);
    const closing = /<\/([^\s>]*)\s*>$/.exec(before)?.[1];
    if (open && closing !== undefined && closing !== tag.name && !tag.isSelfClosing) {
      fail(`</${closing}> closes <${open.name}> (opened at line ${open.pos.line}); expected </${open.name}>`);
    }
  });
  const addText = (text: string) => {
    const current = stack[stack.length - 1];
    if (current) current.text += text;
  };
  parser.on("text", addText);
  parser.on("cdata", addText);
  try {
    for (let offset = 0; offset < source.length && !failure; offset += 16384) {
      parser.write(source.slice(offset, offset + 16384));
    }
    if (!failure) parser.close();
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  if (failure) return { problems: [failure] };
  if (!root) return { problems: [{ file, line: 1, col: 1, message: "the document has no root element" }] };
  return { root, problems: [] };
}

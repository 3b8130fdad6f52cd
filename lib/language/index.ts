/** Reading definitions: XML (bureaucrat's dialect) or YAML/JSON, into one validated model. */
import { DefinitionError } from "../errors.js";
import { Problems } from "./build.js";
import { buildFromXml } from "./from-xml.js";
import type { Definition, ProcessNode } from "./model.js";
import type { ScheduleDecl } from "./schedule.js";
import { checkScheduleNames } from "./schedules-in.js";
import { validateTree } from "./validate.js";
import { DEFAULT_LIMITS, type ReadLimits, readXml, utf8Length } from "./xml.js";
import { buildFromYaml } from "./yaml.js";

export type DefinitionFormat = "xml" | "yaml" | "json";

export interface ReadOptions {
  /** The file name, for messages, and the default process name (`team/order.xml` is `team/order`). */
  readonly file?: string;
  /** Inferred from the file's extension, else from the first character. */
  readonly format?: DefinitionFormat;
  /** The process name when the definition does not name itself. */
  readonly name?: string;
  readonly limits?: ReadLimits;
}

const EXTENSIONS = /\.(xml|ya?ml|json)$/i;

/** The process name a file key gives: its path without the extension. */
export function processNameFromKey(key: string): string {
  return key.replace(/^\.?\//, "").replace(EXTENSIONS, "");
}

export function isDefinitionFile(key: string): boolean {
  return EXTENSIONS.test(key);
}

function detectFormat(source: string, file?: string): DefinitionFormat {
  const extension = file ? EXTENSIONS.exec(file)?.[1]?.toLowerCase() : undefined;
  if (extension === "xml") return "xml";
  if (extension === "json") return "json";
  if (extension) return "yaml";
  return source.trimStart().startsWith("<") ? "xml" : "yaml";
}

/** Reads and validates a definition; throws DefinitionError listing every problem found. */
export function readDefinition(source: string, options: ReadOptions = {}): Definition {
  const { file } = options;
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const problems = new Problems(file);
  const format = options.format ?? detectFormat(source, file);
  let built: { name?: string; root: ProcessNode; schedules?: ScheduleDecl[] } | undefined;
  if (format === "xml") {
    const xml = readXml(source, file, limits);
    if (xml.root) built = buildFromXml(xml.root, problems);
    else problems.list.push(...xml.problems);
  } else if (utf8Length(source) > limits.maxBytes) {
    problems.add(`the file is ${utf8Length(source)} bytes; the limit is ${limits.maxBytes} bytes`);
  } else {
    built = buildFromYaml(source, problems);
  }
  const name = built?.name?.trim() || options.name || (file ? processNameFromKey(file) : "process");
  if (built) validateTree(built.root, problems, limits.maxDepth);
  if (built?.schedules) checkScheduleNames(built.schedules, name, problems);
  if (problems.list.length || !built) throw new DefinitionError(problems.list);
  return { name, root: built.root, source: file, ...(built.schedules ? { schedules: built.schedules } : {}) };
}

/** Like readDefinition, returning the problems instead of throwing. */
export function checkDefinition(source: string, options: ReadOptions = {}): DefinitionError | undefined {
  try {
    readDefinition(source, options);
    return undefined;
  } catch (error) {
    if (error instanceof DefinitionError) return error;
    throw error;
  }
}

export type { Definition } from "./model.js";
export { indexDefinition, staticPath } from "./validate.js";

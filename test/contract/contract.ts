/**
 * lib/api/openapi.yaml as the contract tests read it: its operations, `$ref`s, and validators for
 * its schemas (ajv in strict mode, so a misspelt keyword or a `required` field without a property
 * fails to compile), and the check of one HTTP exchange against it.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { parse } from "yaml";

export const DOCUMENT_PATH = fileURLToPath(new URL("../../lib/api/openapi.yaml", import.meta.url));
export const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

type Node = Record<string, unknown>;

export interface Operation {
  /** Upper case, as ROUTES writes it. */
  readonly method: string;
  readonly path: string;
  readonly operationId: string;
  readonly hosts: readonly string[];
  /** The path item's parameters, then the operation's (each dereferenced). */
  readonly parameters: readonly Node[];
  readonly spec: Node;
}

/** One request as sent, and its answer as received. */
export interface Exchange {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly contentType?: string;
  /** The JSON sent, when it was JSON. */
  readonly json?: unknown;
  readonly status: number;
  /** The media type answered, without parameters; undefined with no body. */
  readonly mediaType?: string;
  readonly text: string;
}

const isNode = (value: unknown): value is Node =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** The value a local `$ref` (`#/a/b`) points to in `doc`, or undefined. */
export function resolvePointer(doc: unknown, ref: string): unknown {
  if (!ref.startsWith("#/")) return undefined;
  let value: unknown = doc;
  for (const raw of ref.slice(2).split("/")) {
    const part = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    if (!isNode(value) && !Array.isArray(value)) return undefined;
    value = (value as Node)[part];
    if (value === undefined) return undefined;
  }
  return value;
}

/** Every `$ref` anywhere in the document. */
export function refsOf(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) refsOf(item, found);
  else if (isNode(value))
    for (const [key, inner] of Object.entries(value)) {
      if (key === "$ref" && typeof inner === "string") found.push(inner);
      else refsOf(inner, found);
    }
  return found;
}

const SCHEMAS_ID = "https://docket.dev/openapi/schemas";

/** The schema with `#/components/schemas/X` pointed at the schemas registered with ajv. */
function rebased(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rebased);
  if (!isNode(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) =>
      key === "$ref" && typeof inner === "string"
        ? [key, inner.replace(/^#\/components\/schemas\//, `${SCHEMAS_ID}#/$defs/`)]
        : [key, rebased(inner)],
    ),
  );
}

export class Contract {
  readonly doc: Node;
  readonly operations: readonly Operation[];
  private readonly ajv: Ajv2020;
  private readonly patterns: readonly RegExp[];
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(text = readFileSync(DOCUMENT_PATH, "utf8")) {
    this.doc = parse(text) as Node;
    this.ajv = new Ajv2020({
      strict: true,
      strictRequired: true,
      strictTypes: true,
      allowUnionTypes: true,
      allErrors: true,
    });
    const components = (this.doc.components ?? {}) as Node;
    this.ajv.addSchema({ $id: SCHEMAS_ID, $defs: rebased(components.schemas ?? {}) as Node });
    this.operations = Object.entries((this.doc.paths ?? {}) as Node).flatMap(([path, item]) =>
      this.operationsOf(path, item as Node),
    );
    this.patterns = this.operations.map((op) => new RegExp(`^${op.path.replace(/\{[^}]+\}/g, "[^/]+")}$`));
  }

  private operationsOf(path: string, item: Node): Operation[] {
    const shared = ((item.parameters ?? []) as unknown[]).map((p) => this.deref(p));
    return HTTP_METHODS.filter((method) => isNode(item[method])).map((method) => {
      const spec = item[method] as Node;
      return {
        method: method.toUpperCase(),
        path,
        operationId: String(spec.operationId),
        hosts: (spec["x-docket-hosts"] ?? []) as string[],
        parameters: [...shared, ...((spec.parameters ?? []) as unknown[]).map((p) => this.deref(p))],
        spec,
      };
    });
  }

  /** Follows `$ref`s until a value that is not one. */
  deref(value: unknown): Node {
    let current = value;
    for (let i = 0; i < 10 && isNode(current) && typeof current.$ref === "string"; i++)
      current = resolvePointer(this.doc, current.$ref);
    if (!isNode(current)) throw new Error(`${JSON.stringify(value)} does not resolve to an object`);
    return current;
  }

  /** A validator for a schema of the document (compiling it checks it too). */
  validator(schema: unknown): ValidateFunction {
    const key = JSON.stringify(schema);
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(rebased(schema) as Node);
      this.compiled.set(key, validate);
    }
    return validate;
  }

  /** The operation serving `method path`, as the router picks it: a path whose template matches, with that method. */
  match(method: string, path: string): Operation | { unrouted: 404 | 405 } {
    const matching = this.operations.filter((_, i) => this.patterns[i]?.test(path));
    const served = matching.filter((op) => op.method === method);
    // A concrete path before a templated one, as OpenAPI resolves them.
    served.sort((a, b) => a.path.split("{").length - b.path.split("{").length);
    return served[0] ?? { unrouted: matching.length ? 405 : 404 };
  }

  /** What is wrong with an exchange by the document ([] when nothing), for the host named. */
  check(exchange: Exchange, host: string): string[] {
    const operation = this.match(exchange.method, exchange.path);
    const what = `${exchange.method} ${exchange.path} → ${exchange.status}`;
    let response: unknown;
    if ("unrouted" in operation) {
      if (exchange.status !== operation.unrouted)
        return [`${what}: unrouted, the document says ${operation.unrouted}`];
      response = ((this.doc["x-docket-unrouted"] ?? {}) as Node)[String(exchange.status)];
    } else {
      response = (operation.spec.responses as Node)[String(exchange.status)];
      if (!operation.hosts.includes(host) && exchange.status !== 404)
        return [`${what}: ${operation.operationId} is not served on ${host}, so 404 was due`];
    }
    if (response === undefined) return [`${what}: the status is not documented`];
    const documented = this.deref(response);
    const hosts = documented["x-docket-hosts"] as string[] | undefined;
    if (hosts && !hosts.includes(host)) return [`${what}: documented for ${hosts.join(", ")} only`];
    return this.checkBody(what, documented, exchange);
  }

  private checkBody(what: string, response: Node, exchange: Exchange): string[] {
    const content = response.content as Node | undefined;
    if (!content) return exchange.text === "" ? [] : [`${what}: answered a body where the document has none`];
    const media = exchange.mediaType;
    if (!media || !isNode(content[media]))
      return [`${what}: answered ${media ?? "no body"}, documented ${Object.keys(content).join(", ")}`];
    let body: unknown = exchange.text;
    if (media === "application/json") {
      try {
        body = JSON.parse(exchange.text);
      } catch {
        return [`${what}: the body is not JSON: ${exchange.text.slice(0, 80)}`];
      }
    }
    const validate = this.validator((content[media] as Node).schema ?? {});
    return validate(body) ? [] : [`${what}: ${this.ajv.errorsText(validate.errors)} in ${exchange.text}`];
  }

  /**
   * What the document finds wrong with a request's parameters and body ([] when nothing): an
   * answered request must pass, and a refused one should fail where the refusal is the document's.
   */
  requestProblems(exchange: Exchange): string[] {
    const operation = this.match(exchange.method, exchange.path);
    if ("unrouted" in operation) return [`${exchange.method} ${exchange.path} is no operation`];
    const problems: string[] = [];
    const query = operation.parameters.filter((p) => p.in === "query");
    for (const name of new Set(exchange.query.keys()))
      if (!query.some((p) => p.name === name)) problems.push(`query parameter ${name} is not documented`);
    for (const parameter of operation.parameters) {
      const value = this.parameterValue(parameter, operation, exchange);
      if (value === undefined) {
        if (parameter.required) problems.push(`parameter ${String(parameter.name)} is required`);
        continue;
      }
      const validate = this.validator(parameter.schema ?? {});
      if (!validate(value))
        problems.push(`parameter ${String(parameter.name)}: ${this.ajv.errorsText(validate.errors)}`);
    }
    return [...problems, ...this.bodyProblems(operation, exchange)];
  }

  private parameterValue(parameter: Node, operation: Operation, exchange: Exchange): unknown {
    const name = String(parameter.name);
    let raw: string | undefined;
    if (parameter.in === "path") {
      const names = [...operation.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const values = new RegExp(`^${operation.path.replace(/\{[^}]+\}/g, "([^/]+)")}$`).exec(exchange.path);
      const at = names.indexOf(name);
      raw = at >= 0 && values ? decodeURIComponent(values[at + 1] ?? "") : undefined;
    } else raw = exchange.query.get(name) ?? undefined;
    if (raw === undefined) return undefined;
    // Text that is a number is one for an integer parameter, as the router reads it.
    const type = (this.deref(parameter.schema ?? {}) as Node).type;
    return type === "integer" && raw.trim() !== "" && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
  }

  private bodyProblems(operation: Operation, exchange: Exchange): string[] {
    const body = operation.spec.requestBody ? this.deref(operation.spec.requestBody) : undefined;
    if (!body) return exchange.json === undefined ? [] : ["a body where the document takes none"];
    if (exchange.json === undefined) return body.required ? ["the body is required"] : [];
    if (exchange.contentType && !exchange.contentType.startsWith("application/json"))
      return [`the body is ${exchange.contentType}`];
    const schema = ((body.content as Node)["application/json"] as Node | undefined)?.schema;
    const validate = this.validator(schema ?? {});
    return validate(exchange.json) ? [] : [`body: ${this.ajv.errorsText(validate.errors)}`];
  }
}

/**
 * Builds the definition model from YAML or JSON: the same tree as the XML, one key per activity.
 * Every problem names the field path and its line:col.
 */
import { isMap, isScalar, isSeq, type LineCounter, type Node, type YAMLMap } from "yaml";
import {
  inferType,
  makeCollect,
  makeCount,
  makeDuration,
  makeExpression,
  makeSelector,
  type Problems,
  splitCodes,
} from "./build.js";
import { processRef } from "./from-xml.js";
import {
  ACTIVITY_KINDS,
  type Activity,
  type ActivityKind,
  type CaseNode,
  type Expression,
  type FaultHandler,
  type Json,
  type Property,
  type Scope,
  type SourcePos,
} from "./model.js";

type Fields = Map<string, { node: Node | null; pos: SourcePos }>;

const SCOPE_KEYS = ["context", "faults"];
const KEYS: Record<ActivityKind, readonly string[]> = {
  sequence: ["do", ...SCOPE_KEYS, "id"],
  all: ["do", ...SCOPE_KEYS, "id"],
  while: ["condition", "do", ...SCOPE_KEYS, "id"],
  foreach: ["select", "parallel", "collect", "into", "do", ...SCOPE_KEYS, "id"],
  race: ["do", ...SCOPE_KEYS, "id"],
  switch: [],
  action: ["participant", "timeout", "heartbeat", "retry", "backoff", "input", "output", "id"],
  call: ["process", "input", "output", "id"],
  delay: ["duration", "until", "id"],
  await: ["event", "key", "condition", "timeout", "into", "id"],
  fault: ["code", "message", "id"],
  assign: ["property", "value", "id"],
};
/** The key a short form (`action: reserve`, `delay: PT2H`) sets. */
const SHORT_FORM: Partial<Record<ActivityKind, string>> = {
  action: "participant",
  call: "process",
  delay: "duration",
  await: "event",
  fault: "code",
  sequence: "do",
  all: "do",
  race: "do",
};

export class YamlBuilder {
  constructor(
    private readonly problems: Problems,
    private readonly lines: LineCounter,
  ) {}

  pos(node: Node | null | undefined): SourcePos | undefined {
    const offset = node?.range?.[0];
    if (offset === undefined) return undefined;
    const { line, col } = this.lines.linePos(offset);
    return { line, col };
  }

  fields(node: Node | null, path: string, allowed: readonly string[]): Fields | undefined {
    if (!isMap(node)) {
      this.problems.add(`${path} must be a map`, this.pos(node), path);
      return undefined;
    }
    const fields: Fields = new Map();
    for (const pair of (node as YAMLMap<Node, Node | null>).items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      const pos = this.pos(pair.key) ?? this.pos(node) ?? { line: 1, col: 1 };
      if (key === undefined || !allowed.includes(key)) {
        this.problems.add(
          `unknown key ${JSON.stringify(key ?? "?")} at ${path}; allowed: ${allowed.join(", ")}`,
          pos,
          path,
        );
        continue;
      }
      fields.set(key, { node: pair.value, pos: this.pos(pair.value) ?? pos });
    }
    return fields;
  }

  scalar(fields: Fields, key: string, path: string, required = false): string | undefined {
    const field = fields.get(key);
    if (!field) {
      if (required) this.problems.add(`${path}.${key} is required`, undefined, path);
      return undefined;
    }
    if (!isScalar(field.node) || field.node.value === null || typeof field.node.value === "object") {
      this.problems.add(`${path}.${key} must be a string, number or bool`, field.pos, `${path}.${key}`);
      return undefined;
    }
    return String(field.node.value);
  }

  expression(fields: Fields, key: string, path: string): Expression | undefined {
    const text = this.scalar(fields, key, path);
    return text === undefined
      ? undefined
      : makeExpression(text, false, this.problems, fields.get(key)?.pos, `${path}.${key}`);
  }

  conditions(fields: Fields, key: string, path: string): Expression[] {
    const field = fields.get(key);
    if (!field) return [];
    const nodes = isSeq(field.node) ? (field.node.items as Node[]) : [field.node];
    return nodes.map((node, i) => {
      const where = isSeq(field.node) ? `${path}.${key}[${i}]` : `${path}.${key}`;
      if (!isScalar(node) || node.value === null || typeof node.value === "object") {
        this.problems.add(`${where} must be an expression`, this.pos(node), where);
        return { source: "", cel: "false" };
      }
      return makeExpression(String(node.value), false, this.problems, this.pos(node), where);
    });
  }

  activities(node: Node | null | undefined, path: string, id: string): Activity[] {
    if (!isSeq(node)) {
      this.problems.add(`${path} must be a list of activities`, this.pos(node ?? null), path);
      return [];
    }
    const out: Activity[] = [];
    for (const [i, item] of (node.items as Node[]).entries()) {
      const built = this.activity(item, `${path}[${i}]`, `${id}.${out.length}`);
      if (built) out.push(built);
    }
    return out;
  }

  scope(fields: Fields, path: string, id: string): Scope {
    const properties: Property[] = [];
    const context = fields.get("context");
    if (context) {
      if (!isMap(context.node))
        this.problems.add(
          `${path}.context must be a map of property names to values`,
          context.pos,
          `${path}.context`,
        );
      else {
        for (const pair of context.node.items as { key: Node; value: Node | null }[]) {
          const name = isScalar(pair.key) ? String(pair.key.value) : "";
          const value = (pair.value?.toJSON() ?? null) as Json;
          properties.push({ name, type: inferType(value), value });
        }
      }
    }
    const faults = fields.get("faults");
    const handlers: FaultHandler[] = [];
    if (faults) {
      if (!isSeq(faults.node))
        this.problems.add(`${path}.faults must be a list of handlers`, faults.pos, `${path}.faults`);
      else
        for (const [i, item] of (faults.node.items as Node[]).entries()) {
          const handler = this.handler(item, `${path}.faults[${i}]`, `${id}.f${handlers.length}`);
          if (handler) handlers.push(handler);
        }
    }
    return { properties, handlers };
  }

  handler(node: Node, path: string, id: string): FaultHandler | undefined {
    const fields = this.fields(node, path, ["case", "default", "do"]);
    if (!fields) return undefined;
    if (fields.has("default"))
      return { id, children: this.activities(fields.get("default")?.node, `${path}.default`, id) };
    const codeNode = fields.get("case")?.node;
    const codes = isSeq(codeNode)
      ? (codeNode.toJSON() as unknown[]).map(String)
      : splitCodes(this.scalar(fields, "case", path, true) ?? "");
    if (!codes.length)
      this.problems.add(
        `${path} needs case: "A, B" (the fault codes) or default: [...]`,
        this.pos(node),
        path,
      );
    return { id, codes, children: this.activities(fields.get("do")?.node, `${path}.do`, id) };
  }

  activity(node: Node, path: string, id: string): Activity | undefined {
    const single = isMap(node) && node.items.length === 1 ? node.items[0] : undefined;
    const kind = single && isScalar(single.key) ? (String(single.key.value) as ActivityKind) : undefined;
    if (!single || !kind || !ACTIVITY_KINDS.includes(kind)) {
      this.problems.add(
        `${path} must be a map with one activity key: ${ACTIVITY_KINDS.join(", ")}`,
        this.pos(node),
        path,
      );
      return undefined;
    }
    const value = single.value as Node | null;
    const at = `${path}.${kind}`;
    const pos = this.pos(single.key as Node);
    if (kind === "switch") return { kind, id, pos, cases: this.cases(value, at, id) };
    const short = SHORT_FORM[kind];
    const fields: Fields | undefined =
      short && !isMap(value)
        ? new Map([[short, { node: value, pos: this.pos(value) ?? pos ?? { line: 1, col: 1 } }]])
        : this.fields(value, at, KEYS[kind]);
    if (!fields) return undefined;
    return this.build(kind, fields, at, id, pos);
  }

  /** An activity, with its stable id when it has one. */
  private build(
    kind: Exclude<ActivityKind, "switch">,
    f: Fields,
    at: string,
    id: string,
    pos?: SourcePos,
  ): Activity {
    const built = this.buildBody(kind, f, at, id, pos);
    const ref = this.scalar(f, "id", at);
    return ref === undefined ? built : { ...built, ref };
  }

  private buildBody(
    kind: Exclude<ActivityKind, "switch">,
    f: Fields,
    at: string,
    id: string,
    pos?: SourcePos,
  ): Activity {
    const duration = (key: string) => {
      const text = this.scalar(f, key, at);
      return text === undefined
        ? undefined
        : makeDuration(text, key, this.problems, f.get(key)?.pos, `${at}.${key}`);
    };
    const body = () => ({
      scope: this.scope(f, at, id),
      children: this.activities(f.get("do")?.node, `${at}.do`, id),
    });
    switch (kind) {
      case "sequence":
      case "all":
      case "race":
        return { kind, id, pos, ...body() };
      case "while": {
        const conditions = this.conditions(f, "condition", at);
        if (!conditions.length) this.problems.add(`${at}.condition is required`, pos, at);
        return { kind, id, pos, conditions, ...body() };
      }
      case "foreach": {
        const select = this.scalar(f, "select", at, true) ?? "[]";
        const parallel = this.scalar(f, "parallel", at);
        if (parallel !== undefined && parallel !== "true" && parallel !== "false") {
          this.problems.add(`${at}.parallel must be true or false`, f.get("parallel")?.pos, `${at}.parallel`);
        }
        const collect = makeCollect(
          this.expression(f, "collect", at),
          this.scalar(f, "into", at),
          at,
          this.problems,
          (f.get("collect") ?? f.get("into"))?.pos,
          at,
        );
        return {
          kind,
          id,
          pos,
          select: makeSelector(select, false, this.problems, f.get("select")?.pos, `${at}.select`),
          parallel: parallel === "true",
          ...(collect ? { collect } : {}),
          ...body(),
        };
      }
      case "action": {
        const retry = this.scalar(f, "retry", at);
        return {
          kind,
          id,
          pos,
          participant: this.scalar(f, "participant", at, true) ?? "",
          retry:
            retry === undefined
              ? 0
              : makeCount(retry, "retry", this.problems, f.get("retry")?.pos, `${at}.retry`),
          timeout: duration("timeout"),
          heartbeat: duration("heartbeat"),
          backoff: duration("backoff"),
          input: this.expression(f, "input", at),
          output: this.expression(f, "output", at),
        };
      }
      case "call":
        return {
          kind,
          id,
          pos,
          process: processRef(this.scalar(f, "process", at, true) ?? ""),
          input: this.expression(f, "input", at),
          output: this.expression(f, "output", at),
        };
      case "delay":
        if (f.has("duration") === f.has("until"))
          this.problems.add(`${at} needs exactly one of duration and until`, pos, at);
        return { kind, id, pos, duration: duration("duration"), until: this.expression(f, "until", at) };
      case "await":
        return {
          kind,
          id,
          pos,
          event: this.scalar(f, "event", at, true) ?? "",
          conditions: this.conditions(f, "condition", at),
          key: this.expression(f, "key", at),
          timeout: duration("timeout"),
          into: this.scalar(f, "into", at),
        };
      case "fault":
        return {
          kind,
          id,
          pos,
          code: this.scalar(f, "code", at) || "terminate",
          message: this.scalar(f, "message", at) ?? "",
        };
      case "assign": {
        const value = this.expression(f, "value", at);
        if (!value) this.problems.add(`${at}.value is required`, pos, at);
        return {
          kind,
          id,
          pos,
          property: this.scalar(f, "property", at, true) ?? "",
          expression: value ?? { source: "", cel: "null" },
        };
      }
    }
  }

  cases(node: Node | null, path: string, id: string): CaseNode[] {
    if (!isSeq(node)) {
      this.problems.add(`${path} must be a list of cases ({ when, do })`, this.pos(node), path);
      return [];
    }
    return (node.items as Node[]).flatMap((item, i): CaseNode[] => {
      const at = `${path}[${i}]`;
      const caseId = `${id}.${i}`;
      const fields = this.fields(item, at, ["when", "do", ...SCOPE_KEYS]);
      if (!fields) return [];
      const conditions = this.conditions(fields, "when", at);
      if (!conditions.length) this.problems.add(`${at}.when is required`, this.pos(item), at);
      return [
        {
          kind: "case",
          id: caseId,
          pos: this.pos(item),
          conditions,
          scope: this.scope(fields, at, caseId),
          children: this.activities(fields.get("do")?.node, `${at}.do`, caseId),
        },
      ];
    });
  }
}

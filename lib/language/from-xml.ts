/** Builds the definition model from bureaucrat's XML dialect and docket's extensions. */
import {
  makeCollect,
  makeCount,
  makeDuration,
  makeExpression,
  makeSelector,
  PROPERTY_TYPES,
  type Problems,
  parseTypedValue,
  splitCodes,
} from "./build.js";
import {
  ACTIVITY_KINDS,
  type Activity,
  type ActivityKind,
  type CaseNode,
  type Expression,
  type FaultHandler,
  type ProcessNode,
  type ProcessRef,
  type Property,
  type PropertyType,
  type Scope,
} from "./model.js";
import type { ScheduleDecl } from "./schedule.js";
import { xmlSchedule } from "./schedules-in.js";
import type { XmlElement } from "./xml.js";

/** The elements that are not activities, by how they are checked ("fault-case" is a <faults> case). */
type Element =
  | ActivityKind
  | "process"
  | "case"
  | "context"
  | "property"
  | "faults"
  | "fault-case"
  | "default"
  | "condition";
const ATTRIBUTES: Record<Element, readonly string[]> = {
  process: ["name"],
  context: [],
  property: ["name", "type"],
  faults: [],
  "fault-case": ["code"],
  default: [],
  condition: [],
  sequence: ["id"],
  action: ["participant", "timeout", "heartbeat", "retry", "backoff", "input", "output", "id"],
  switch: ["id"],
  case: [],
  while: ["id"],
  foreach: ["select", "parallel", "collect", "into", "id"],
  all: ["id"],
  race: ["id"],
  call: ["process", "input", "output", "id"],
  delay: ["duration", "until", "id"],
  await: ["event", "key", "timeout", "into", "id"],
  fault: ["code", "message", "id"],
  assign: ["property", "id"],
};
const SCOPED = new Set(["process", "sequence", "case", "while", "foreach", "all", "race"]);
const WITH_CONDITIONS = new Set(["case", "while", "await"]);
const WITH_TEXT = new Set(["assign", "condition", "property"]);

class XmlBuilder {
  constructor(private readonly problems: Problems) {}

  process(root: XmlElement): { name?: string; root: ProcessNode; schedules?: ScheduleDecl[] } {
    if (root.name === "process") {
      this.checkAttributes(root);
      // <schedule> elements say when to launch the process; the rest is its body.
      const isSchedule = (child: XmlElement) => child.name === "schedule";
      const schedules = root.children.filter(isSchedule).map((c, i) => xmlSchedule(c, i, this.problems));
      const { scope, children } = this.body(
        { ...root, children: root.children.filter((c) => !isSchedule(c)) },
        "0",
      );
      return {
        name: root.attributes.name,
        root: { kind: "process", id: "0", pos: root.pos, scope, children },
        ...(schedules.length ? { schedules } : {}),
      };
    }
    if (!(ACTIVITY_KINDS as readonly string[]).includes(root.name)) {
      this.unknownElement(root, ["process", ...ACTIVITY_KINDS]);
      return { root: { kind: "process", id: "0", scope: { properties: [], handlers: [] }, children: [] } };
    }
    // A file whose root is a single activity runs as a process holding just that activity.
    const only = this.activity(root, "0.0");
    return {
      root: {
        kind: "process",
        id: "0",
        scope: { properties: [], handlers: [] },
        children: only ? [only] : [],
      },
    };
  }

  private unknownElement(element: XmlElement, allowed: readonly string[], where = ""): void {
    this.problems.add(
      `unknown element <${element.name}>${where}; allowed: ${allowed.map((n) => `<${n}>`).join(", ")}`,
      element.pos,
    );
  }

  private checkAttributes(element: XmlElement, kind = element.name as Element): void {
    const allowed = ATTRIBUTES[kind];
    for (const name of Object.keys(element.attributes)) {
      if (!allowed.includes(name)) {
        const list = allowed.length ? allowed.join(", ") : "none";
        this.problems.add(
          `<${element.name}> has an unknown attribute "${name}"; allowed: ${list}`,
          element.pos,
        );
      }
    }
  }

  /** The children, scope and conditions of a container element. */
  private body(
    element: XmlElement,
    id: string,
  ): { scope: Scope; children: Activity[]; conditions: Expression[] } {
    const children: Activity[] = [];
    const conditions: Expression[] = [];
    let scope: Scope | undefined;
    const extra = [
      ...(SCOPED.has(element.name) ? ["context"] : []),
      ...(WITH_CONDITIONS.has(element.name) ? ["condition"] : []),
    ];
    for (const child of element.children) {
      if (child.name === "context" && SCOPED.has(element.name)) {
        if (scope) this.problems.add(`<${element.name}> has more than one <context>`, child.pos);
        scope = this.scope(child, id);
      } else if (child.name === "condition" && WITH_CONDITIONS.has(element.name)) {
        this.checkAttributes(child);
        this.noChildren(child);
        conditions.push(makeExpression(child.text, true, this.problems, child.pos));
      } else if ((ACTIVITY_KINDS as readonly string[]).includes(child.name) && element.name !== "await") {
        const built = this.activity(child, `${id}.${children.length}`);
        if (built) children.push(built);
      } else {
        const allowed = element.name === "await" ? extra : [...ACTIVITY_KINDS, ...extra];
        this.unknownElement(child, allowed, ` inside <${element.name}>`);
      }
    }
    this.noText(element);
    return { scope: scope ?? { properties: [], handlers: [] }, children, conditions };
  }

  private noText(element: XmlElement): void {
    if (!WITH_TEXT.has(element.name) && element.text.trim() !== "") {
      this.problems.add(
        `<${element.name}> must not contain text (found ${JSON.stringify(element.text.trim().slice(0, 40))})`,
        element.pos,
      );
    }
  }

  private noChildren(element: XmlElement): void {
    for (const child of element.children)
      this.unknownElement(child, [], ` inside <${element.name}> (it takes text only)`);
  }

  private scope(element: XmlElement, id: string): Scope {
    this.checkAttributes(element);
    const properties: Property[] = [];
    const handlers: FaultHandler[] = [];
    for (const child of element.children) {
      if (child.name === "property") properties.push(this.property(child));
      else if (child.name === "faults") {
        if (handlers.length) this.problems.add("<context> has more than one <faults>", child.pos);
        handlers.push(...this.handlers(child, id, handlers.length));
      } else this.unknownElement(child, ["property", "faults"], " inside <context>");
    }
    this.noText(element);
    const names = new Set<string>();
    for (const property of properties) {
      if (names.has(property.name))
        this.problems.add(`property "${property.name}" is declared twice in one <context>`, element.pos);
      names.add(property.name);
    }
    return { properties, handlers };
  }

  private property(element: XmlElement): Property {
    this.noChildren(element);
    this.checkAttributes(element);
    const { name, type } = element.attributes;
    if (!name) this.problems.add("<property> needs a name attribute", element.pos);
    if (!type || !(PROPERTY_TYPES as readonly string[]).includes(type)) {
      this.problems.add(
        `<property name="${name ?? ""}"> has type ${JSON.stringify(type ?? "")}; allowed: ${PROPERTY_TYPES.join(", ")}`,
        element.pos,
      );
      return { name: name ?? "", type: "str", value: element.text };
    }
    const propertyType = type as PropertyType;
    return {
      name: name ?? "",
      type: propertyType,
      value: parseTypedValue(propertyType, element.text, name ?? "", this.problems, element.pos),
    };
  }

  private handlers(element: XmlElement, scopeId: string, offset: number): FaultHandler[] {
    this.checkAttributes(element);
    const handlers: FaultHandler[] = [];
    for (const child of element.children) {
      const id = `${scopeId}.f${offset + handlers.length}`;
      if (child.name !== "case" && child.name !== "default") {
        this.unknownElement(child, ["case", "default"], " inside <faults>");
        continue;
      }
      const children: Activity[] = [];
      for (const grandchild of child.children) {
        const built = this.activity(grandchild, `${id}.${children.length}`);
        if (built) children.push(built);
      }
      this.noText(child);
      this.checkAttributes(child, child.name === "case" ? "fault-case" : "default");
      if (child.name === "default") {
        handlers.push({ id, children });
        continue;
      }
      const codes = splitCodes(child.attributes.code ?? "");
      if (!codes.length) this.problems.add('a fault <case> needs code="A, B"', child.pos);
      handlers.push({ id, codes, children });
    }
    if (handlers.filter((h) => h.codes === undefined).length > 1)
      this.problems.add("<faults> has more than one <default>", element.pos);
    return handlers;
  }

  /** An activity, with its stable id when it has one. */
  private activity(element: XmlElement, id: string): Activity | undefined {
    const built = this.activityBody(element, id);
    const ref = element.attributes.id;
    return built && ref !== undefined ? { ...built, ref } : built;
  }

  private activityBody(element: XmlElement, id: string): Activity | undefined {
    const kind = element.name as ActivityKind;
    if (!ACTIVITY_KINDS.includes(kind)) {
      this.unknownElement(element, ACTIVITY_KINDS);
      return undefined;
    }
    this.checkAttributes(element);
    const a = element.attributes;
    const pos = element.pos;
    const required = (name: string): string => {
      const value = a[name];
      if (value === undefined || value.trim() === "")
        this.problems.add(`<${kind}> needs a ${name} attribute`, pos);
      return value ?? "";
    };
    const expression = (name: string) =>
      a[name] === undefined ? undefined : makeExpression(a[name], true, this.problems, pos);
    const duration = (name: string) =>
      a[name] === undefined ? undefined : makeDuration(a[name], `${name}`, this.problems, pos);
    switch (kind) {
      case "sequence":
      case "all":
      case "race": {
        const { scope, children } = this.body(element, id);
        return { kind, id, pos, scope, children };
      }
      case "while": {
        const { scope, children, conditions } = this.body(element, id);
        if (!conditions.length) this.problems.add("<while> needs a <condition>", pos);
        return { kind, id, pos, scope, children, conditions };
      }
      case "foreach": {
        const { scope, children } = this.body(element, id);
        const parallel = a.parallel === "true";
        if (a.parallel !== undefined && !["true", "false"].includes(a.parallel)) {
          this.problems.add(`parallel="${a.parallel}" must be "true" or "false"`, pos);
        }
        const collect = makeCollect(expression("collect"), a.into, "<foreach>", this.problems, pos);
        return {
          kind,
          id,
          pos,
          scope,
          children,
          parallel,
          select: makeSelector(required("select"), true, this.problems, pos),
          ...(collect ? { collect } : {}),
        };
      }
      case "switch":
        return { kind, id, pos, cases: this.cases(element, id) };
      case "action":
        this.noChildren(element);
        this.noText(element);
        return {
          kind,
          id,
          pos,
          participant: required("participant"),
          retry: a.retry === undefined ? 0 : makeCount(a.retry, "retry", this.problems, pos),
          timeout: duration("timeout"),
          heartbeat: duration("heartbeat"),
          backoff: duration("backoff"),
          input: expression("input"),
          output: expression("output"),
        };
      case "call":
        this.noChildren(element);
        this.noText(element);
        return {
          kind,
          id,
          pos,
          process: processRef(required("process")),
          input: expression("input"),
          output: expression("output"),
        };
      case "delay":
        this.noChildren(element);
        this.noText(element);
        if ((a.duration === undefined) === (a.until === undefined))
          this.problems.add("<delay> needs exactly one of duration and until", pos);
        return { kind, id, pos, duration: duration("duration"), until: expression("until") };
      case "await": {
        const { conditions } = this.body(element, id);
        return {
          kind,
          id,
          pos,
          event: required("event"),
          conditions,
          key: expression("key"),
          timeout: duration("timeout"),
          into: a.into,
        };
      }
      case "fault":
        this.noChildren(element);
        this.noText(element);
        return { kind, id, pos, code: a.code?.trim() || "terminate", message: a.message ?? "" };
      case "assign":
        this.noChildren(element);
        return {
          kind,
          id,
          pos,
          property: required("property"),
          expression: makeExpression(element.text, true, this.problems, pos),
        };
    }
  }

  private cases(element: XmlElement, id: string): CaseNode[] {
    const cases: CaseNode[] = [];
    for (const child of element.children) {
      if (child.name !== "case") {
        this.unknownElement(child, ["case"], " inside <switch>");
        continue;
      }
      this.checkAttributes(child, "case");
      const caseId = `${id}.${cases.length}`;
      const { scope, children, conditions } = this.body(child, caseId);
      if (!conditions.length) this.problems.add("<case> needs a <condition>", child.pos);
      cases.push({ kind: "case", id: caseId, pos: child.pos, conditions, scope, children });
    }
    this.noText(element);
    return cases;
  }
}

/** `$prop` names a context property holding XML; anything else a registered process `name[@version]`. */
export function processRef(text: string): ProcessRef {
  const trimmed = text.trim();
  if (trimmed.startsWith("$")) return { property: trimmed.slice(1) };
  const at = trimmed.lastIndexOf("@");
  return at > 0 ? { name: trimmed.slice(0, at), version: trimmed.slice(at + 1) } : { name: trimmed };
}

export function buildFromXml(
  root: XmlElement,
  problems: Problems,
): { name?: string; root: ProcessNode; schedules?: ScheduleDecl[] } {
  return new XmlBuilder(problems).process(root);
}

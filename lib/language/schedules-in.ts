/**
 * A definition's schedules as its YAML/JSON (`schedule:` or `schedules:` at the root) and its XML
 * (`<schedule …/>` inside `<process>`) write them, each problem with its line:col.
 */
import { isMap, isScalar, isSeq, type Node, type YAMLMap } from "yaml";
import type { Problems } from "./build.js";
import type { SourcePos } from "./model.js";
import {
  defaultScheduleName,
  readSchedule,
  type ScheduleDecl,
  type ScheduleFields,
  scheduleNameProblem,
  shortSchedule,
} from "./schedule.js";
import type { XmlElement } from "./xml.js";

type Positioned = (node: Node | null | undefined) => SourcePos | undefined;

/** One schedule node: a map of its keys, or the short form (a cron or a rate). */
function yamlSchedule(
  node: Node | null,
  where: string,
  problems: Problems,
  pos: Positioned,
): ScheduleDecl | undefined {
  const at = pos(node);
  const report = (message: string, p?: SourcePos, path?: string) => problems.add(message, p ?? at, path);
  if (isScalar(node) && typeof node.value === "string")
    return readSchedule(shortSchedule(node.value), where, report, at);
  if (!isMap(node)) {
    problems.add(
      `${where} must be a map (cron or rate, timezone, fields, overlap, catchup) or a cron`,
      at,
      where,
    );
    return undefined;
  }
  const fields = new Map<string, { value: unknown; pos?: SourcePos }>();
  for (const pair of (node as YAMLMap<Node, Node | null>).items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : "?";
    fields.set(key, { value: pair.value?.toJSON() ?? null, pos: pos(pair.value) ?? pos(pair.key) });
  }
  return readSchedule(fields, where, report, at);
}

/** The root's `schedule:` (one) and `schedules:` (a list). */
export function yamlSchedules(
  single: { node: Node | null; pos: SourcePos } | undefined,
  list: { node: Node | null; pos: SourcePos } | undefined,
  problems: Problems,
  pos: Positioned,
): ScheduleDecl[] {
  const out: ScheduleDecl[] = [];
  const add = (decl: ScheduleDecl | undefined) => decl && out.push(decl);
  if (single) add(yamlSchedule(single.node, "schedule", problems, pos));
  if (list) {
    if (!isSeq(list.node)) problems.add("schedules must be a list of schedules", list.pos, "schedules");
    else
      for (const [i, item] of (list.node.items as Node[]).entries())
        add(yamlSchedule(item, `schedules[${i}]`, problems, pos));
  }
  return out;
}

/** A `<schedule name? cron|rate timezone? fields?='{…}' overlap? catchup?/>` element. */
export function xmlSchedule(element: XmlElement, index: number, problems: Problems): ScheduleDecl {
  const where = `<schedule> ${index + 1}`;
  const report = (message: string, _pos?: SourcePos, path?: string) =>
    problems.add(message, element.pos, path);
  if (element.children.length || element.text.trim())
    problems.add(
      "<schedule> takes attributes only (name, cron or rate, timezone, fields, overlap, catchup)",
      element.pos,
    );
  const fields = new Map<string, { value: unknown }>();
  for (const [key, text] of Object.entries(element.attributes)) {
    if (key !== "fields") fields.set(key, { value: text });
    else
      try {
        fields.set(key, { value: JSON.parse(text) });
      } catch (error) {
        problems.add(
          `${where}: fields is not JSON (${error instanceof Error ? error.message : String(error)})`,
          element.pos,
        );
      }
  }
  return readSchedule(fields as ScheduleFields, where, report, element.pos);
}

/** Checks a definition's schedules as a set: names unique, at most one unnamed, whose default name fits. */
export function checkScheduleNames(
  schedules: readonly ScheduleDecl[],
  process: string,
  problems: Problems,
): void {
  const seen = new Set<string>();
  for (const schedule of schedules) {
    const name = schedule.name ?? defaultScheduleName(process);
    if (seen.has(name))
      problems.add(
        `two schedules are named ${JSON.stringify(name)}: give each its own name (an unnamed one takes the process's)`,
        schedule.pos,
      );
    seen.add(name);
    const problem = schedule.name === undefined ? scheduleNameProblem(name) : undefined;
    if (problem) problems.add(`give the schedule a name: ${problem}`, schedule.pos);
  }
}

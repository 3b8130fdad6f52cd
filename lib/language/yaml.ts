/**
 * Reads YAML or JSON text into the definition model: syntax errors with their position, anchors
 * and aliases refused (the YAML form of an entity bomb), then the tree built by YamlBuilder.
 */
import { isMap, isScalar, LineCounter, type Node, parseDocument, visit, type YAMLMap } from "yaml";
import type { Problems } from "./build.js";
import { YamlBuilder } from "./from-yaml.js";
import { ACTIVITY_KINDS, type ActivityKind, type ProcessNode } from "./model.js";
import type { ScheduleDecl } from "./schedule.js";
import { yamlSchedules } from "./schedules-in.js";

export function buildFromYaml(
  source: string,
  problems: Problems,
): { name?: string; root: ProcessNode; schedules?: ScheduleDecl[] } {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const empty: ProcessNode = {
    kind: "process",
    id: "0",
    scope: { properties: [], handlers: [] },
    children: [],
  };
  for (const error of doc.errors) {
    const at = lines.linePos(error.pos[0]);
    problems.add(error.message.split("\n")[0] ?? error.message, { line: at.line, col: at.col });
  }
  if (doc.errors.length) return { root: empty };
  let aliased = false;
  visit(doc, {
    Alias(_, node) {
      // Aliases multiply data (the YAML form of an entity bomb); definitions never need them.
      problems.add(
        "YAML anchors and aliases are not allowed in definitions",
        lines.linePos(node.range?.[0] ?? 0),
      );
      aliased = true;
      return visit.BREAK;
    },
  });
  if (aliased) return { root: empty };
  const builder = new YamlBuilder(problems, lines);
  const contents = doc.contents as Node | null;
  const rootFields = builder.fields(contents, "(root)", [
    "process",
    "schedule",
    "schedules",
    "context",
    "faults",
    "do",
    ...ACTIVITY_KINDS,
  ]);
  if (!rootFields) return { root: empty };
  const name = builder.scalar(rootFields, "process", "(root)");
  const schedules = yamlSchedules(rootFields.get("schedule"), rootFields.get("schedules"), problems, (n) =>
    builder.pos(n),
  );
  const withSchedules = schedules.length ? { schedules } : {};
  if (rootFields.has("do")) {
    for (const kind of ACTIVITY_KINDS) {
      if (rootFields.has(kind))
        problems.add(
          `the root has both do and ${kind}: put ${kind} inside do`,
          rootFields.get(kind)?.pos,
          kind,
        );
    }
    return {
      name,
      root: {
        kind: "process",
        id: "0",
        pos: builder.pos(contents),
        scope: builder.scope(rootFields, "(root)", "0"),
        children: builder.activities(rootFields.get("do")?.node, "do", "0"),
      },
      ...withSchedules,
    };
  }
  // A root holding a single activity runs as a process holding just that activity.
  const single =
    contents && isMap(contents)
      ? contents.items.filter(
          (p) => isScalar(p.key) && ACTIVITY_KINDS.includes(String(p.key.value) as ActivityKind),
        )
      : [];
  if (single.length !== 1 || !isMap(contents)) {
    problems.add("the root needs do: [activities] (or a single activity)", builder.pos(contents), "(root)");
    return { name, root: empty };
  }
  const pair = single[0] as { key: Node; value: Node | null };
  const map = new (contents.constructor as typeof YAMLMap)();
  map.items.push(pair as never);
  map.range = pair.key.range ?? null;
  const only = builder.activity(map as unknown as Node, "(root)", "0.0");
  return {
    name,
    root: { ...empty, scope: builder.scope(rootFields, "(root)", "0"), children: only ? [only] : [] },
    ...withSchedules,
  };
}

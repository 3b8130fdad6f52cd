/** Checks that need the whole tree, and the node index the interpreter looks paths up in. */
import type { Problems } from "./build.js";
import { childrenOf, type Definition, type FlowNode, type ProcessNode, scopeOf } from "./model.js";

function visit(node: FlowNode, fn: (node: FlowNode, depth: number) => void, depth = 0): void {
  fn(node, depth);
  if (node.kind === "switch") for (const c of node.cases) visit(c, fn, depth + 1);
  for (const child of childrenOf(node)) visit(child, fn, depth + 1);
  for (const handler of scopeOf(node)?.handlers ?? [])
    for (const child of handler.children) visit(child, fn, depth + 2);
}

const NAME = /^[A-Za-z_][\w:.-]*$/;

/** A stable id: what `docket migrate --map` and the next version name an activity by. */
const STABLE_ID = /^[A-Za-z_][\w.-]*$/;

export function validateTree(root: ProcessNode, problems: Problems, maxDepth: number): void {
  let deepest = 0;
  let deepestAt: FlowNode["pos"];
  const refs = new Set<string>();
  visit(root, (node, depth) => {
    if (depth > deepest) [deepest, deepestAt] = [depth, node.pos];
    if (node.ref !== undefined) {
      if (!STABLE_ID.test(node.ref))
        problems.add(
          `id ${JSON.stringify(node.ref)} must start with a letter or _ and hold letters, digits, _ - .`,
          node.pos,
        );
      else if (refs.has(node.ref))
        problems.add(`id "${node.ref}" is used twice: an activity's id names one activity`, node.pos);
      refs.add(node.ref);
    }
    for (const property of scopeOf(node)?.properties ?? []) {
      if (!NAME.test(property.name)) {
        problems.add(
          `property name ${JSON.stringify(property.name)} must start with a letter or _ and hold letters, digits, _ - : .`,
          node.pos,
        );
      }
      if (property.name.startsWith("inst:"))
        problems.add(`property name "${property.name}" is reserved (inst:…)`, node.pos);
    }
    const into = node.kind === "await" ? node.into : node.kind === "foreach" ? node.collect?.into : undefined;
    if (into !== undefined && !NAME.test(into)) {
      problems.add(`into=${JSON.stringify(into)} is not a property name`, node.pos);
    }
    if (into?.startsWith("inst:")) problems.add(`into="${into}" is reserved (inst:…)`, node.pos);
    if (node.kind === "race" && !node.children.length) {
      problems.add("race needs at least one branch: the first to complete wins", node.pos);
    }
    if (node.kind === "assign" && node.property && !NAME.test(node.property)) {
      problems.add(`property=${JSON.stringify(node.property)} is not a property name`, node.pos);
    }
  });
  // Named where it is deepest: the line a reader goes to to flatten it.
  if (deepest > maxDepth)
    problems.add(`activities nest ${deepest} levels deep; the limit is ${maxDepth}`, deepestAt);
}

const indexes = new WeakMap<Definition, Map<string, FlowNode>>();

/** Every node of a definition by its static path (cached per definition object). */
export function indexDefinition(definition: Definition): Map<string, FlowNode> {
  let index = indexes.get(definition);
  if (!index) {
    const built = new Map<string, FlowNode>();
    visit(definition.root, (node) => built.set(node.id, node));
    indexes.set(definition, built);
    index = built;
  }
  return index;
}

/** The static path of a runtime path: parallel foreach branches (`.b3`) removed. */
export function staticPath(path: string): string {
  return path.includes(".b") ? path.replace(/\.b\d+/g, "") : path;
}

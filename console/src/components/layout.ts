/** The graph laid out with dagre (layered, top to bottom): each node's box and each edge's route. */
import dagre from "@dagrejs/dagre";
import type { Graph, GraphEdge, GraphNode } from "../../../lib/runtime/graph.js";

export type Shape = "ellipse" | "diamond" | "rect" | "rounded";

export interface PlacedNode {
  readonly node: GraphNode;
  readonly shape: Shape;
  /** The centre. */
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** The label as drawn (long ones are cut; the full one is in the node's title). */
  readonly text: string;
}

export interface PlacedEdge {
  readonly edge: GraphEdge;
  readonly points: readonly { x: number; y: number }[];
  readonly label?: { x: number; y: number; width: number; text: string };
}

export interface Layout {
  readonly width: number;
  readonly height: number;
  readonly nodes: readonly PlacedNode[];
  readonly edges: readonly PlacedEdge[];
}

const CHAR = 7.4;
const MAX_LABEL = 34;
const EDGE_CHAR = 6.6;
const MAX_EDGE_LABEL = 40;

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

export function shapeOf(kind: GraphNode["kind"]): Shape {
  if (kind === "process" || kind === "join") return "ellipse";
  if (kind === "switch" || kind === "all" || kind === "race") return "diamond";
  if (kind === "action" || kind === "call") return "rect";
  return "rounded";
}

/** A node's box: room for its label and, with states, the state word under it. */
function size(shape: Shape, text: string, withState: boolean): { width: number; height: number } {
  const textWidth = Math.max(text.length, withState ? 12 : 0) * CHAR;
  const height = withState ? 46 : 34;
  if (shape === "diamond") return { width: textWidth + 70, height: height + 26 };
  if (shape === "ellipse") return { width: textWidth + 44, height: height + 4 };
  return { width: Math.max(textWidth + 28, 80), height };
}

export function layoutGraph(graph: Graph, withState: boolean): Layout {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: 28, ranksep: 44, edgesep: 14, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  const texts = new Map<string, string>();
  for (const node of graph.nodes) {
    const text = cut(node.label, MAX_LABEL);
    texts.set(node.id, text);
    g.setNode(node.id, size(shapeOf(node.kind), text, withState));
  }
  graph.edges.forEach((edge, i) => {
    const text = edge.label === undefined ? "" : cut(edge.label, MAX_EDGE_LABEL);
    const label = text ? { width: text.length * EDGE_CHAR + 10, height: 18, labelpos: "c" as const } : {};
    g.setEdge(edge.from, edge.to, label, String(i));
  });
  dagre.layout(g);
  const nodes = graph.nodes.map((node) => {
    const box = g.node(node.id);
    return {
      node,
      shape: shapeOf(node.kind),
      x: box.x ?? 0,
      y: box.y ?? 0,
      width: box.width,
      height: box.height,
      text: texts.get(node.id) ?? node.label,
    };
  });
  const byId = new Map(nodes.map((n) => [n.node.id, n]));
  const edges = graph.edges.map((edge, i) => {
    const route = g.edge({ v: edge.from, w: edge.to, name: String(i) });
    const text = edge.label === undefined ? "" : cut(edge.label, MAX_EDGE_LABEL);
    const placed: PlacedEdge = {
      edge,
      points: clipRoute(route?.points ?? [], byId.get(edge.from), byId.get(edge.to)),
      ...(text && route?.x !== undefined && route.y !== undefined
        ? { label: { x: route.x, y: route.y, width: text.length * EDGE_CHAR + 10, text } }
        : {}),
    };
    return placed;
  });
  const { width = 0, height = 0 } = g.graph();
  return { width, height, nodes, edges };
}

type Point = { x: number; y: number };

/**
 * Where the line from a node's centre towards `toward` leaves its shape: dagre ends edges on the
 * node's bounding box, which leaves a gap before an ellipse or a diamond.
 */
function boundaryPoint(node: PlacedNode, toward: Point, fallback: Point): Point {
  const dx = toward.x - node.x;
  const dy = toward.y - node.y;
  if ((dx === 0 && dy === 0) || node.shape === "rect" || node.shape === "rounded") return fallback;
  const a = node.width / 2;
  const b = node.height / 2;
  // The scale t at which (dx, dy)·t meets the ellipse (x/a)² + (y/b)² = 1 or the diamond |x|/a + |y|/b = 1.
  const t =
    node.shape === "ellipse"
      ? 1 / Math.sqrt((dx / a) ** 2 + (dy / b) ** 2)
      : 1 / (Math.abs(dx) / a + Math.abs(dy) / b);
  return { x: node.x + dx * t, y: node.y + dy * t };
}

/** The route with its ends moved onto the shapes of the nodes it joins. */
function clipRoute(points: readonly Point[], from?: PlacedNode, to?: PlacedNode): Point[] {
  const out = [...points];
  const first = out[0];
  const last = out[out.length - 1];
  if (out.length < 2 || !first || !last) return out;
  // Each end moves along the line from its node's centre through the next point of the route.
  if (from) out[0] = boundaryPoint(from, out[1] ?? first, first);
  if (to) out[out.length - 1] = boundaryPoint(to, out[out.length - 2] ?? last, last);
  return out;
}

/** An SVG path through the route's points, rounded at each bend. */
export function routePath(points: readonly { x: number; y: number }[]): string {
  const [first, ...rest] = points;
  if (!first) return "";
  let d = `M${first.x},${first.y}`;
  for (let i = 0; i < rest.length; i++) {
    const point = rest[i];
    const next = rest[i + 1];
    if (!point) break;
    if (!next) d += ` L${point.x},${point.y}`;
    else d += ` Q${point.x},${point.y} ${(point.x + next.x) / 2},${(point.y + next.y) / 2}`;
  }
  return d;
}

export type Direction = "up" | "down" | "left" | "right";

/**
 * The node nearest `from` that lies in `direction` (by centres; straight ahead counts for more than
 * off to the side), for moving between nodes with the arrow keys; undefined when none lies that way.
 */
export function nearestToward(
  nodes: readonly PlacedNode[],
  from: PlacedNode,
  direction: Direction,
): PlacedNode | undefined {
  const vertical = direction === "up" || direction === "down";
  const sign = direction === "down" || direction === "right" ? 1 : -1;
  let best: PlacedNode | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const node of nodes) {
    const along = sign * (vertical ? node.y - from.y : node.x - from.x);
    const across = Math.abs(vertical ? node.x - from.x : node.y - from.y);
    if (node === from || along <= 0) continue;
    const score = along + 2 * across;
    if (score < bestScore) {
      best = node;
      bestScore = score;
    }
  }
  return best;
}

/**
 * A process graph as inline SVG, laid out by dagre. With states, each node is coloured by its state
 * and also says it in words (a state line, its title and aria-label), since colour alone is not
 * enough; with `onSelect`, nodes are buttons (click, Enter or Space) with one tab stop among them:
 * the arrow keys move between nodes, Home and End to the first and last.
 */
import type { TargetedKeyboardEvent } from "preact";
import { useId, useMemo, useRef, useState } from "preact/hooks";
import type { Graph, GraphNode, NodeState } from "../../../lib/runtime/graph.js";
import {
  type Direction,
  type Layout,
  layoutGraph,
  nearestToward,
  type PlacedEdge,
  type PlacedNode,
  routePath,
} from "./layout.js";

export type ShownState = NodeState | "not-reached";

export const STATE_WORDS: Record<ShownState, string> = {
  done: "done",
  active: "active",
  waiting: "waiting",
  faulted: "faulted",
  canceled: "canceled",
  "not-reached": "not reached",
};

/** A mark beside each state word, a second cue that does not rely on colour. */
export const STATE_MARKS: Record<ShownState, string> = {
  done: "✓",
  active: "▶",
  waiting: "◐",
  faulted: "✕",
  canceled: "⊘",
  "not-reached": "○",
};

interface DiagramProps {
  readonly graph: Graph;
  /** The instance's node states; absent for a definition (no state shown). */
  readonly states?: Readonly<Record<string, NodeState>>;
  readonly selected?: string;
  readonly onSelect?: (id: string) => void;
  /** The id of the panel the selected node opened (its aria-controls), while it is shown. */
  readonly controls?: string;
  /** What the diagram is, for screen readers. */
  readonly title: string;
}

/** A join only marks where branches meet: it has no panel of its own, so it is no button. */
const isSelectable = (node: GraphNode) => node.kind !== "join";

const ARROWS: Readonly<Record<string, Direction>> = {
  ArrowUp: "up",
  ArrowDown: "down",
  ArrowLeft: "left",
  ArrowRight: "right",
};

function ShapeOf({ node }: { node: PlacedNode }) {
  const w = node.width;
  const h = node.height;
  if (node.shape === "ellipse") return <ellipse class="shape" rx={w / 2} ry={h / 2} />;
  if (node.shape === "diamond")
    return <polygon class="shape" points={`0,${-h / 2} ${w / 2},0 0,${h / 2} ${-w / 2},0`} />;
  return (
    <rect class="shape" x={-w / 2} y={-h / 2} width={w} height={h} rx={node.shape === "rounded" ? 10 : 2} />
  );
}

/** How a selectable node acts as a button. */
interface NodeButton {
  /** The one node in the tab order. */
  readonly tabStop: boolean;
  readonly controls?: string;
  readonly onSelect: (id: string) => void;
  readonly onKey: (event: TargetedKeyboardEvent<SVGGElement>, placed: PlacedNode) => void;
  readonly onFocus: (id: string) => void;
}

interface NodeProps {
  readonly placed: PlacedNode;
  readonly state?: ShownState;
  readonly selected: boolean;
  readonly button?: NodeButton;
}

function NodeBody({ placed, state }: { placed: PlacedNode; state?: ShownState }) {
  const { node } = placed;
  const words = state ? STATE_WORDS[state] : undefined;
  return (
    <>
      <title>{`${node.label} (${node.id})${words ? `: ${words}` : ""}`}</title>
      <rect
        class="focus-ring"
        x={-placed.width / 2 - 5}
        y={-placed.height / 2 - 5}
        width={placed.width + 10}
        height={placed.height + 10}
        rx={8}
      />
      <ShapeOf node={placed} />
      <text class="label" y={state ? -6 : 0} dominant-baseline="middle" text-anchor="middle">
        {placed.text}
      </text>
      {state && (
        <text class="state-word" y={12} dominant-baseline="middle" text-anchor="middle">
          {`${STATE_MARKS[state]} ${STATE_WORDS[state]}`}
        </text>
      )}
    </>
  );
}

function DiagramNode({ placed, state, selected, button }: NodeProps) {
  const { node } = placed;
  const common = {
    transform: `translate(${placed.x},${placed.y})`,
    "data-testid": `node-${node.id}`,
    "data-state": state,
  };
  const classes = `node state-${state ?? "plain"}${selected ? " selected" : ""}`;
  if (!button)
    return (
      <g class={classes} {...common}>
        <NodeBody placed={placed} state={state} />
      </g>
    );
  return (
    // biome-ignore lint/a11y/useSemanticElements: SVG has no <button>; a focusable group with the role is the way.
    <g
      class={`${classes} interactive`}
      {...common}
      tabindex={button.tabStop ? 0 : -1}
      role="button"
      aria-label={`${node.label}, ${state ? STATE_WORDS[state] : node.kind}`}
      aria-expanded={selected}
      aria-controls={selected ? button.controls : undefined}
      onClick={() => button.onSelect(node.id)}
      onKeyDown={(event) => button.onKey(event, placed)}
      onFocus={() => button.onFocus(node.id)}
    >
      <NodeBody placed={placed} state={state} />
    </g>
  );
}

/**
 * One tab stop among the nodes (a roving tabindex): the node last focused, else the selected one,
 * else the first; the arrow keys move focus to the nearest node that way, Enter and Space select.
 */
function useNodeButtons(layout: Layout, props: DiagramProps) {
  const { selected, onSelect, controls } = props;
  const svg = useRef<SVGSVGElement>(null);
  const [focused, setFocused] = useState<string>();
  const selectable = useMemo(() => layout.nodes.filter((n) => isSelectable(n.node)), [layout]);
  if (!onSelect) return { svg, buttonOf: () => undefined };
  const has = (id?: string) => id !== undefined && selectable.some((n) => n.node.id === id);
  const tabStop = [focused, selected].find(has) ?? selectable[0]?.node.id;
  const focus = (id: string) =>
    svg.current?.querySelector<SVGGElement>(`[data-testid="node-${CSS.escape(id)}"]`)?.focus();
  const onKey = (event: TargetedKeyboardEvent<SVGGElement>, placed: PlacedNode) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      onSelect(placed.node.id);
      return;
    }
    const direction = ARROWS[event.key];
    let target: PlacedNode | undefined;
    if (direction) target = nearestToward(selectable, placed, direction);
    else if (event.key === "Home") target = selectable[0];
    else if (event.key === "End") target = selectable[selectable.length - 1];
    else return;
    // An arrow with no node that way does nothing, rather than scroll the page.
    event.preventDefault();
    if (target) focus(target.node.id);
  };
  const buttonOf = (placed: PlacedNode): NodeButton | undefined =>
    isSelectable(placed.node)
      ? { tabStop: placed.node.id === tabStop, controls, onSelect, onKey, onFocus: setFocused }
      : undefined;
  return { svg, buttonOf };
}

function DiagramEdge({ placed, marker }: { placed: PlacedEdge; marker: string }) {
  const { label } = placed;
  return (
    <g class={`edge${placed.edge.dashed ? " dashed" : ""}`}>
      <path d={routePath(placed.points)} marker-end={`url(#${marker})`} />
      {label && (
        <g transform={`translate(${label.x},${label.y})`}>
          <rect class="edge-label-bg" x={-label.width / 2} y={-9} width={label.width} height={18} rx={3} />
          <text class="edge-label" dominant-baseline="middle" text-anchor="middle">
            {label.text}
          </text>
        </g>
      )}
    </g>
  );
}

export function Legend() {
  return (
    <ul class="legend" aria-label="Node states">
      {(Object.keys(STATE_WORDS) as ShownState[]).map((state) => (
        <li key={state}>
          <span class={`swatch chip-${state}`} aria-hidden="true">
            {STATE_MARKS[state]}
          </span>
          {STATE_WORDS[state]}
        </li>
      ))}
    </ul>
  );
}

function Svg({ layout, props, fit }: { layout: Layout; props: DiagramProps; fit: boolean }) {
  const marker = `arrow-${useId().replace(/[^\w-]/g, "")}`;
  const { states, selected } = props;
  const { svg, buttonOf } = useNodeButtons(layout, props);
  const style = fit
    ? { width: "100%", maxWidth: `${layout.width}px`, height: "auto" }
    : { width: `${layout.width}px`, height: `${layout.height}px` };
  return (
    <svg ref={svg} class="diagram" viewBox={`0 0 ${layout.width} ${layout.height}`} style={style}>
      <title>{props.title}</title>
      <defs>
        <marker
          id={marker}
          viewBox="0 0 10 10"
          refX="9"
          refY="5"
          markerWidth="7"
          markerHeight="7"
          orient="auto"
        >
          <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
        </marker>
      </defs>
      {layout.edges.map((edge, i) => (
        <DiagramEdge key={`${edge.edge.from}>${edge.edge.to}#${i}`} placed={edge} marker={marker} />
      ))}
      {layout.nodes.map((node) => (
        <DiagramNode
          key={node.node.id}
          placed={node}
          state={states ? (states[node.node.id] ?? "not-reached") : undefined}
          selected={selected === node.node.id}
          button={buttonOf(node)}
        />
      ))}
    </svg>
  );
}

export function Diagram(props: DiagramProps) {
  const { graph, states } = props;
  const withState = states !== undefined;
  // Laid out again only when the graph's shape changes, not on every state change.
  const shapeKey = JSON.stringify([graph.nodes.map((n) => [n.id, n.label]), graph.edges]);
  const layout = useMemo(() => layoutGraph(graph, withState), [shapeKey, withState]);
  const [fit, setFit] = useState(true);
  return (
    <div class="diagram-box">
      <div class="diagram-tools">
        {withState && <Legend />}
        <button type="button" class="small" aria-pressed={!fit} onClick={() => setFit(!fit)}>
          Actual size
        </button>
      </div>
      {/* Without focusable nodes, the scrolling box itself takes focus, so a keyboard can scroll it. */}
      <div class="diagram-scroll" tabindex={props.onSelect ? undefined : 0}>
        <Svg layout={layout} props={props} fit={fit} />
      </div>
    </div>
  );
}

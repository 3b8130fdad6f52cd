/**
 * One instance: its header and operator buttons, its diagram with a panel per node, incidents,
 * context and history; kept up to date by change events for it (or polling).
 */
import type { ComponentChildren } from "preact";
import { useId, useState } from "preact/hooks";
import {
  ApiError,
  api,
  describeError,
  type InstanceView,
  type OperatorAction,
  operateAndRefresh,
} from "../api.js";
import { Diagram } from "../components/diagram.js";
import { ActionDialog } from "../components/dialog.js";
import { HistoryTimeline } from "../components/history.js";
import { Incidents } from "../components/incidents.js";
import { JsonTree } from "../components/json-tree.js";
import { NodePanel } from "../components/node-panel.js";
import { ErrorNote, StatusBadge } from "../components/status.js";
import { formatTime, isoTime, shortHash } from "../format.js";
import { useChanged, useResource, useTitle } from "../hooks.js";
import { useLiveRefresh } from "../live.js";
import { href, instanceHref, Link } from "../router.js";

const FINAL = ["completed", "faulted", "canceled"];

/** What changes with each step the instance takes (the graph, the history). */
const stepsOf = (instance: InstanceView) => `${instance.steps}:${instance.updatedAt}`;

export function InstancePage({ id }: { id: string }) {
  useTitle(`Instance ${id}`);
  const view = useResource(() => api.show(id), [id]);
  const graph = useResource(() => api.graph(id), [id]);
  const final = view.data !== undefined && FINAL.includes(view.data.status);
  // The graph is read again only when a step was taken, not on every poll.
  useChanged(view.data && stepsOf(view.data), graph.reload);
  useLiveRefresh(
    () => {
      // An ended instance no longer changes: the refresh that saw it end was the last.
      if (!final) view.reload();
      if (graph.error !== undefined && !graph.loading) graph.reload();
    },
    (change) => change.instance === id,
  );
  const refresh = view.reload;
  if (view.error instanceof ApiError && view.error.status === 404 && !view.data)
    return (
      <>
        <h1 tabindex={-1}>No instance {id}</h1>
        <p>
          There is no instance with this id (it may have been deleted).{" "}
          <Link href={href("/")}>All instances</Link>
        </p>
      </>
    );
  const instance = view.data;
  return (
    <>
      <h1 tabindex={-1}>
        Instance <span class="mono">{id}</span>
      </h1>
      {view.error !== undefined && (
        <ErrorNote>Cannot load the instance: {describeError(view.error)}</ErrorNote>
      )}
      {!instance && view.loading && <p>Loading…</p>}
      {instance && (
        <>
          <Header instance={instance} onDone={refresh} />
          <Incidents instanceId={id} incidents={instance.incidents} onDone={refresh} />
          <DiagramSection instance={instance} graph={graph} />
          <div class="columns">
            <section class="panel" aria-labelledby="context-title">
              <h2 id="context-title">Context</h2>
              <JsonTree value={instance.context} label="context" />
            </section>
            <HistoryTimeline instanceId={id} version={stepsOf(instance)} />
          </div>
        </>
      )}
    </>
  );
}

function Facts({ instance }: { instance: InstanceView }) {
  const item = (term: string, value: ComponentChildren) => (
    <div>
      <dt>{term}</dt>
      <dd>{value}</dd>
    </div>
  );
  const time = (ms: number) => <time dateTime={isoTime(ms)}>{formatTime(ms)}</time>;
  return (
    <dl class="summary-list">
      {item(
        "Process",
        <Link href={href("/definitions", { process: instance.process, version: instance.version })}>
          {instance.process}@{shortHash(instance.version)}
        </Link>,
      )}
      {item(
        "Status",
        <>
          <StatusBadge status={instance.status} testId="instance-status" />
          {instance.paused && (
            <span class="badge paused" data-testid="instance-paused">
              paused
            </span>
          )}
        </>,
      )}
      {item("Created", time(instance.createdAt))}
      {item("Updated", time(instance.updatedAt))}
      {item("Steps", instance.steps)}
      {instance.parent &&
        item("Parent", <Link href={instanceHref(instance.parent.instance)}>{instance.parent.instance}</Link>)}
    </dl>
  );
}

function Header({ instance, onDone }: { instance: InstanceView; onDone: () => void }) {
  const final = FINAL.includes(instance.status);
  return (
    <section class="instance-header" aria-label="Summary">
      <Facts instance={instance} />
      {instance.fault && (
        <p class="error" data-testid="instance-fault">
          Fault <strong>{instance.fault.code}</strong> at <code>{instance.fault.node}</code>:{" "}
          {instance.fault.message} (error id {instance.fault.id})
        </p>
      )}
      <div class="buttons">
        <OperatorButton
          instance={instance}
          action="pause"
          enabled={!final && !instance.paused}
          onDone={onDone}
        />
        <OperatorButton
          instance={instance}
          action="resume"
          enabled={!final && instance.paused}
          onDone={onDone}
        />
        <OperatorButton instance={instance} action="cancel" enabled={!final} onDone={onDone} />
      </div>
    </section>
  );
}

const EXPLAIN: Record<string, string> = {
  pause: "Pausing holds back new tasks until the instance is resumed; tasks already sent still reply.",
  resume: "Resuming sends the tasks held while paused and lets the instance go on.",
  cancel: "Canceling stops the instance for good: its active nodes are canceled and it ends as canceled.",
};

interface OperatorButtonProps {
  readonly instance: InstanceView;
  readonly action: Extract<OperatorAction, "pause" | "resume" | "cancel">;
  readonly enabled: boolean;
  readonly onDone: () => void;
}

function OperatorButton({ instance, action, enabled, onDone }: OperatorButtonProps) {
  const [open, setOpen] = useState(false);
  const [outcome, setOutcome] = useState("");
  // "Queued, not applied yet" holds until the instance is seen to change.
  useChanged(`${instance.status}:${instance.paused}:${stepsOf(instance)}`, () => setOutcome(""));
  const label = action[0]?.toUpperCase() + action.slice(1);
  return (
    <>
      <button
        type="button"
        class={action === "cancel" ? "danger" : undefined}
        disabled={!enabled}
        data-testid={`action-${action}`}
        onClick={() => setOpen(true)}
      >
        {label}
      </button>
      <span role="status" class="outcome">
        {outcome}
      </span>
      <ActionDialog
        focusAfter="main h1"
        open={open}
        title={`${label} instance ${instance.id}?`}
        confirmLabel={`${label} instance`}
        danger={action === "cancel"}
        onClose={() => setOpen(false)}
        testId={`dialog-${action}`}
        onConfirm={async () => {
          const answer = await operateAndRefresh(onDone, instance.id, action);
          setOutcome(answer.state === "queued" ? `${action}: queued, not applied yet` : "");
        }}
      >
        <p>{EXPLAIN[action]}</p>
      </ActionDialog>
    </>
  );
}

type GraphResource = ReturnType<typeof useResource<Awaited<ReturnType<typeof api.graph>>>>;

function DiagramSection({ instance, graph }: { instance: InstanceView; graph: GraphResource }) {
  const [selected, setSelected] = useState<string>();
  const panelId = useId();
  const node = graph.data?.nodes.find((n) => n.id === selected);
  return (
    <section class="panel" aria-labelledby="diagram-title">
      <h2 id="diagram-title">Diagram</h2>
      {graph.error !== undefined && (
        <ErrorNote>Cannot load the diagram: {describeError(graph.error)}</ErrorNote>
      )}
      {!graph.data && graph.loading && <p>Loading…</p>}
      {graph.data && (
        <div class={`diagram-layout${node ? " with-panel" : ""}`}>
          <Diagram
            graph={graph.data}
            states={graph.data.states}
            selected={selected}
            controls={node ? panelId : undefined}
            onSelect={(id) => setSelected(id === selected ? undefined : id)}
            title={`Diagram of ${instance.process}; select a node for its details`}
          />
          {node && (
            <NodePanel
              id={panelId}
              instance={instance}
              node={node}
              state={graph.data.states[node.id]}
              onClose={() => {
                setSelected(undefined);
                // The close button goes away with the panel: focus returns to the node.
                document.querySelector<SVGGElement>(`[data-testid="node-${CSS.escape(node.id)}"]`)?.focus();
              }}
            />
          )}
        </div>
      )}
    </section>
  );
}

/**
 * The side panel of a diagram node: what the node is doing now (from the instance view) and what
 * the whole history says about it (its tasks and replies, timers, events, children and notes).
 */
import { useCallback, useEffect, useId, useRef, useState } from "preact/hooks";
import { staticPath } from "../../../lib/language/validate.js";
import type { GraphNode, NodeState } from "../../../lib/runtime/graph.js";
import { api, describeError, type InstanceView } from "../api.js";
import { brief, formatPreciseTime } from "../format.js";
import { useAuthEpoch, useChanged } from "../hooks.js";
import { type HistoryEntry, isEmpty, type NodeFacts, nodeFacts, type TaskFacts } from "../node-facts.js";
import { instanceHref, Link } from "../router.js";
import { STATE_MARKS, STATE_WORDS } from "./diagram.js";
import { tailStart } from "./history.js";

const PAGE = 200;
const MAX_RECORDS = 20 * PAGE;

interface HeldHistory {
  readonly records: readonly HistoryEntry[];
  /** More than MAX_RECORDS: the rest is not read. */
  readonly truncated: boolean;
}

/** The history after what is held (from its last step on, see tailStart), up to MAX_RECORDS. */
async function readOn(id: string, held: HeldHistory | undefined): Promise<HeldHistory> {
  const start: { keep: HistoryEntry[]; after?: number } = held?.records.length
    ? tailStart(held.records)
    : { keep: [] };
  const records = start.keep;
  let cursor = start.after;
  while (records.length < MAX_RECORDS) {
    const answer = await api.history(id, cursor, PAGE);
    records.push(...answer.records);
    if (answer.next === undefined) return { records, truncated: false };
    cursor = answer.next;
  }
  return { records, truncated: true };
}

/**
 * The instance's whole history, read once and then only what each new step (`version`) added; a
 * failed read is tried again on the next step. Only the newest read's answer is kept.
 */
function useHistory(instanceId: string, version: string) {
  const [state, setState] = useState<{ held?: HeldHistory; error?: unknown; loading: boolean }>({
    loading: true,
  });
  const held = useRef<HeldHistory | undefined>(undefined);
  const latest = useRef(0);
  const read = useCallback(
    (fresh: boolean) => {
      if (fresh) held.current = undefined;
      // Past MAX_RECORDS nothing more is read: the first records stay what is shown.
      if (held.current?.truncated) return;
      const request = ++latest.current;
      setState((old) => ({ ...old, loading: true }));
      readOn(instanceId, held.current).then(
        (answer) => {
          if (request !== latest.current) return;
          held.current = answer;
          setState({ held: answer, loading: false });
        },
        (error: unknown) => {
          if (request === latest.current) setState((old) => ({ ...old, error, loading: false }));
        },
      );
    },
    [instanceId],
  );
  const epoch = useAuthEpoch();
  useEffect(() => {
    setState({ loading: true });
    read(true);
  }, [read, epoch]);
  useChanged(version, () => read(false));
  return state;
}

interface NodePanelProps {
  readonly instance: InstanceView;
  readonly node: GraphNode;
  readonly state?: NodeState;
  /** The panel's element id, which the selected diagram node names in aria-controls. */
  readonly id: string;
  readonly onClose: () => void;
}

export function NodePanel({ instance, node, state, id, onClose }: NodePanelProps) {
  const titleId = useId();
  const panel = useRef<HTMLElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    // On a narrow screen the panel is under the diagram: bring it into view, and focus to it.
    panel.current?.scrollIntoView({ block: "nearest" });
    heading.current?.focus({ preventScroll: true });
  }, [node.id]);
  const history = useHistory(instance.id, `${instance.steps}:${instance.updatedAt}`);
  const shown = state ?? "not-reached";
  const facts = history.held ? nodeFacts(history.held.records, node.id) : undefined;
  return (
    <section
      ref={panel}
      id={id}
      class="panel node-panel"
      aria-labelledby={titleId}
      data-testid="node-panel"
      onKeyDown={(event) => {
        if (event.key === "Escape") onClose();
      }}
    >
      <div class="panel-head">
        <h3 id={titleId} ref={heading} tabindex={-1}>
          {node.label}
        </h3>
        <button type="button" class="small" onClick={onClose} data-testid="node-panel-close">
          Close
        </button>
      </div>
      <p class="muted">
        node <code>{node.id}</code> · {node.kind} ·{" "}
        <span class={`state-text chip-${shown}`}>{`${STATE_MARKS[shown]} ${STATE_WORDS[shown]}`}</span>
      </p>
      <Now instance={instance} nodeId={node.id} />
      {history.error !== undefined && (
        <p class="error" role="alert">
          Cannot load the history: {describeError(history.error)}
        </p>
      )}
      {!facts && history.loading && <p aria-live="polite">Loading the history…</p>}
      {history.held?.truncated && <p class="muted">Only the first {MAX_RECORDS} history records are read.</p>}
      {facts && <FactsView facts={facts} />}
    </section>
  );
}

/** The node's active entries now (an action's task and what it waits for) and its incidents. */
function Now({ instance, nodeId }: { instance: InstanceView; nodeId: string }) {
  const active = instance.active.filter((a) => staticPath(a.node) === nodeId);
  const incidents = instance.incidents.filter((i) => staticPath(i.node) === nodeId);
  if (!active.length && !incidents.length) return null;
  return (
    <ul class="facts">
      {active.map((a) => (
        <li key={a.node}>
          active at <code>{a.node}</code> ({a.state}){a.task && ` task ${a.task}, attempt ${a.attempt}`}
          {a.wait && `, waiting for ${a.wait}`}
          {a.child && (
            <>
              , child <Link href={instanceHref(a.child)}>{a.child}</Link>
            </>
          )}
        </li>
      ))}
      {incidents.map((i) => (
        <li key={i.id} class="error-text">
          incident {i.id}: {i.error.code} {i.error.message} (attempt {i.attempt})
        </li>
      ))}
    </ul>
  );
}

function FactsView({ facts }: { facts: NodeFacts }) {
  if (isEmpty(facts)) return <p>The history records nothing for this node yet.</p>;
  return (
    <>
      {facts.tasks.length > 0 && <Tasks facts={facts} />}
      {facts.timers.length > 0 && <Timers facts={facts} />}
      {(facts.events.subscriptions.length > 0 || facts.events.received.length > 0) && (
        <Events facts={facts} />
      )}
      {facts.children.length > 0 && <Children facts={facts} />}
      {facts.notes.length > 0 && (
        <>
          <h4>Notes</h4>
          <ul class="facts">
            {facts.notes.map(({ at, note }, i) => (
              <li key={`${at}-${i}`}>
                <time>{formatPreciseTime(at)}</time> {note.kind}: {note.reason}
              </li>
            ))}
          </ul>
        </>
      )}
    </>
  );
}

function Tasks({ facts }: { facts: NodeFacts }) {
  return (
    <>
      <h4>Tasks</h4>
      <ul class="facts">
        {facts.tasks.map((task) => (
          <li key={task.id} data-testid="node-task">
            <div>
              task <code>{task.id}</code> attempt {task.attempt}
              {task.participant && ` to ${task.participant}`}
              {task.at !== undefined && (
                <>
                  {" "}
                  at <time>{formatPreciseTime(task.at)}</time>
                </>
              )}
            </div>
            {task.sent && <div class="code-line">sent {brief(task.sent, 200)}</div>}
            <Heartbeats replies={task.replies} />
            {task.replies
              .filter(({ reply }) => reply.status !== "heartbeat")
              .map(({ at, reply }, i) => (
                <div key={`${at}-${i}`} class={reply.status === "done" ? "" : "error-text"}>
                  reply <strong>{reply.status}</strong> at <time>{formatPreciseTime(at)}</time>
                  {reply.fields && <span class="code-line"> received {brief(reply.fields, 200)}</span>}
                  {reply.error && ` error ${reply.error.code ?? ""}: ${reply.error.message ?? ""}`}
                </div>
              ))}
          </li>
        ))}
      </ul>
    </>
  );
}

/** A task's heartbeats as one line (a worker may send hundreds): how many, the last, its details. */
function Heartbeats({ replies }: { replies: TaskFacts["replies"] }) {
  const beats = replies.filter(({ reply }) => reply.status === "heartbeat");
  const last = beats.at(-1);
  if (!last) return null;
  return (
    <div data-testid="node-heartbeats">
      {beats.length === 1 ? "1 heartbeat" : `${beats.length} heartbeats`}, the last at{" "}
      <time>{formatPreciseTime(last.at)}</time>
      {last.reply.details !== undefined && (
        <span class="code-line"> details {brief(last.reply.details, 200)}</span>
      )}
    </div>
  );
}

function Timers({ facts }: { facts: NodeFacts }) {
  return (
    <>
      <h4>Timers</h4>
      <ul class="facts">
        {facts.timers.map((t) => (
          <li key={t.timer}>
            timer <code>{t.timer}</code>
            {t.due !== undefined && ` due ${formatPreciseTime(t.due)}`}
            {t.firedAt !== undefined && `, fired ${formatPreciseTime(t.firedAt)}`}
            {t.canceledAt !== undefined && `, canceled ${formatPreciseTime(t.canceledAt)}`}
            {t.firedAt === undefined && t.canceledAt === undefined && ", pending"}
          </li>
        ))}
      </ul>
    </>
  );
}

function Events({ facts }: { facts: NodeFacts }) {
  return (
    <>
      <h4>Events</h4>
      <ul class="facts">
        {facts.events.subscriptions.map((s) => (
          <li key={s.subscription}>
            waits for <strong>{s.event}</strong>
            {s.key !== undefined ? ` key ${JSON.stringify(s.key)}` : " (any key)"} since{" "}
            <time>{formatPreciseTime(s.at)}</time>
            {s.endedAt !== undefined && `, until ${formatPreciseTime(s.endedAt)}`}
          </li>
        ))}
        {facts.events.received.map(({ at, event }) => (
          <li key={event.id}>
            received <strong>{event.name}</strong>
            {event.key !== undefined && ` key ${JSON.stringify(event.key)}`} at{" "}
            <time>{formatPreciseTime(at)}</time>
            {event.data !== undefined && <div class="code-line">data {brief(event.data, 200)}</div>}
          </li>
        ))}
      </ul>
    </>
  );
}

function Children({ facts }: { facts: NodeFacts }) {
  return (
    <>
      <h4>Child instances</h4>
      <ul class="facts">
        {facts.children.map((c) => (
          <li key={c.child}>
            <Link href={instanceHref(c.child)}>{c.child}</Link>
            {c.process && ` (${c.process})`}
            {c.result && ` ${c.result.message.status} at ${formatPreciseTime(c.result.at)}`}
          </li>
        ))}
      </ul>
    </>
  );
}

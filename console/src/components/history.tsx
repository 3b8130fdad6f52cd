/**
 * An instance's history as a timeline, oldest first, a page at a time ("Load more"). While the
 * instance changes, new records are appended once the last page is shown (later ones wait behind
 * "Load more" anyway).
 */
import { useCallback, useEffect, useId, useRef, useState } from "preact/hooks";
import { api, describeError } from "../api.js";
import { commandSummary, formatPreciseTime, isoTime, messageSummary } from "../format.js";
import { useChanged } from "../hooks.js";
import { useLiveRefresh } from "../live.js";
import type { HistoryEntry } from "../node-facts.js";
import { JsonTree } from "./json-tree.js";

const PAGE = 50;

interface Timeline {
  readonly records: readonly HistoryEntry[];
  readonly next?: number;
  readonly loaded: boolean;
}

/**
 * The tail after the last step: records that share the last seq (notes written after that step on
 * AWS) are read again with it, so none of them is missed.
 */
export function tailStart(records: readonly HistoryEntry[]): { keep: HistoryEntry[]; after: number } {
  const last = records[records.length - 1]?.seq;
  if (last === undefined) return { keep: [], after: 0 };
  const keep = records.filter((r) => r.seq < last);
  return { keep, after: keep[keep.length - 1]?.seq ?? 0 };
}

function useTimeline(instanceId: string, version: string) {
  const [timeline, setTimeline] = useState<Timeline>({ records: [], loaded: false });
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const current = useRef(timeline);
  current.current = timeline;
  // Only the newest request's answer is shown: two tail loads (or another instance's) may cross.
  const latest = useRef(0);
  const load = useCallback(
    async (keep: readonly HistoryEntry[], after: number | undefined) => {
      const request = ++latest.current;
      setBusy(true);
      try {
        const page = await api.history(instanceId, after, PAGE);
        if (request !== latest.current) return;
        setTimeline({ records: [...keep, ...page.records], next: page.next, loaded: true });
        setError(undefined);
      } catch (failure) {
        if (request === latest.current) setError(describeError(failure));
      } finally {
        if (request === latest.current) setBusy(false);
      }
    },
    [instanceId],
  );
  useEffect(() => {
    setTimeline({ records: [], loaded: false });
    setError(undefined);
    void load([], undefined);
  }, [load]);
  // A first load that failed is tried again on the next poll or change event, even once the
  // instance has ended and its page no longer refreshes.
  useLiveRefresh(
    () => {
      if (!current.current.loaded && error !== undefined) void load([], undefined);
    },
    (change) => change.instance === instanceId,
  );
  useChanged(version, () => {
    const shown = current.current;
    // Not loaded yet (failed, or still on its way with what was before this step): start again.
    if (!shown.loaded) return void load([], undefined);
    if (shown.next !== undefined) return;
    const { keep, after } = tailStart(shown.records);
    void load(keep, after);
  });
  const more = () => {
    if (!busy) void load(current.current.records, current.current.next);
  };
  return { timeline, error, busy, more };
}

export function HistoryTimeline({ instanceId, version }: { instanceId: string; version: string }) {
  const { timeline, error, busy, more } = useTimeline(instanceId, version);
  const titleId = useId();
  return (
    <section class="panel" aria-labelledby={titleId}>
      <h2 id={titleId}>History</h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {!timeline.loaded && !error && <p>Loading…</p>}
      {timeline.loaded && !timeline.records.length && <p>No history yet.</p>}
      <ol class="timeline">
        {timeline.records.map((record, i) => (
          <Entry key={`${record.seq}-${i}`} record={record} />
        ))}
      </ol>
      {timeline.next !== undefined && (
        <button type="button" onClick={more} aria-disabled={busy} data-testid="history-more">
          {busy ? "Loading…" : "Load more"}
        </button>
      )}
    </section>
  );
}

function Entry({ record }: { record: HistoryEntry }) {
  const { message, commands, notes } = record;
  return (
    <li class="entry" data-testid="history-entry" data-seq={record.seq}>
      <div class="entry-head">
        <span class="seq">#{record.seq}</span>
        <time dateTime={isoTime(record.at)}>{formatPreciseTime(record.at)}</time>
        <span class={`tag type-${message.type}`}>{message.type}</span>
        <span class="summary">{messageSummary(message)}</span>
      </div>
      <div class="entry-more">
        {commands.length > 0 && (
          <details>
            <summary>
              {commands.length} command{commands.length > 1 ? "s" : ""}
            </summary>
            <ul class="entry-list">
              {commands.map((command, i) => (
                <li key={i}>{commandSummary(command)}</li>
              ))}
            </ul>
          </details>
        )}
        {notes.length > 0 && (
          <details open={notes.some((n) => n.kind === "rejected")}>
            <summary>
              {notes.length} note{notes.length > 1 ? "s" : ""}
            </summary>
            <ul class="entry-list">
              {notes.map((note, i) => (
                <li key={i}>
                  {note.kind}: {note.reason}
                  {note.node && ` (at ${note.node})`}
                </li>
              ))}
            </ul>
          </details>
        )}
        <details>
          <summary>message</summary>
          <JsonTree value={message} label="message" />
        </details>
      </div>
    </li>
  );
}

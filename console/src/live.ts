/**
 * Live updates: the embedded host's `GET /changes` event stream (read with fetch, since EventSource
 * cannot send the Authorization header), reconnected with backoff; polling every 3 s on AWS, which
 * has no stream, and while the stream is down. Listeners get each change, or a `tick` that means
 * "refetch what you show" (a poll, or a stream that came back and may have missed changes).
 */
import { useEffect, useRef } from "preact/hooks";
import type { Change } from "../../lib/api/console.js";
import { api, authHeaders, isTokenWanted, onAuthChange, wantToken } from "./api.js";

export type { Change };

export type Signal = { readonly kind: "change"; readonly change: Change } | { readonly kind: "tick" };

const POLL_MS = 3000;
const MAX_BACKOFF_MS = 30_000;
const LINGER_MS = 5000;
const SILENT_MS = 40_000;

const listeners = new Set<(signal: Signal) => void>();
let running: AbortController | undefined;
let pollTimer: number | undefined;
let closing: number | undefined;

function emit(signal: Signal): void {
  for (const listener of listeners) listener(signal);
}

function startPolling(): void {
  if (pollTimer !== undefined) return;
  pollTimer = window.setInterval(() => {
    if (!document.hidden) emit({ kind: "tick" });
  }, POLL_MS);
}

function stopPolling(): void {
  window.clearInterval(pollTimer);
  pollTimer = undefined;
}

/** Splits server-sent events out of the text read so far; returns what is left of an unfinished one. */
export function parseEvents(buffer: string, onEvent: (event: string, data: string) => void): string {
  const blocks = buffer.replace(/\r\n?/g, "\n").split("\n\n");
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (name === "event") event = value;
      else if (name === "data") data.push(value);
    }
    if (data.length) onEvent(event, data.join("\n"));
  }
  return rest;
}

function onStreamEvent(event: string, data: string): void {
  if (event !== "step") return;
  try {
    emit({ kind: "change", change: JSON.parse(data) as Change });
  } catch {
    // A malformed event is skipped; the next poll or event brings the page up to date.
  }
}

/**
 * Reads the stream until it ends or fails; resolves true when it was connected at all. A stream
 * silent for longer than SILENT_MS (the server pings every 15 s) is taken for dead: a server that
 * went away without closing it, or a proxy holding a half-open connection.
 */
async function readStream(signal: AbortSignal): Promise<boolean> {
  const connection = new AbortController();
  const stop = () => connection.abort();
  signal.addEventListener("abort", stop, { once: true });
  let watchdog = window.setTimeout(stop, SILENT_MS);
  let connected = false;
  try {
    const response = await fetch("/changes", {
      headers: { accept: "text/event-stream", ...authHeaders() },
      signal: connection.signal,
    });
    if (response.status === 401) wantToken();
    if (!response.ok || !response.body) return false;
    connected = true;
    stopPolling();
    emit({ kind: "tick" });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return true;
      window.clearTimeout(watchdog);
      watchdog = window.setTimeout(stop, SILENT_MS);
      buffer = parseEvents(buffer + value, onStreamEvent);
    }
  } catch {
    // A dropped (or silent, so aborted) connection: the caller polls until it is back.
    return connected;
  } finally {
    window.clearTimeout(watchdog);
    signal.removeEventListener("abort", stop);
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = window.setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        window.clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

async function follow(signal: AbortSignal): Promise<void> {
  const host = await api.health().then(
    (health) => health.host,
    () => "unknown",
  );
  // Unsubscribed (or a new token) while asking: an interval now would tick for no listener.
  if (signal.aborted) return;
  startPolling();
  if (host === "aws") return;
  let backoff = 1000;
  while (!signal.aborted) {
    const connected = await readStream(signal);
    if (signal.aborted) return;
    startPolling();
    backoff = connected ? 1000 : Math.min(backoff * 2, MAX_BACKOFF_MS);
    await sleep(backoff, signal);
  }
}

function subscribe(listener: (signal: Signal) => void): () => void {
  listeners.add(listener);
  if (!running) {
    running = new AbortController();
    void follow(running.signal);
  }
  window.clearTimeout(closing);
  return () => {
    listeners.delete(listener);
    if (listeners.size) return;
    // Kept a moment: moving to another page unsubscribes, then subscribes again at once.
    closing = window.setTimeout(() => {
      if (listeners.size || !running) return;
      running.abort();
      running = undefined;
      stopPolling();
    }, LINGER_MS);
  };
}

// A new token: reconnect at once with it rather than waiting out the backoff.
onAuthChange(() => {
  if (!running || isTokenWanted()) return;
  running.abort();
  running = new AbortController();
  void follow(running.signal);
});

/**
 * Calls `refresh` after changes that `matters` (all, by default) and on every tick, at most once
 * per `delayMs`: a burst of steps is one refetch, and a steady stream still refreshes.
 */
export function useLiveRefresh(
  refresh: () => void,
  matters?: (change: Change) => boolean,
  delayMs = 300,
): void {
  const latest = useRef({ refresh, matters });
  latest.current = { refresh, matters };
  useEffect(() => {
    let timer: number | undefined;
    const unsubscribe = subscribe((signal) => {
      if (signal.kind === "change" && latest.current.matters && !latest.current.matters(signal.change))
        return;
      if (timer !== undefined) return;
      timer = window.setTimeout(() => {
        timer = undefined;
        latest.current.refresh();
      }, delayMs);
    });
    return () => {
      unsubscribe();
      window.clearTimeout(timer);
    };
  }, [delayMs]);
}

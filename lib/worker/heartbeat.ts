/**
 * A task's heartbeats, as the worker sends them: `task.heartbeat()` may be called as often as a
 * handler likes (once per item of a long loop), but what goes out (a lease extension, and for an
 * action with `heartbeat` a heartbeat reply to the engine) goes at most once per interval. A call
 * inside the interval is sent at its end (with the latest details), so the engine hears of every
 * heartbeat at most one interval late: a timeout can come later than the handler's last call, never
 * earlier.
 */
import type { Json } from "../language/model.js";

export interface Heartbeats {
  /** Sends now, or at the end of the current interval when one was sent within it. */
  beat(details?: Json): Promise<void>;
  /** No more sends: the task is answered or released. */
  close(): void;
}

/**
 * The interval between sends: a quarter of the lease, and of the action's heartbeat when it has one
 * (a heartbeat every quarter leaves three to arrive before either runs out).
 */
export function heartbeatInterval(leaseSeconds: number, heartbeatSeconds?: number): number {
  const seconds = Math.min(leaseSeconds, heartbeatSeconds ?? Number.POSITIVE_INFINITY) / 4;
  return Math.max(100, Math.round(seconds * 1000));
}

export function heartbeats(
  send: (details?: Json) => Promise<void>,
  intervalMs: number,
  log: (line: string) => void,
): Heartbeats {
  let lastSent = Number.NEGATIVE_INFINITY;
  let closed = false;
  let trailing: { details?: Json } | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const flush = () => {
    timer = undefined;
    if (closed || !trailing) return;
    const { details } = trailing;
    trailing = undefined;
    lastSent = Date.now();
    send(details).catch((error: unknown) =>
      log(`docket worker: heartbeat: ${error instanceof Error ? error.message : String(error)}`),
    );
  };

  return {
    beat(details) {
      if (closed) return Promise.resolve();
      const now = Date.now();
      if (!timer && now - lastSent >= intervalMs) {
        lastSent = now;
        return send(details);
      }
      trailing = { details };
      timer ??= setTimeout(flush, Math.max(0, lastSent + intervalMs - now));
      return Promise.resolve();
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

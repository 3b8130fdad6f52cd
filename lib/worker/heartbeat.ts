/**
 * A task's heartbeats, as the worker sends them: `task.heartbeat()` may be called as often as a
 * handler likes (once per item of a long loop), but each thing it keeps alive is sent at most once
 * per its own interval: the lease (SQS visibility, the embedded lease) every quarter of the lease,
 * and for an action with `heartbeat` a heartbeat reply to the engine every quarter of that (each
 * is a step of the instance, so not every quarter of a short lease). A call inside an interval is
 * sent at its end (with the latest details), so the engine hears of every call at most one
 * interval late: a timeout can come later than the handler's last call, never earlier.
 */
import type { Json } from "../language/model.js";

export interface Heartbeats {
  /** Sends now, or at the end of the current interval; never rejects (a failed send is logged). */
  beat(details?: Json): Promise<void>;
  /** Sends no more, and waits for a send under way: the task is being answered or released. */
  close(): Promise<void>;
}

/** A quarter of `seconds`, in ms (at least 100): three more chances to arrive before it runs out. */
export const quarterOf = (seconds: number): number => Math.max(100, Math.round((seconds * 1000) / 4));

/** One throttled send: at most one per `intervalMs`, the last call of an interval sent at its end. */
export function throttled(
  send: (details?: Json) => Promise<void>,
  intervalMs: number,
  log: (line: string) => void,
): Heartbeats {
  let lastSent = Number.NEGATIVE_INFINITY;
  let closed = false;
  let trailing: { details?: Json } | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  const sendNow = (details?: Json): Promise<void> => {
    lastSent = Date.now();
    const sent = send(details).then(
      () => undefined,
      (error: unknown) => {
        log(`docket worker: heartbeat: ${error instanceof Error ? error.message : String(error)}`);
      },
    );
    inFlight = Promise.all([inFlight, sent]).then(() => undefined);
    return sent;
  };
  const flush = () => {
    timer = undefined;
    if (closed || !trailing) return;
    const { details } = trailing;
    trailing = undefined;
    void sendNow(details);
  };

  return {
    beat(details) {
      if (closed) return Promise.resolve();
      const now = Date.now();
      if (!timer && now - lastSent >= intervalMs) return sendNow(details);
      trailing = { details };
      timer ??= setTimeout(flush, Math.max(0, lastSent + intervalMs - now));
      return Promise.resolve();
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      return inFlight;
    },
  };
}

/** Several throttled sends beating together (the lease's and the engine's). */
export function together(parts: readonly Heartbeats[]): Heartbeats {
  return {
    beat: (details) => Promise.all(parts.map((part) => part.beat(details))).then(() => undefined),
    close: () => Promise.all(parts.map((part) => part.close())).then(() => undefined),
  };
}

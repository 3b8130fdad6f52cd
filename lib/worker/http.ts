/**
 * A worker's connection to the embedded engine: `docket serve`'s task API. A task is claimed with
 * a lease (`GET /tasks`, a long poll), kept with `POST /tasks/{id}/lease` (a heartbeat; 0 gives it
 * back) and answered with `POST /replies`, which also closes it: there is nothing else to
 * acknowledge. A reply the engine has already (409, a redelivered task answered twice) is done.
 */
import { DocketError } from "../errors.js";
import { MAX_MESSAGE_BYTES } from "../runtime/runtime.js";
import { MAX_TASK_LEASE_S, type WireTask } from "../runtime/wire.js";
import { type Connection, checkedLease, type Delivery } from "./worker.js";

export interface HttpConnectionOptions {
  /** `docket serve`'s URL, http://127.0.0.1:7070 by default. */
  readonly url: string;
  readonly participant: string;
  /** DOCKET_API_TOKEN, when the server has one. */
  readonly token?: string;
  /** Seconds a claimed task stays leased, and what a heartbeat extends it by; default 300. */
  readonly leaseSeconds?: number;
  /** Seconds a claim waits for a task (a stop waits for it to end); default 20, at most 60. */
  readonly waitSeconds?: number;
}

export function httpConnection(options: HttpConnectionOptions): Connection {
  const base = options.url.replace(/\/+$/, "");
  const leaseSeconds = checkedLease(
    options.leaseSeconds ?? 300,
    MAX_TASK_LEASE_S,
    "docket serve leases a task",
  );
  const headers = {
    "content-type": "application/json",
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
  };

  async function call(method: string, path: string, body?: unknown): Promise<Response> {
    const response = await fetch(`${base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status >= 400 && response.status !== 409) {
      const text = await response.text();
      throw new DocketError(
        "WorkerHttpError",
        `${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`,
      );
    }
    return response;
  }

  async function claim(wait: number): Promise<WireTask | undefined> {
    const query = new URLSearchParams({
      participant: options.participant,
      wait: String(wait),
      lease: String(leaseSeconds),
    });
    const response = await call("GET", `/tasks?${query}`);
    return response.status === 200 ? ((await response.json()) as WireTask) : undefined;
  }

  const lease = (task: WireTask, seconds: number) =>
    call("POST", `/tasks/${encodeURIComponent(task.task.id)}/lease`, { seconds }).then(() => undefined);

  function delivery(task: WireTask): Delivery {
    return {
      task,
      reply: (reply) => call("POST", "/replies", reply).then(() => undefined),
      acknowledge: async () => undefined,
      extend: (seconds) => lease(task, seconds),
      release: () => lease(task, 0),
    };
  }

  return {
    leaseSeconds,
    // docket serve takes reply fields up to its message limit (lib/runtime/runtime.ts).
    maxReplyBytes: MAX_MESSAGE_BYTES,
    async receive(max) {
      const tasks: WireTask[] = [];
      try {
        // The first claim waits for a task; the ones after it take what is there already.
        for (let wait = options.waitSeconds ?? 20; tasks.length < max; wait = 0) {
          const task = await claim(wait);
          if (!task) break;
          tasks.push(task);
        }
      } catch (error) {
        // Tasks claimed before a failure are run (their leases would hold them otherwise).
        if (!tasks.length) throw error;
      }
      return tasks.map(delivery);
    },
  };
}

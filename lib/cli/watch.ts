/**
 * `docket watch <id>`: polls GET /instances/{id} and prints a line for each change (its status,
 * each active task and what it waits for, each new incident, the fault), until the instance ends.
 * Exit 0 when it completes, 1 when it faults or is canceled, 2 on an error. A watch outlives the
 * API's bad moments: a 5xx or 429 answer, or a lost connection once the API has answered, is
 * tried again with backoff; only a 4xx answer (no such instance, not allowed) ends it.
 */
import { FINAL_STATUSES, type InstanceStatus } from "../engine/types.js";
import { DocketError } from "../errors.js";
import type { InstanceView } from "../runtime/operations.js";
import { type ApiClient, ApiError, encodeComponent } from "./connection.js";

export type Change =
  | { readonly change: "status"; readonly status: InstanceStatus; readonly paused: boolean }
  | {
      readonly change: "task";
      readonly task: string;
      readonly node: string;
      readonly attempt?: number;
      readonly wait?: string;
    }
  | {
      readonly change: "incident";
      readonly id: string;
      readonly node: string;
      readonly task: string;
      readonly code: string;
      readonly message: string;
    }
  | {
      readonly change: "fault";
      readonly id: string;
      readonly node: string;
      readonly code: string;
      readonly message: string;
    };

function taskChanges(before: InstanceView | undefined, now: InstanceView): Change[] {
  const earlier = new Map((before?.active ?? []).map((a) => [a.node, a]));
  return now.active.flatMap((active) => {
    if (active.task === undefined) return [];
    const was = earlier.get(active.node);
    if (was && was.task === active.task && was.attempt === active.attempt && was.wait === active.wait)
      return [];
    return [
      {
        change: "task" as const,
        task: active.task,
        node: active.node,
        attempt: active.attempt,
        wait: active.wait,
      },
    ];
  });
}

/** What changed from one view of an instance to the next (everything, for the first). */
export function changes(before: InstanceView | undefined, now: InstanceView): Change[] {
  const found: Change[] = [];
  if (!before || before.status !== now.status || before.paused !== now.paused)
    found.push({ change: "status", status: now.status, paused: now.paused });
  found.push(...taskChanges(before, now));
  const seen = new Set((before?.incidents ?? []).map((i) => i.id));
  for (const incident of now.incidents)
    if (!seen.has(incident.id))
      found.push({
        change: "incident",
        id: incident.id,
        node: incident.node,
        task: incident.task,
        code: incident.error.code,
        message: incident.error.message,
      });
  if (now.fault && now.fault.id !== before?.fault?.id) found.push({ change: "fault", ...now.fault });
  return found;
}

/** A change as a line of text. */
export function describeChange(change: Change): string {
  switch (change.change) {
    case "status":
      // Paused matters while it runs: a suspended instance may also wait on an incident.
      return `status ${change.status}${change.paused && !FINAL_STATUSES.includes(change.status) ? " (paused)" : ""}`;
    case "task":
      return `task ${change.task} ${change.node} attempt ${change.attempt ?? 1} waiting ${change.wait ?? "reply"}`;
    case "incident":
      return `incident ${change.id} at ${change.node}: ${change.code} ${change.message}`;
    case "fault":
      return `fault ${change.code} at ${change.node} (error id ${change.id}): ${change.message}`;
  }
}

/** Between tries after a failed poll: 0.5 s, doubling, at most 10 s. */
const FIRST_RETRY_MS = 500;
const LAST_RETRY_MS = 10_000;

/**
 * Whether a failed poll is worth another try: the API busy, failing or throttling, or the
 * connection lost. Unreachable before any answer (`answered` false) is not: the URL is wrong or
 * the server not started, better said at once than retried forever.
 */
export function transient(error: unknown, answered: boolean): boolean {
  if (error instanceof ApiError) return error.status >= 500 || error.status === 429;
  return answered && error instanceof DocketError && error.code === "Unreachable";
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The backoff of one outage; each distinct error is said once on stderr. */
class Retries {
  private delay = FIRST_RETRY_MS;
  private readonly said = new Set<string>();

  async wait(error: DocketError): Promise<void> {
    if (!this.said.has(error.message)) {
      this.said.add(error.message);
      console.error(`docket: ${error.message}; retrying in ${this.delay / 1000}s`);
    }
    await sleep(this.delay);
    this.delay = Math.min(this.delay * 2, LAST_RETRY_MS);
  }

  /** An answer came: the next outage starts over, and says its errors again. */
  reset(): void {
    this.delay = FIRST_RETRY_MS;
    this.said.clear();
  }
}

export async function watchCommand(
  api: ApiClient,
  id: string,
  options: { interval: number; json?: boolean },
): Promise<number> {
  let previous: InstanceView | undefined;
  let answered = false;
  const retries = new Retries();
  for (;;) {
    let view: InstanceView;
    try {
      view = (await api.call("GET", `/instances/${encodeComponent(id)}`)).body as InstanceView;
    } catch (error) {
      answered ||= error instanceof ApiError;
      if (!(error instanceof DocketError) || !transient(error, answered)) throw error;
      await retries.wait(error);
      continue;
    }
    answered = true;
    retries.reset();
    for (const change of changes(previous, view))
      console.log(options.json ? JSON.stringify(change) : describeChange(change));
    previous = view;
    if (FINAL_STATUSES.includes(view.status)) return view.status === "completed" ? 0 : 1;
    await sleep(options.interval * 1000);
  }
}

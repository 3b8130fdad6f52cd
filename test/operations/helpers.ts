/**
 * The operations API as an operator reaches it on a deployed engine, for tests on the emulator:
 * the router served over HTTP on a local port, a fetch client, a worker that reads docket's task
 * queue and answers into the inbox as a real participant does, listings read page by page, and a
 * long history made quickly.
 */
import type { AddressInfo } from "node:net";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { expect } from "vitest";
import { serveOperations } from "../../lib/api/http.js";
import type { AwsDeps } from "../../lib/aws/deps.js";
import { transition } from "../../lib/engine/index.js";
import type { Message } from "../../lib/engine/types.js";
import type { OperationsPort } from "../../lib/runtime/operations.js";
import { drainQueue } from "../integration/queues.js";

export interface ApiAnswer {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: a JSON body, read field by field in the tests.
  readonly body: any;
}

export type Api = (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;

/** Serves `ops` on a free localhost port; the client sends JSON and parses the JSON it gets back. */
export async function serveOnLocalhost(ops: OperationsPort): Promise<{ api: Api; close: () => void }> {
  const server = serveOperations(ops, { log: (line) => console.error(line) });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const api: Api = async (method, path, body) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const json = (response.headers.get("content-type") ?? "").includes("json");
    return { status: response.status, body: text && json ? JSON.parse(text) : text };
  };
  return { api, close: () => server.close() };
}

export interface TaskRef {
  readonly id: string;
  readonly instance: string;
  readonly node: string;
  readonly participant: string;
  readonly attempt: number;
  readonly reply_to: string;
  readonly reply_group: string;
}

export interface Task {
  readonly task: TaskRef;
  readonly fields?: Record<string, unknown>;
}

/**
 * A worker on docket's default task queue. Tests share the queue, so every task read is kept by
 * its id until the test that waits for it takes it.
 */
export class QueueWorker {
  private readonly arrived = new Map<string, Task>();

  constructor(
    private readonly sqs: SQSClient,
    private readonly queue: string,
    /** Moves messages along (the LocalRunner's tick) while no task has come. */
    private readonly tick: () => Promise<unknown>,
  ) {}

  private async read(): Promise<number> {
    const received = await drainQueue(this.sqs, this.queue);
    for (const { body } of received)
      this.arrived.set((body as unknown as Task).task.id, body as unknown as Task);
    return received.length;
  }

  private find(instance: string, participant?: string): Task | undefined {
    return [...this.arrived.values()].find(
      (t) =>
        t.task.instance === instance && (participant === undefined || t.task.participant === participant),
    );
  }

  /** The next task of an instance (of one participant), taken off the queue. */
  async take(instance: string, participant?: string): Promise<Task> {
    for (let round = 0; round < 20; round++) {
      const found = this.find(instance, participant);
      if (found) {
        this.arrived.delete(found.task.id);
        return found;
      }
      if (!(await this.read())) await this.tick();
    }
    throw new Error(`no task for ${instance}${participant ? ` (${participant})` : ""} arrived`);
  }

  /** The tasks of an instance on the queue now, left untaken (an empty list: none was sent). */
  async waiting(instance: string): Promise<Task[]> {
    while (await this.read());
    return [...this.arrived.values()].filter((t) => t.task.instance === instance);
  }

  /** Answers a task as a worker does: the reply to its reply_to, in its instance's message group. */
  async answer(
    task: Task,
    answer:
      | { status: "done"; fields?: object }
      | { status: "error"; error: { code?: string; message: string } },
  ): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: task.task.reply_to,
        MessageGroupId: task.task.reply_group,
        MessageDeduplicationId: `${task.task.id}-${Math.random().toString(36).slice(2)}`,
        MessageBody: JSON.stringify({ task: task.task, ...answer }),
      }),
    );
  }
}

export interface Summary {
  readonly id: string;
  readonly status: string;
  readonly createdAt: number;
}

/** Newest first; of two created in the same millisecond, the greater id first. */
export function listedBefore(a: Summary, b: Summary): boolean {
  return a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id > b.id);
}

/** Every instance a listing (`query`: `&status=…&process=…`) gives, `limit` a page, following `next` to the end. */
export async function pageThrough(api: Api, query: string, limit = 4): Promise<Summary[]> {
  const all: Summary[] = [];
  let after: string | undefined = "";
  for (let page = 0; after !== undefined; page++) {
    expect(page).toBeLessThan(200);
    const cursor = after ? `&after=${encodeURIComponent(after)}` : "";
    const answer = await api("GET", `/instances?limit=${limit}${query}${cursor}`);
    expect(answer.status).toBe(200);
    expect(answer.body.instances.length).toBeLessThanOrEqual(limit);
    all.push(...answer.body.instances);
    after = answer.body.next;
  }
  return all;
}

/**
 * Readings 1 to `count` for instance `id`'s await (`event.n >= count`): each one before the last
 * is a step that keeps it waiting, with no command to send. The advance loop would load the
 * instance before each (a query that moto answers in time growing with the history: minutes for
 * 2,000 steps), so these steps are made as it makes them, `transition` then the store's `save`,
 * from the state held here. The last reading goes through the advance loop itself.
 */
export async function awaitReadings(deps: AwsDeps, id: string, count: number): Promise<Message> {
  const store = deps.runtime.deps.store;
  const launched = await store.load(id);
  const definition = launched && (await deps.definitions.byHash(launched.definition));
  if (!launched || !definition) throw new Error(`instance ${id} was not launched`);
  const [node, state] = launched.snapshot.nodes.find(([, s]) => s.k === "await") ?? [];
  if (node === undefined || state?.k !== "await") throw new Error(`instance ${id} awaits nothing`);
  const reading = (n: number): Message => ({
    type: "event",
    node,
    subscription: state.subscription,
    id: `${id}-reading-${n}`,
    name: "reading",
    data: { n },
  });
  let { snapshot, version } = launched;
  for (let n = 1; n < count; n++) {
    const at = Date.now();
    const message = reading(n);
    const step = transition(definition, snapshot, message, at);
    if (step.snapshot === snapshot || step.commands.length)
      throw new Error(`reading ${n} changed nothing or sent something: ${JSON.stringify(step.notes)}`);
    const next = { snapshot: step.snapshot, outbox: [], definition: launched.definition };
    version = await store.save(next, { at, message, commands: [], notes: step.notes }, version);
    snapshot = step.snapshot;
  }
  const last = reading(count);
  expect(await deps.runtime.apply(id, last)).toBe("applied");
  return last;
}

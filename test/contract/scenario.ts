/**
 * The requests both hosts are put through by the contract tests: every operation at least once,
 * its answers and its refusals, each answer checked against openapi.yaml by the ContractClient.
 * The host has the definition `order` (ORDER) registered and `broken` rejected.
 */
import { expect } from "vitest";
import { MAX_BODY } from "../../lib/api/router.js";
import type { ContractClient } from "./client.js";
import type { Contract } from "./contract.js";

/** An action for an external worker, then an await on `paid` keyed by the instance's ref. */
export const ORDER = `context: { ref: "" }
do:
  - action: worker
  - await: { event: paid, key: context.ref, into: payment }
`;
export const BROKEN = "<process><nope/></process>";

export interface HostUnderTest {
  readonly client: ContractClient;
  /** Lets every queued message be applied. */
  settle(): Promise<void>;
  /** Registers a definition as a file dropped in the folder or bucket would be. */
  register(key: string, source: string): Promise<void>;
}

type Step = readonly [name: string, run: (host: HostUnderTest) => Promise<void>];

const launches: Step = [
  "launches instances and refuses bad launches",
  async ({ client, settle }) => {
    for (const id of ["contract-1", "contract-2"]) {
      const launched = await client.call("POST", "/instances", 202, {
        body: { process: "order", id, fields: { ref: id } },
      });
      expect(launched.body).toEqual({ id });
    }
    await client.call("POST", "/instances", 400, { body: {}, docRejects: true });
    await client.call("POST", "/instances", 400, {
      body: { process: "order", fields: [1] },
      docRejects: true,
    });
    // A misspelt field is refused, not ignored: `feilds` must not launch an instance with none.
    await client.call("POST", "/instances", 400, {
      body: { process: "order", feilds: { ref: "x" } },
      docRejects: true,
    });
    await client.call("POST", "/instances", 404, { body: { process: "nope" } });
    await client.call("POST", "/instances", 400, { raw: "{" });
    await client.call("POST", "/instances", 415, { raw: "x", contentType: "text/plain" });
    const huge = { process: "order", fields: { big: "x".repeat(MAX_BODY) } };
    await client.call("POST", "/instances", 413, { body: huge });
    await settle();
  },
];

const health: Step = [
  "answers its health and lists the definitions",
  async ({ client }) => {
    expect((await client.call("GET", "/health", 200)).body).toEqual({ ok: true, host: client.host });
    const { body } = await client.call("GET", "/definitions", 200);
    expect(body.processes.map((p: { name: string }) => p.name)).toContain("order");
    expect(body.rejected.map((r: { name: string }) => r.name)).toContain("broken");
  },
];

const listing: Step = [
  "lists instances a page at a time, and refuses bad filters",
  async ({ client }) => {
    const ids = (page: { instances: { id: string }[] }) => page.instances.map((i) => i.id);
    const all = (await client.call("GET", "/instances", 200)).body;
    expect(ids(all).sort()).toEqual(["contract-1", "contract-2"]);
    const first = (await client.call("GET", "/instances?limit=1", 200)).body;
    expect(first.next).toEqual(expect.any(String));
    const path = `/instances?limit=1&after=${encodeURIComponent(first.next)}`;
    const second = (await client.call("GET", path, 200)).body;
    expect([...ids(first), ...ids(second)].sort()).toEqual(["contract-1", "contract-2"]);
    expect(second.next).toBeUndefined();
    const running = (await client.call("GET", "/instances?status=running&process=order", 200)).body;
    expect(running.instances).toHaveLength(2);
    for (const query of ["limit=0", "limit=1001", "limit=x", "status=sleeping", "after=nope"])
      await client.call("GET", `/instances?${query}`, 400, { docRejects: true });
  },
];

const showing: Step = [
  "shows an instance with its active nodes",
  async ({ client }) => {
    const { body } = await client.call("GET", "/instances/contract-1", 200);
    expect(body).toMatchObject({ id: "contract-1", process: "order", status: "running", paused: false });
    expect(body.context).toEqual({ ref: "contract-1" });
    expect(body.active).toContainEqual(expect.objectContaining({ state: "action", wait: "reply" }));
    await client.call("GET", "/instances/ghost", 404);
  },
];

const operating: Step = [
  "operates an instance, answering 409 with the reason for a command that does not apply",
  async ({ client, settle }) => {
    const base = "/instances/contract-1";
    const refused = await client.call("POST", `${base}/resume`, 409, { body: {} });
    expect(refused.body.error).toMatchObject({
      code: "NotApplicable",
      message: expect.stringMatching(/resume/),
    });
    const paused = await client.call("POST", `${base}/pause`, 202, { body: { reason: "contract" } });
    // Answered once applied, in its place among the instance's messages.
    expect(paused.body).toEqual({ id: "contract-1", action: "pause", state: "applied" });
    await settle();
    expect((await client.call("GET", base, 200)).body.paused).toBe(true);
    await client.call("POST", `${base}/pause`, 409);
    await client.call("POST", `${base}/resume`, 202);
    await settle();
    await client.call("POST", `${base}/retry`, 409, { body: {} });
    await client.call("POST", `${base}/skip`, 400, { body: { fields: "x" }, docRejects: true });
    await client.call("POST", `${base}/explode`, 404, { body: {}, docRejects: true });
    await client.call("POST", "/instances/ghost/pause", 404, { body: {} });
    await client.call("POST", `${base}/pause`, 415, { raw: "x", contentType: "text/plain" });
    await client.call("POST", `${base}/pause`, 400, { raw: "[1]" });
    await client.call("POST", `${base}/pause`, 400, { body: { nod: "0.1" }, docRejects: true });
    await client.call("GET", `${base}/pause`, 405);
  },
];

const history: Step = [
  "pages an instance's history and draws its diagram",
  async ({ client }) => {
    const base = "/instances/contract-1";
    // History starts with the launch on both hosts, and keeps the commands refused, with why.
    const { records } = (await client.call("GET", `${base}/history`, 200)).body;
    expect(records[0].message.type).toBe("launch");
    type Entry = { message: { type: string; action: string }; notes: { kind: string }[] };
    const operator = records.filter((r: Entry) => r.message.type === "operator");
    const refused = (r: Entry) => r.notes.some((n) => n.kind === "rejected" || n.kind === "ignored");
    expect(operator.map((r: Entry) => `${r.message.action}${refused(r) ? " (refused)" : ""}`)).toEqual([
      "resume (refused)",
      "pause",
      "pause (refused)",
      "resume",
      "retry (refused)",
    ]);
    // Paged one at a time, the pages put together are the whole history (on AWS a page keeps a
    // step with the notes that share its seq, so it may hold more than `limit`).
    const paged: unknown[] = [];
    for (let after = 0, pages = 0; after >= 0 && pages <= records.length; pages++) {
      const page = (await client.call("GET", `${base}/history?after=${after}&limit=1`, 200)).body;
      paged.push(...page.records);
      after = page.next ?? -1;
    }
    expect(paged).toEqual(records);
    for (const query of ["after=-1", "limit=0", "limit=1001"])
      await client.call("GET", `${base}/history?${query}`, 400, { docRejects: true });
    await client.call("GET", "/instances/ghost/history", 404);
    expect((await client.call("GET", `${base}/diagram`, 200)).body).toMatch(/^flowchart/m);
    await client.call("GET", "/instances/ghost/diagram", 404);
    const graph = (await client.call("GET", `${base}/graph`, 200)).body;
    expect(graph.nodes.map((n: { label: string }) => n.label)).toEqual([
      "process",
      "action: worker",
      "await: paid",
    ]);
    expect(graph.states).toEqual({ "0": "active", "0.0": "waiting" });
    await client.call("GET", "/instances/ghost/graph", 404);
  },
];

const consoleReads: Step = [
  "counts instances per status and shows a definition's source and graph",
  async ({ client }) => {
    const { body } = await client.call("GET", "/counts?process=order", 200);
    expect(body).toEqual({
      counts: { running: 2, suspended: 0, completed: 0, faulted: 0, canceled: 0 },
      capped: [],
    });
    expect((await client.call("GET", "/counts?process=nope", 200)).body.counts.running).toBe(0);
    const latest = (await client.call("GET", "/definitions/order/versions/latest", 200)).body;
    expect(latest).toMatchObject({ name: "order", source: ORDER });
    expect(latest.graph.edges).toContainEqual({ from: "0.0", to: "0.1" });
    const byPrefix = await client.call("GET", `/definitions/order/versions/${latest.hash.slice(0, 8)}`, 200);
    expect(byPrefix.body.hash).toBe(latest.hash);
    await client.call("GET", "/definitions/order/versions/ffffffffffff", 404);
    await client.call("GET", "/definitions/nope/versions/latest", 404);
  },
];

const events: Step = [
  "publishes events in docket's form and bureaucrat's, and refuses bad ones",
  async ({ client, settle }) => {
    const published = await client.call("POST", "/events", 202, {
      body: { name: "paid", key: "contract-1", data: { amount: 5 } },
    });
    expect(published.body).toEqual({ id: expect.any(String) });
    await client.call("POST", "/events", 202, { body: { event: "paid", key: "elsewhere", amount: 1 } });
    await client.call("POST", "/events", 400, { body: { key: "k" }, docRejects: true });
    await client.call("POST", "/events", 400, { body: { name: "paid", key: {} }, docRejects: true });
    await client.call("POST", "/events", 400, { raw: "[1]" });
    await client.call("POST", "/events", 415, { raw: "x", contentType: "text/plain" });
    await settle();
  },
];

const deleting: Step = [
  "deletes a finished instance only",
  async ({ client, settle }) => {
    const deleted = await client.call("DELETE", "/instances/contract-2", 409);
    expect(deleted.body.error.message).toMatch(/cancel it before deleting it/);
    await client.call("POST", "/instances/contract-2/cancel", 202, { body: { reason: "contract" } });
    await settle();
    expect((await client.call("GET", "/instances/contract-2", 200)).body.status).toBe("canceled");
    await client.call("POST", "/instances/contract-2/cancel", 409, { body: {} });
    await client.call("DELETE", "/instances/contract-2", 204);
    await client.call("GET", "/instances/contract-2", 404);
    await client.call("DELETE", "/instances/ghost", 404);
  },
];

/** Versions of `order` after ORDER: contract-1 stays pinned to ORDER's. */
const NEXT = `${ORDER}# next\n`;
const THIRD = `${ORDER}# third\n`;

const versions: Step = [
  "lists versions with their pins, moves latest back, and deletes only a version nothing pins",
  async ({ client, register }) => {
    type Version = { hash: string; pinned: number; unfinished: number; capped: boolean };
    const order = async () => {
      const { body } = await client.call("GET", "/definitions?process=order", 200);
      expect(body.processes).toHaveLength(1);
      return body.processes[0] as { hash: string; registered: string; versions: Version[] };
    };
    const first = (await order()).hash;
    await register("order.yaml", NEXT);
    const listed = await order();
    const next = listed.hash;
    expect(listed.versions.map((v) => [v.hash, v.pinned, v.capped])).toEqual([
      [next, 0, false],
      [first, 1, false],
    ]);
    const broken = (await client.call("GET", "/definitions?process=broken", 200)).body;
    expect(broken).toEqual({ processes: [], rejected: [expect.objectContaining({ name: "broken" })] });

    const moved = await client.call("PUT", "/definitions/order/latest", 200, {
      body: { version: first.slice(0, 6) },
    });
    expect(moved.body).toEqual({ name: "order", hash: first, previous: next });
    // The same source again (a restart, a redeploy) leaves the rollback in place.
    await register("order.yaml", NEXT);
    expect(await order()).toMatchObject({ hash: first, registered: next });

    const latest = await client.call("DELETE", `/definitions/order/versions/${first}`, 409);
    expect(latest.body.error.message).toMatch(/is the latest of order/);
    await client.call("DELETE", `/definitions/order/versions/${next.slice(0, 8)}`, 204);
    expect((await order()).versions.map((v) => v.hash)).toEqual([first]);
    await client.call("GET", `/definitions/order/versions/${next}`, 404);
    await register("order.yaml", THIRD);
    const pinned = await client.call("DELETE", `/definitions/order/versions/${first}`, 409);
    expect(pinned.body.error.message).toMatch(/is pinned by 1 instance \([01] unfinished\)/);

    await client.call("PUT", "/definitions/order/latest", 404, { body: { version: "ffffffffffff" } });
    await client.call("PUT", "/definitions/nope/latest", 404, { body: { version: first } });
    await client.call("DELETE", "/definitions/nope/versions/latest", 404);
    await client.call("PUT", "/definitions/order/latest", 400, { body: {}, docRejects: true });
    await client.call("PUT", "/definitions/order/latest", 400, { body: { version: 1 }, docRejects: true });
    await client.call("PUT", "/definitions/order/latest", 400, { body: { vresion: "x" }, docRejects: true });
    await client.call("PUT", "/definitions/order/latest", 415, { raw: "x", contentType: "text/plain" });
    await client.call("GET", "/definitions/order/latest", 405);
  },
];

/** ORDER with an audit after its await: the worker's action stays where it was. */
const AUDITED = `${ORDER}  - action: audit\n`;
/** ORDER with the worker's action given to another participant: not the same activity. */
const REASSIGNED = ORDER.replace("action: worker", "action: clerk");

const migrations: Step = [
  "migrates an instance to another version, plans it, refuses what cannot move, and pages a batch",
  async ({ client, register, settle }) => {
    await client.call("POST", "/instances", 202, {
      body: { process: "order", id: "mig-1", fields: { ref: "m" } },
    });
    await settle();
    await register("order.yaml", AUDITED);
    const audited = (await client.call("GET", "/definitions/order/versions/latest", 200)).body.hash as string;
    const planned = await client.call("POST", "/instances/mig-1/migrate", 200, {
      body: { to: audited.slice(0, 10), dryRun: true },
    });
    expect(planned.body).toMatchObject({ instance: "mig-1", to: audited, state: "planned", problems: [] });
    const applied = await client.call("POST", "/instances/mig-1/migrate", 200, { body: { to: "latest" } });
    expect(applied.body.state).toBe("applied");
    expect((await client.call("GET", "/instances/mig-1", 200)).body.version).toBe(audited);

    await register("order.yaml", REASSIGNED);
    const blocked = await client.call("POST", "/instances/mig-1/migrate", 200, {
      body: { to: "latest", dryRun: true },
    });
    expect(blocked.body.state).toBe("blocked");
    expect(blocked.body.problems.join()).toMatch(/0\.0 \(action\) has no counterpart in the new version/);
    const refused = await client.call("POST", "/instances/mig-1/migrate", 409, { body: { to: "latest" } });
    expect(refused.body.error.message).toMatch(/cannot migrate/);
    expect(refused.body.error.report).toMatchObject({ instance: "mig-1", state: "blocked", from: audited });
    const batch = await client.call("POST", "/migrations", 200, {
      body: { process: "order", to: "latest", map: { "0.0": "0.0" }, dryRun: true, limit: 5 },
    });
    expect(batch.body.counts).toMatchObject({ planned: expect.any(Number), blocked: expect.any(Number) });

    await client.call("POST", "/instances/mig-1/migrate", 400, { body: {}, docRejects: true });
    await client.call("POST", "/instances/mig-1/migrate", 400, {
      body: { to: "latest", dryRun: "yes" },
      docRejects: true,
    });
    await client.call("POST", "/instances/nope/migrate", 404, { body: { to: "latest" } });
    await client.call("POST", "/migrations", 400, {
      body: { process: "order", to: "latest", limit: 0 },
      docRejects: true,
    });
    await client.call("POST", "/migrations", 404, { body: { process: "order", to: "ffffffffffff" } });
  },
];

/** A process launched on new year's day: listed with its fire times, and never fired in a test. */
const YEARLY = `schedule: "@yearly"
do:
  - assign: { property: ran, value: "true" }
`;

const schedules: Step = [
  "lists the schedules in force with their next fire times",
  async ({ client, register, settle }) => {
    await register("yearly.yaml", YEARLY);
    // The AWS sweep (run by settle) brings the schedules in line; embedded, the listing does.
    await settle();
    const { body } = await client.call("GET", "/schedules?count=2", 200);
    const yearly = body.schedules.find((s: { name: string }) => s.name === "yearly");
    expect(yearly).toMatchObject({
      process: "yearly",
      cron: "@yearly",
      timezone: "UTC",
      overlap: "skip",
      catchup: "once",
      origin: "definition",
    });
    const next = new Date().getUTCFullYear() + 1;
    expect(yearly.next).toEqual([Date.UTC(next, 0, 1), Date.UTC(next + 1, 0, 1)]);
    for (const query of ["count=0", "count=101", "count=x"])
      await client.call("GET", `/schedules?${query}`, 400, { docRejects: true });
  },
];

const unrouted: Step = [
  "answers 404 for a path it does not have and 405 for a method a path does not take",
  async ({ client }) => {
    await client.call("PUT", "/instances", 405, { body: {} });
    await client.call("PATCH", "/instances/contract-1", 405);
    await client.call("DELETE", "/events", 405);
    await client.call("GET", "/nowhere", 404);
    await client.call("GET", "/instances/a/b/c", 404);
  },
];

/** The steps in order (each leaves the state the next expects); `tasks` is the host's own step. */
export function contractSteps(tasks: Step, after: Step[] = []): Step[] {
  return [
    health,
    launches,
    listing,
    showing,
    operating,
    history,
    consoleReads,
    tasks,
    events,
    deleting,
    unrouted,
    versions,
    migrations,
    schedules,
    ...after,
  ];
}

/** Every operation of the document was exercised by the client. */
export function expectEveryOperation(contract: Contract, client: ContractClient): void {
  const operations = contract.operations.map((op) => op.operationId).sort();
  expect([...client.exercised.keys()].sort()).toEqual(operations);
}

export type { Step };

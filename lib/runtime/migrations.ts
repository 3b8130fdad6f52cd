/**
 * `docket migrate` on either host: one instance, or a process's instances on a version a page at a
 * time. A dry run plans each (engine/migrate.ts) and changes nothing; otherwise each instance that
 * can move gets a migrate message in its inbox, applied in its place among its messages (planned
 * again there, as the instance may have moved on) and kept in its history.
 */
import { migrate } from "../engine/migrate.js";
import { FINAL_STATUSES, type InstanceStatus, type MigrateMessage } from "../engine/types.js";
import { EngineError, MessageError } from "../errors.js";
import { type DefinitionStore, type InstanceStore, listCursor } from "../ports.js";
import { refusals } from "./applied.js";

export interface MigrateRequest {
  /** A version of the instance's process: a hash, a prefix of one, or "latest". */
  readonly to: string;
  /** Explicit mappings old=new (stable ids or paths), for what moved or was renamed. */
  readonly map?: Readonly<Record<string, string>>;
  readonly dryRun?: boolean;
}

export interface MigrationReport {
  readonly instance: string;
  readonly from: string;
  readonly to: string;
  /** planned: a dry run that would move; applied; queued (not applied within the wait); blocked. */
  readonly state: "planned" | "applied" | "queued" | "blocked";
  readonly moves: readonly { readonly from: string; readonly to: string; readonly kind: string }[];
  readonly added: readonly string[];
  readonly problems: readonly string[];
}

export interface BatchMigrateRequest extends MigrateRequest {
  readonly process: string;
  /** Only instances on this version (a hash or a prefix); default every version but `to`. */
  readonly from?: string;
  readonly after?: string;
  /** Instances read per page (running and suspended ones, newest first); default 50, at most 200. */
  readonly limit?: number;
}

export interface BatchMigration {
  readonly results: readonly MigrationReport[];
  readonly counts: Readonly<Record<MigrationReport["state"], number>>;
  /** Pass as `after` for the next page; absent on the last. */
  readonly next?: string;
}

export interface MigrationDeps {
  readonly store: InstanceStore;
  readonly definitions: DefinitionStore;
  enqueue(instance: string, message: MigrateMessage): Promise<void>;
  readonly waitMs?: number;
}

function checkRequest(request: MigrateRequest): void {
  const problems = [];
  if (typeof request.to !== "string" || request.to === "")
    problems.push({
      path: "to",
      message: "must name the version to migrate to (a hash, a prefix, or latest)",
    });
  for (const [key, value] of Object.entries(request.map ?? {}))
    if (typeof value !== "string" || value === "")
      problems.push({ path: `map.${key}`, message: "must be a non-empty string" });
  if (problems.length) throw new MessageError(problems);
}

async function target(deps: MigrationDeps, process: string, to: string) {
  const resolved = await deps.definitions.resolve(process, to === "latest" ? undefined : to);
  if (!resolved) throw new EngineError("UnknownDefinition", `process ${process} has no version ${to}`);
  return resolved;
}

type Queued = { readonly report: MigrationReport; readonly message?: MigrateMessage };

/** Plans one instance's migration and, unless a dry run or blocked, queues it (not waiting). */
async function planAndQueue(deps: MigrationDeps, id: string, request: MigrateRequest): Promise<Queued> {
  checkRequest(request);
  const stored = await deps.store.load(id);
  if (!stored) throw new EngineError("NoInstance", `no instance ${id}`);
  const from = await deps.definitions.byHash(stored.definition);
  if (!from)
    throw new EngineError("UnknownDefinition", `definition ${stored.definition} of ${id} is not stored`);
  const to = await target(deps, from.name, request.to);
  const base = { instance: id, from: stored.definition, to: to.hash };
  if (to.hash === stored.definition) {
    const problem = `instance ${id} is on version ${to.hash.slice(0, 12)} already`;
    return { report: { ...base, state: "blocked", moves: [], added: [], problems: [problem] } };
  }
  const { plan } = migrate(stored.snapshot, from, to.definition, to.hash, request.map);
  const report = { ...base, moves: plan.moves, added: plan.added, problems: plan.problems };
  if (plan.problems.length) return { report: { ...report, state: "blocked" } };
  if (request.dryRun) return { report: { ...report, state: "planned" } };
  const message: MigrateMessage = {
    type: "migrate",
    to: to.hash,
    from: stored.definition,
    ...(request.map ? { map: request.map } : {}),
    id: crypto.randomUUID(),
  };
  await deps.enqueue(id, message);
  return { report: { ...report, state: "queued" }, message };
}

/** Plans and, unless a dry run, queues the migration of one instance and waits for it. */
export async function migrateInstance(
  deps: MigrationDeps,
  id: string,
  request: MigrateRequest,
): Promise<MigrationReport> {
  const [done] = await settled(deps, [await planAndQueue(deps, id, request)]);
  return done as MigrationReport;
}

/**
 * What each queued migration came to, read back from its instance's history: applied, refused
 * (blocked, with why), or still queued when the one wait for them all is over.
 */
async function settled(deps: MigrationDeps, queued: readonly Queued[]): Promise<MigrationReport[]> {
  const reports = queued.map((q) => q.report);
  const waiting = new Map(queued.flatMap((q, i) => (q.message ? [[i, q.message] as const] : [])));
  const deadline = Date.now() + (deps.waitMs ?? 5000);
  for (let pause = 20; waiting.size; pause = Math.min(pause * 2, 500)) {
    for (const [i, message] of waiting) {
      const report = reports[i] as MigrationReport;
      const refused = await refusals(deps.store, report.instance, "migrate", message.id as string);
      if (!refused) continue;
      reports[i] = refused.length
        ? { ...report, state: "blocked", problems: [...refused] }
        : { ...report, state: "applied" };
      waiting.delete(i);
    }
    if (!waiting.size || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
  return reports;
}

const UNFINISHED: readonly InstanceStatus[] = ["running", "suspended"];

/** One page of a process's unfinished instances, each planned or migrated as `migrateInstance` does. */
export async function migrateInstances(
  deps: MigrationDeps,
  request: BatchMigrateRequest,
): Promise<BatchMigration> {
  checkRequest(request);
  const limit = Math.min(Math.max(request.limit ?? 50, 1), 200);
  const to = await target(deps, request.process, request.to);
  const from = request.from === undefined ? undefined : await target(deps, request.process, request.from);
  // Newest first across both statuses: each listed a page ahead, merged by the listing's order.
  const pages = await Promise.all(
    UNFINISHED.map((status) =>
      deps.store.list({ process: request.process, status, limit, after: request.after }),
    ),
  );
  const page = pages
    .flat()
    .sort((a, b) => (listCursor(a) < listCursor(b) ? 1 : -1))
    .slice(0, limit);
  const queued: Queued[] = [];
  const seen = new Set<string>();
  for (const summary of page) {
    // An instance whose status changed between the two listings is listed twice.
    if (FINAL_STATUSES.includes(summary.status) || seen.has(summary.id)) continue;
    seen.add(summary.id);
    const stored = await deps.store.load(summary.id);
    if (!stored || stored.definition === to.hash) continue;
    if (from && stored.definition !== from.hash) continue;
    queued.push(await planAndQueue(deps, summary.id, { ...request, to: to.hash }));
  }
  // Queued all at once and waited for once: a page answers within the API's time, however long.
  const results = await settled(deps, queued);
  const counts = { planned: 0, applied: 0, queued: 0, blocked: 0 };
  for (const result of results) counts[result.state] += 1;
  const last = page[page.length - 1];
  return { results, counts, ...(page.length === limit && last ? { next: listCursor(last) } : {}) };
}

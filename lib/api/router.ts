/**
 * The HTTP API, once for both hosts: a table of routes over the operations port, each named by its
 * operationId in openapi.yaml (the contract test checks both against each other). Transports adapt
 * their requests to `ApiRequest` (lib/api/http.ts for `docket serve` and `docket local`,
 * lib/aws/api.ts for API Gateway). Every error is JSON `{ error: { code, message, problems? } }`
 * with a 4xx status, and changes nothing.
 */
import type { InstanceStatus, OperatorAction } from "../engine/types.js";
import { ConflictError, DocketError, InfrastructureError, MessageError } from "../errors.js";
import type { JsonObject } from "../language/model.js";
import { publishedEvent } from "../runtime/events.js";
import {
  MAX_PAGE,
  NotApplicableError,
  OPERATOR_ACTIONS,
  type OperationsPort,
  STATUSES,
} from "../runtime/operations.js";
import { MAX_TASK_LEASE_S } from "../runtime/wire.js";

/** The largest request body taken, in bytes. */
export const MAX_BODY = 1024 * 1024;

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly contentType?: string;
  /** The body as text ("" when there is none); transports refuse one over MAX_BODY with HttpError 413. */
  readonly body: string;
  /** Aborted when the client goes away (a long-poll stops waiting). */
  readonly signal?: AbortSignal;
}

export interface ApiResponse {
  readonly status: number;
  /** JSON, or text (a diagram); absent for 204. */
  readonly body?: unknown;
}

export class HttpError extends DocketError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}

type Handler = (ops: OperationsPort, request: ApiRequest, params: string[]) => Promise<ApiResponse>;

interface Route {
  readonly method: string;
  /** The path as openapi.yaml writes it: `/instances/{id}`. */
  readonly path: string;
  readonly operationId: string;
  readonly handler: Handler;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

function json(request: ApiRequest): Record<string, unknown> {
  if (!/^application\/json\b/.test(request.contentType ?? "application/json"))
    throw new HttpError(415, "UnsupportedMediaType", "send JSON (content-type: application/json)");
  if (!request.body.trim()) return {};
  let value: unknown;
  try {
    value = JSON.parse(request.body);
  } catch (error) {
    throw new HttpError(400, "BadJson", `the body is not JSON: ${(error as Error).message}`);
  }
  if (!isObject(value)) throw new HttpError(400, "BadJson", "the body must be a JSON object");
  return value;
}

/** Refuses fields the request does not know: a misspelt `feilds` must not launch with no fields. */
function only(data: Record<string, unknown>, known: readonly string[]): Record<string, unknown> {
  const unknown = Object.keys(data).filter((key) => !known.includes(key));
  if (unknown.length)
    throw new HttpError(
      400,
      "BadRequest",
      `unknown field${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => JSON.stringify(k)).join(", ")}; known: ${known.join(", ")}`,
    );
  return data;
}

function field<T>(data: Record<string, unknown>, name: string, type: "string" | "object"): T | undefined {
  const value = data[name];
  if (value === undefined) return undefined;
  const ok = type === "object" ? isObject(value) : typeof value === "string" && value !== "";
  if (!ok)
    throw new HttpError(
      400,
      "BadRequest",
      `${name} must be ${type === "object" ? "a JSON object" : "a non-empty string"}, got ${JSON.stringify(value)?.slice(0, 80)}`,
    );
  return value as T;
}

function required<T>(data: Record<string, unknown>, name: string, type: "string" | "object"): T {
  const value = field<T>(data, name, type);
  if (value === undefined) throw new HttpError(400, "BadRequest", `${name} is required`);
  return value;
}

/** A whole number from the query, between `min` and `max`; `fallback` when absent. */
function whole(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  const value = raw === null || raw === "" ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new HttpError(
      400,
      "BadRequest",
      `${name} must be a whole number from ${min} to ${max}, got ${raw}`,
    );
  return value;
}

/** A path's id, decoded (API Gateway hands paths decoded already; ids hold nothing to decode, see ids.ts). */
function id(params: string[]): string {
  try {
    return decodeURIComponent(params[0] ?? "");
  } catch {
    throw new HttpError(400, "BadRequest", `the path's id is not URL-encoded correctly: ${params[0]}`);
  }
}

const launch: Handler = async (ops, request) => {
  const data = only(json(request), ["process", "version", "fields", "id"]);
  const instance = await ops.launch({
    process: required<string>(data, "process", "string"),
    version: field<string>(data, "version", "string"),
    fields: field<JsonObject>(data, "fields", "object"),
    id: field<string>(data, "id", "string"),
  });
  return { status: 202, body: { id: instance } };
};

const list: Handler = async (ops, { query }) => {
  const status = query.get("status") || undefined;
  if (status && !STATUSES.includes(status as InstanceStatus))
    throw new HttpError(
      400,
      "BadRequest",
      `status must be one of ${STATUSES.join(", ")}, got ${JSON.stringify(status)}`,
    );
  const after = query.get("after") || undefined;
  if (after && !/^\d{15}#./.test(after))
    throw new HttpError(
      400,
      "BadRequest",
      `after must be a listing's next cursor, got ${JSON.stringify(after)}`,
    );
  const page = await ops.list({
    status: status as InstanceStatus | undefined,
    process: query.get("process") || undefined,
    limit: whole(query, "limit", 100, 1, MAX_PAGE),
    after,
  });
  return { status: 200, body: page };
};

const show: Handler = async (ops, _request, params) => ({ status: 200, body: await ops.show(id(params)) });

const history: Handler = async (ops, { query }, params) => ({
  status: 200,
  body: await ops.history(id(params), {
    after: whole(query, "after", 0, 0, Number.MAX_SAFE_INTEGER),
    limit: whole(query, "limit", 100, 1, MAX_PAGE),
  }),
});

const instanceDiagram: Handler = async (ops, _request, params) => ({
  status: 200,
  body: await ops.diagram(id(params)),
});

const instanceGraph: Handler = async (ops, _request, params) => ({
  status: 200,
  body: await ops.graph(id(params)),
});

const showDefinition: Handler = async (ops, _request, params) => {
  const [name = "", version = ""] = params.map((param) => id([param]));
  return { status: 200, body: await ops.definition(name, version) };
};

const listDefinitions: Handler = async (ops, { query }) => ({
  status: 200,
  body: await ops.definitions({ process: query.get("process") || undefined }),
});

/** The path's process name and version, decoded. */
const nameAndVersion = (params: string[]) => params.map((param) => id([param])) as [string, string];

/** A rollback (or a move forward): `latest` of the process becomes the version given. */
const setLatest: Handler = async (ops, request, params) => {
  const data = only(json(request), ["version"]);
  const version = required<string>(data, "version", "string");
  return { status: 200, body: await ops.setLatest(id(params), version) };
};

const deleteVersion: Handler = async (ops, _request, params) => {
  await ops.deleteVersion(...nameAndVersion(params));
  return { status: 204 };
};

/** The schedules in force with their next `count` fire times (1 to 100, default 3). */
const schedules: Handler = async (ops, { query }) => ({
  status: 200,
  body: await ops.schedules(whole(query, "count", 3, 1, 100)),
});

const counts: Handler = async (ops, { query }) => ({
  status: 200,
  body: await ops.counts({ process: query.get("process") || undefined }),
});

const operate: Handler = async (ops, request, params) => {
  const action = params[1] as OperatorAction;
  if (!OPERATOR_ACTIONS.includes(action))
    throw new HttpError(404, "NoRoute", `no operation "${action}"; allowed: ${OPERATOR_ACTIONS.join(", ")}`);
  const data = only(json(request), ["node", "fields", "reason"]);
  const instance = id(params);
  const outcome = await ops.operate(instance, action, {
    node: field<string>(data, "node", "string"),
    fields: field<JsonObject>(data, "fields", "object"),
    reason: field<string>(data, "reason", "string"),
  });
  return { status: 202, body: outcome };
};

/** A JSON body's boolean, false when absent. */
function flag(data: Record<string, unknown>, name: string): boolean {
  const value = data[name];
  if (value !== undefined && typeof value !== "boolean")
    throw new HttpError(400, "BadRequest", `${name} must be true or false, got ${JSON.stringify(value)}`);
  return value === true;
}

/** The body of a migration: the version, the explicit mappings, whether it is a dry run. */
function migrateBody(data: Record<string, unknown>) {
  const map = field<Record<string, string>>(data, "map", "object");
  return {
    to: required<string>(data, "to", "string"),
    ...(map ? { map } : {}),
    dryRun: flag(data, "dryRun"),
  };
}

/** 200 with the report (a dry run's, blocked or not, and an applied one), 202 queued, 409 blocked. */
const migrateOne: Handler = async (ops, request, params) => {
  const body = migrateBody(only(json(request), ["to", "map", "dryRun"]));
  const report = await ops.migrate(id(params), body);
  if (report.state === "blocked" && !body.dryRun)
    throw new NotApplicableError(
      `instance ${report.instance} cannot migrate: ${report.problems.join("; ")}`,
      report,
    );
  return { status: report.state === "queued" ? 202 : 200, body: report };
};

const migrateMany: Handler = async (ops, request) => {
  const data = only(json(request), ["process", "from", "to", "map", "dryRun", "after", "limit"]);
  const limit = data.limit;
  if (limit !== undefined && (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > 200))
    throw new HttpError(
      400,
      "BadRequest",
      `limit must be a whole number from 1 to 200, got ${JSON.stringify(limit)}`,
    );
  const body = {
    ...migrateBody(data),
    process: required<string>(data, "process", "string"),
    from: field<string>(data, "from", "string"),
    after: field<string>(data, "after", "string"),
    limit: limit as number | undefined,
  };
  return { status: 200, body: await ops.migrateMany(body) };
};

const remove: Handler = async (ops, _request, params) => {
  await ops.remove(id(params));
  return { status: 204 };
};

const publish: Handler = async (ops, request) => {
  const data = json(request);
  // bureaucrat's events are { "event": name, key?, …data }; docket's { "name", "key"?, "data"?, "id"? }.
  const bureaucrat = data.event !== undefined && data.name === undefined;
  required<string>(data, bureaucrat ? "event" : "name", "string");
  // The one rule both hosts read an event by (the AWS ingest function too).
  return { status: 202, body: { id: await ops.publish(publishedEvent(data)) } };
};

function taskPort(ops: OperationsPort) {
  if (!ops.tasks)
    throw new HttpError(
      404,
      "NoRoute",
      `tasks are not served over HTTP on ${ops.host}: workers read their participant's SQS queue and reply to the inbox`,
    );
  return ops.tasks;
}

const claim: Handler = async (ops, { query, signal }) => {
  const tasks = taskPort(ops);
  const participant = query.get("participant");
  if (!participant) throw new HttpError(400, "BadRequest", "participant is required (?participant=name)");
  const wait = whole(query, "wait", 20, 0, 60);
  const lease = whole(query, "lease", 300, 1, MAX_TASK_LEASE_S);
  const task = await tasks.claim(participant, wait * 1000, lease * 1000, signal);
  return task === undefined ? { status: 204 } : { status: 200, body: task };
};

const reply: Handler = async (ops, request) => {
  const tasks = taskPort(ops);
  // The reply's own fields only: a misspelt one (`feilds`) would otherwise answer the task with nothing.
  await tasks.reply(only(json(request), ["docket", "task", "status", "fields", "error", "details"]));
  return { status: 202, body: { accepted: true } };
};

const leaseTask: Handler = async (ops, request, params) => {
  const tasks = taskPort(ops);
  const data = only(json(request), ["seconds"]);
  const seconds = data.seconds;
  if (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds < 0 || seconds > MAX_TASK_LEASE_S)
    throw new HttpError(
      400,
      "BadRequest",
      `seconds must be a whole number from 0 to ${MAX_TASK_LEASE_S}, got ${JSON.stringify(seconds)}`,
    );
  const task = id(params);
  return { status: 200, body: { task, leasedUntil: await tasks.lease(task, seconds) } };
};

export const ROUTES: readonly Route[] = [
  {
    method: "GET",
    path: "/health",
    operationId: "health",
    handler: async (ops) => ({ status: 200, body: { ok: true, host: ops.host } }),
  },
  { method: "GET", path: "/definitions", operationId: "listDefinitions", handler: listDefinitions },
  {
    method: "GET",
    path: "/definitions/{name}/versions/{version}",
    operationId: "showDefinition",
    handler: showDefinition,
  },
  {
    method: "DELETE",
    path: "/definitions/{name}/versions/{version}",
    operationId: "deleteDefinitionVersion",
    handler: deleteVersion,
  },
  { method: "PUT", path: "/definitions/{name}/latest", operationId: "setLatestVersion", handler: setLatest },
  { method: "GET", path: "/counts", operationId: "countInstances", handler: counts },
  { method: "GET", path: "/schedules", operationId: "listSchedules", handler: schedules },
  { method: "POST", path: "/instances", operationId: "launch", handler: launch },
  { method: "GET", path: "/instances", operationId: "listInstances", handler: list },
  { method: "GET", path: "/instances/{id}", operationId: "showInstance", handler: show },
  { method: "DELETE", path: "/instances/{id}", operationId: "deleteInstance", handler: remove },
  { method: "GET", path: "/instances/{id}/history", operationId: "history", handler: history },
  { method: "GET", path: "/instances/{id}/diagram", operationId: "diagram", handler: instanceDiagram },
  { method: "GET", path: "/instances/{id}/graph", operationId: "graph", handler: instanceGraph },
  // Before the operator commands' route, which would take "migrate" for an action.
  { method: "POST", path: "/instances/{id}/migrate", operationId: "migrateInstance", handler: migrateOne },
  { method: "POST", path: "/instances/{id}/{action}", operationId: "operate", handler: operate },
  { method: "POST", path: "/migrations", operationId: "migrateInstances", handler: migrateMany },
  { method: "POST", path: "/events", operationId: "publish", handler: publish },
  { method: "GET", path: "/tasks", operationId: "claimTask", handler: claim },
  { method: "POST", path: "/tasks/{id}/lease", operationId: "leaseTask", handler: leaseTask },
  { method: "POST", path: "/replies", operationId: "reply", handler: reply },
];

const patterns = ROUTES.map((route) => new RegExp(`^${route.path.replace(/\{[^}]+\}/g, "([^/]+)")}$`));

function statusOf(error: DocketError): number {
  if (error instanceof HttpError) return error.status;
  if (error instanceof NotApplicableError || error instanceof ConflictError) return 409;
  if (error instanceof MessageError || error.code === "UsageError") return 400;
  if (["NoInstance", "NoTask", "UnknownProcess", "UnknownDefinition"].includes(error.code)) return 404;
  if (error.code === "TaskClosed") return 409;
  return 400;
}

/** The error answer for a DocketError: its code, message and problems. */
export function errorResponse(error: DocketError): ApiResponse {
  const problems = error instanceof MessageError ? error.problems : undefined;
  const report = error instanceof NotApplicableError ? error.report : undefined;
  const details = { ...(problems ? { problems } : {}), ...(report ? { report } : {}) };
  return {
    status: statusOf(error),
    body: { error: { code: error.code, message: error.message, ...details } },
  };
}

/**
 * The answer to a failure that is not the client's: the store, a queue or a bucket failed
 * (InfrastructureError: 503, worth retrying) or a bug (500). Transports log the error first; the
 * answer says no more than that, since internal messages name resources.
 */
export function failureResponse(error: unknown): ApiResponse {
  return error instanceof InfrastructureError
    ? {
        status: 503,
        body: {
          error: { code: "Unavailable", message: "the engine's store or queues failed (logged); retry" },
        },
      }
    : { status: 500, body: { error: { code: "Internal", message: "internal error (logged)" } } };
}

/**
 * Answers one request. A DocketError is a 4xx answer; anything else (an InfrastructureError
 * included) is thrown for the transport to log and answer with `failureResponse`.
 */
export async function route(ops: OperationsPort, request: ApiRequest): Promise<ApiResponse> {
  const matching = ROUTES.flatMap((r, i) => {
    const match = patterns[i]?.exec(request.path);
    return match ? [{ route: r, params: match.slice(1) }] : [];
  });
  const found = matching.find((m) => m.route.method === request.method);
  if (!found)
    return errorResponse(
      new HttpError(
        matching.length ? 405 : 404,
        matching.length ? "MethodNotAllowed" : "NoRoute",
        `${request.method} ${request.path} is not part of the API`,
      ),
    );
  try {
    return await found.route.handler(ops, request, found.params);
  } catch (error) {
    if (error instanceof DocketError && !(error instanceof InfrastructureError)) return errorResponse(error);
    throw error;
  }
}

/**
 * The HTTP API of `docket serve`: launch, publish, list/show instances, history, diagrams,
 * operator commands, and the task long-poll and replies for external workers. Every error is JSON
 * `{ error: { code, message, problems? } }` with a 4xx status, and changes nothing.
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { InstanceStatus, OperatorAction } from "../engine/types.js";
import { rootContext } from "../engine/types.js";
import { DocketError, MessageError } from "../errors.js";
import type { JsonObject } from "../language/model.js";
import { diagram } from "../runtime/diagram.js";
import { publishedEvent } from "../runtime/events.js";
import type { EmbeddedEngine } from "./engine.js";
import { toWire } from "./participants.js";

const MAX_BODY = 1024 * 1024;
const STATUSES: readonly InstanceStatus[] = ["running", "suspended", "completed", "faulted", "canceled"];
const ACTIONS: readonly OperatorAction[] = ["pause", "resume", "cancel", "retry", "skip", "fail"];

class HttpError extends DocketError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

async function body(request: IncomingMessage): Promise<Record<string, unknown>> {
  if (!/^application\/json\b/.test(request.headers["content-type"] ?? "application/json")) {
    throw new HttpError(415, "UnsupportedMediaType", "send JSON (content-type: application/json)");
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, "TooLarge", `the body is over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (!text.trim()) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new HttpError(
      400,
      "BadJson",
      `the body is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (!isObject(value)) throw new HttpError(400, "BadJson", "the body must be a JSON object");
  return value;
}

function field<T>(
  data: Record<string, unknown>,
  name: string,
  type: "string" | "object",
  required: boolean,
): T | undefined {
  const value = data[name];
  if (value === undefined) {
    if (required) throw new HttpError(400, "BadRequest", `${name} is required`);
    return undefined;
  }
  const ok = type === "object" ? isObject(value) : typeof value === "string" && value !== "";
  if (!ok)
    throw new HttpError(
      400,
      "BadRequest",
      `${name} must be ${type === "object" ? "a JSON object" : "a non-empty string"}, got ${JSON.stringify(value)?.slice(0, 80)}`,
    );
  return value as T;
}

function send(response: ServerResponse, status: number, payload?: unknown): void {
  if (payload === undefined) {
    response.writeHead(status).end();
    return;
  }
  const text = typeof payload === "string" ? payload : JSON.stringify(payload, null, 2);
  response
    .writeHead(status, {
      "content-type": typeof payload === "string" ? "text/plain; charset=utf-8" : "application/json",
    })
    .end(text);
}

type Route = (
  engine: EmbeddedEngine,
  request: IncomingMessage,
  url: URL,
  params: string[],
) => Promise<[number, unknown?]>;

const ROUTES: [string, RegExp, Route][] = [
  ["GET", /^\/health$/, async () => [200, { ok: true }]],
  ["GET", /^\/definitions$/, async (engine) => [200, engine.definitions.catalogue()]],
  ["POST", /^\/instances$/, launch],
  ["GET", /^\/instances$/, list],
  ["GET", /^\/instances\/([^/]+)$/, show],
  ["DELETE", /^\/instances\/([^/]+)$/, remove],
  ["GET", /^\/instances\/([^/]+)\/history$/, history],
  ["GET", /^\/instances\/([^/]+)\/diagram$/, instanceDiagram],
  ["POST", /^\/instances\/([^/]+)\/([a-z]+)$/, operate],
  ["POST", /^\/events$/, publish],
  ["GET", /^\/tasks$/, claim],
  ["POST", /^\/replies$/, reply],
];

async function launch(engine: EmbeddedEngine, request: IncomingMessage): Promise<[number, unknown]> {
  const data = await body(request);
  const id = await engine.launch({
    process: field<string>(data, "process", "string", true) as string,
    version: field<string>(data, "version", "string", false),
    fields: field<JsonObject>(data, "fields", "object", false),
    id: field<string>(data, "id", "string", false),
  });
  return [202, { id }];
}

async function list(engine: EmbeddedEngine, _r: IncomingMessage, url: URL): Promise<[number, unknown]> {
  const status = url.searchParams.get("status") ?? undefined;
  if (status && !STATUSES.includes(status as InstanceStatus))
    throw new HttpError(
      400,
      "BadRequest",
      `status must be one of ${STATUSES.join(", ")}, got ${JSON.stringify(status)}`,
    );
  const limit = Number(url.searchParams.get("limit") ?? 100);
  if (!Number.isInteger(limit) || limit < 1)
    throw new HttpError(400, "BadRequest", "limit must be a whole number from 1");
  return [
    200,
    await engine.store.list({
      status: status as InstanceStatus | undefined,
      process: url.searchParams.get("process") ?? undefined,
      limit,
    }),
  ];
}

async function loadSnapshot(engine: EmbeddedEngine, id: string) {
  const snapshot = await engine.snapshot(decodeURIComponent(id));
  if (!snapshot) throw new HttpError(404, "NoInstance", `no instance ${decodeURIComponent(id)}`);
  return snapshot;
}

async function show(
  engine: EmbeddedEngine,
  _r: IncomingMessage,
  _u: URL,
  [id]: string[],
): Promise<[number, unknown]> {
  const s = await loadSnapshot(engine, id as string);
  return [
    200,
    {
      id: s.id,
      process: s.process,
      version: s.version,
      status: s.status,
      paused: s.paused,
      createdAt: s.createdAt,
      updatedAt: s.updatedAt,
      steps: s.steps,
      context: rootContext(s),
      active: s.nodes.map(([path, state]) => ({ node: path, state: state.k })),
      incidents: s.incidents,
      fault: s.fault ?? null,
      parent: s.parent ?? null,
    },
  ];
}

async function remove(
  engine: EmbeddedEngine,
  _r: IncomingMessage,
  _u: URL,
  [id]: string[],
): Promise<[number]> {
  const s = await loadSnapshot(engine, id as string);
  if (!["completed", "faulted", "canceled"].includes(s.status))
    throw new HttpError(409, "NotFinished", `instance ${s.id} is ${s.status}: cancel it before deleting it`);
  await engine.store.remove(s.id);
  return [204];
}

async function history(
  engine: EmbeddedEngine,
  _r: IncomingMessage,
  url: URL,
  [id]: string[],
): Promise<[number, unknown]> {
  const s = await loadSnapshot(engine, id as string);
  const after = Number(url.searchParams.get("after") ?? 0);
  const limit = Number(url.searchParams.get("limit") ?? 100);
  if (!Number.isInteger(after) || after < 0 || !Number.isInteger(limit) || limit < 1)
    throw new HttpError(400, "BadRequest", "after and limit must be whole numbers");
  return [200, await engine.store.history(s.id, { after, limit })];
}

async function instanceDiagram(
  engine: EmbeddedEngine,
  _r: IncomingMessage,
  _u: URL,
  [id]: string[],
): Promise<[number, unknown]> {
  const s = await loadSnapshot(engine, id as string);
  const definition = await engine.definitions.byHash(s.version);
  if (!definition) throw new HttpError(404, "UnknownDefinition", `definition ${s.version} is not stored`);
  const records = (await engine.store.history(s.id, { limit: 1000 })).records;
  return [200, diagram(definition, { snapshot: s, history: records })];
}

async function operate(
  engine: EmbeddedEngine,
  request: IncomingMessage,
  _u: URL,
  [id, action]: string[],
): Promise<[number, unknown]> {
  if (!ACTIONS.includes(action as OperatorAction))
    throw new HttpError(404, "NoRoute", `no operation "${action}"; allowed: ${ACTIONS.join(", ")}`);
  const data = await body(request);
  const s = await loadSnapshot(engine, id as string);
  await engine.operate(s.id, action as OperatorAction, {
    node: field<string>(data, "node", "string", false),
    fields: field<JsonObject>(data, "fields", "object", false),
    reason: field<string>(data, "reason", "string", false),
  });
  return [202, { id: s.id, action }];
}

async function publish(engine: EmbeddedEngine, request: IncomingMessage): Promise<[number, unknown]> {
  const data = await body(request);
  // bureaucrat's events are { "event": name, key?, …data }; docket's { "name", "key"?, "data"?, "id"? }.
  const bureaucrat = data.event !== undefined && data.name === undefined;
  field<string>(data, bureaucrat ? "event" : "name", "string", true);
  // The one rule both hosts read an event by (the AWS ingest function too).
  const id = await engine.publish(publishedEvent(data));
  return [202, { id }];
}

async function claim(
  engine: EmbeddedEngine,
  request: IncomingMessage,
  url: URL,
): Promise<[number, unknown?]> {
  const participant = url.searchParams.get("participant");
  if (!participant) throw new HttpError(400, "BadRequest", "participant is required (?participant=name)");
  const wait = Math.min(Number(url.searchParams.get("wait") ?? 20), 60);
  const lease = Math.min(Number(url.searchParams.get("lease") ?? 300), 3600);
  if (!Number.isFinite(wait) || wait < 0 || !Number.isFinite(lease) || lease <= 0)
    throw new HttpError(400, "BadRequest", "wait and lease are seconds");
  const deadline = Date.now() + wait * 1000;
  for (;;) {
    const task = engine.queues.claim(participant, lease * 1000);
    if (task) return [200, toWire(task, "/replies")];
    if (Date.now() >= deadline || request.destroyed) return [204];
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function reply(engine: EmbeddedEngine, request: IncomingMessage): Promise<[number, unknown]> {
  await engine.reply(await body(request));
  return [202, { accepted: true }];
}

function statusOf(error: DocketError): number {
  if (error instanceof HttpError) return error.status;
  if (error instanceof MessageError || error.code === "UsageError") return 400;
  if (["NoInstance", "UnknownProcess", "UnknownDefinition"].includes(error.code)) return 404;
  return error.code === "Conflict" ? 409 : 400;
}

/** Whether a request carries the API token (compared in constant time); no token configured: all may. */
function authorized(request: IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const given = Buffer.from(request.headers.authorization ?? "");
  const wanted = Buffer.from(`Bearer ${token}`);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

export interface ApiOptions {
  readonly log?: (line: string) => void;
  /** When set, every request but GET /health needs `Authorization: Bearer <token>`. */
  readonly token?: string;
}

export function serveApi(engine: EmbeddedEngine, options: ApiOptions = {}): Server {
  const log = options.log ?? (() => undefined);
  return createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    if (url.pathname !== "/health" && !authorized(request, options.token)) {
      send(response, 401, {
        error: { code: "Unauthorized", message: "send the API token: Authorization: Bearer <token>" },
      });
      return;
    }
    const matches = ROUTES.filter(([, pattern]) => pattern.test(url.pathname));
    const route = matches.find(([method]) => method === request.method);
    if (!route) {
      send(response, matches.length ? 405 : 404, {
        error: {
          code: matches.length ? "MethodNotAllowed" : "NoRoute",
          message: `${request.method} ${url.pathname} is not part of the API`,
        },
      });
      return;
    }
    const params = (route[1].exec(url.pathname) ?? []).slice(1);
    route[2](engine, request, url, params)
      .then(([status, payload]) => send(response, status, payload))
      .catch((error: unknown) => {
        if (error instanceof DocketError) {
          const problems = "problems" in error ? (error as MessageError).problems : undefined;
          if (!request.complete) {
            // The rest of the body was not read (too large): close this connection, not reuse it.
            response.setHeader("connection", "close");
            response.on("finish", () => request.destroy());
          }
          send(response, statusOf(error), {
            error: { code: error.code, message: error.message, ...(problems ? { problems } : {}) },
          });
          return;
        }
        log(
          `internal error on ${request.method} ${url.pathname}: ${error instanceof Error ? error.stack : String(error)}`,
        );
        send(response, 500, { error: { code: "Internal", message: "internal error (logged)" } });
      });
  });
}

/**
 * The API over node:http (`docket serve`, `docket local`): reads the body (up to MAX_BODY), checks
 * the optional bearer token, and hands the request to the router.
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { OperationsPort } from "../runtime/operations.js";
import { type ChangeFeed, isConsolePath, serveConsole, streamChanges } from "./console.js";
import { refusal } from "./guard.js";
import { type ApiResponse, errorResponse, failureResponse, HttpError, MAX_BODY, route } from "./router.js";

export interface ApiOptions {
  readonly log?: (line: string) => void;
  /** When set, every request but GET /health needs `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Serve the web console under /console/ (from this folder, default the built console/dist). */
  readonly console?: boolean | string;
  /** Stream these changes at GET /changes (server-sent events), for the console; absent: 404. */
  readonly changes?: ChangeFeed;
}

/** The request's body as text; HttpError 413 when it is over MAX_BODY. */
export async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, "TooLarge", `the body is over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function send(response: ServerResponse, { status, body }: ApiResponse): void {
  if (body === undefined) {
    response.writeHead(status).end();
    return;
  }
  const text = typeof body === "string";
  response
    .writeHead(status, { "content-type": text ? "text/plain; charset=utf-8" : "application/json" })
    .end(text ? body : JSON.stringify(body, null, 2));
}

/** Whether a request carries the API token (compared in constant time); no token configured: all may. */
function authorized(request: IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const given = Buffer.from(request.headers.authorization ?? "");
  const wanted = Buffer.from(`Bearer ${token}`);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

async function answer(
  ops: OperationsPort,
  request: IncomingMessage,
  url: URL,
  signal: AbortSignal,
): Promise<ApiResponse> {
  let body: string;
  try {
    body = await readBody(request);
  } catch (error) {
    if (error instanceof HttpError) return errorResponse(error);
    throw error;
  }
  return route(ops, {
    method: request.method ?? "GET",
    path: url.pathname,
    query: url.searchParams,
    contentType: request.headers["content-type"],
    body,
    signal,
  });
}

export function serveOperations(ops: OperationsPort, options: ApiOptions = {}): Server {
  const log = options.log ?? (() => undefined);
  return createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    const refused = refusal(request);
    if (refused) {
      send(response, { status: 403, body: { error: { code: "Forbidden", message: refused } } });
      return;
    }
    if (options.console && request.method === "GET" && isConsolePath(url.pathname)) {
      serveConsole(url.pathname, response, typeof options.console === "string" ? options.console : undefined);
      return;
    }
    if (url.pathname !== "/health" && !authorized(request, options.token)) {
      send(response, {
        status: 401,
        body: {
          error: { code: "Unauthorized", message: "send the API token: Authorization: Bearer <token>" },
        },
      });
      return;
    }
    if (options.changes && request.method === "GET" && url.pathname === "/changes") {
      streamChanges(options.changes, request, response);
      return;
    }
    const aborted = new AbortController();
    response.on("close", () => aborted.abort());
    answer(ops, request, url, aborted.signal)
      .then((result) => {
        if (!request.complete) {
          // The rest of the body was not read (too large): close this connection, not reuse it.
          response.setHeader("connection", "close");
          response.on("finish", () => request.destroy());
        }
        send(response, result);
      })
      .catch((error: unknown) => {
        log(
          `internal error on ${request.method} ${url.pathname}: ${error instanceof Error ? error.stack : String(error)}`,
        );
        send(response, failureResponse(error));
      });
  });
}

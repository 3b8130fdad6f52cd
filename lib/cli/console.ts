/**
 * `docket console`: the web console on localhost for a deployed stack (or any docket API). The
 * console's files are served from the package; every API call it makes is relayed to the API,
 * signed with the user's AWS credentials (SigV4, as the other client commands sign), so nothing
 * public is exposed and the browser never holds a credential.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { isConsolePath, serveConsole } from "../api/console.js";
import { isLoopback, refusal } from "../api/guard.js";
import { readBody } from "../api/http.js";
import { HttpError } from "../api/router.js";
import { ApiClient, UnreachableError } from "./connection.js";
import { listenOn } from "./listen.js";
import type { Target } from "./stack.js";

const log = (line: string) => console.error(`${new Date().toISOString()} ${line}`);

function answerError(response: ServerResponse, status: number, code: string, message: string): void {
  response
    .writeHead(status, { "content-type": "application/json" })
    .end(JSON.stringify({ error: { code, message } }));
}

/** Relays one API request to the remote API and its answer back, whatever the status. */
async function relay(api: ApiClient, request: IncomingMessage, response: ServerResponse, url: URL) {
  // The change stream is the embedded host's; the console polls when it is absent.
  if (url.pathname === "/changes") return answerError(response, 404, "NoRoute", "no change stream: poll");
  let body: string;
  try {
    body = await readBody(request);
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    return answerError(response, error.status, error.code, error.message);
  }
  const method = request.method ?? "GET";
  try {
    const answer = await api.forward(method, `${url.pathname}${url.search}`, body === "" ? undefined : body);
    response.writeHead(answer.status, answer.contentType ? { "content-type": answer.contentType } : {});
    response.end(answer.text);
  } catch (error) {
    if (!(error instanceof UnreachableError)) throw error;
    answerError(response, 502, "Unreachable", error.message);
  }
}

export async function consoleCommand(options: Target & { port: string; host: string }): Promise<number> {
  const api = await ApiClient.connect(options);
  if (!isLoopback(options.host))
    log(`warning: serving on ${options.host}: anyone who reaches it acts with your AWS credentials`);
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    const refused = refusal(request);
    if (refused) return answerError(response, 403, "Forbidden", refused);
    if (request.method === "GET" && (isConsolePath(url.pathname) || url.pathname === "/")) {
      serveConsole(url.pathname === "/" ? "/console" : url.pathname, response);
      return;
    }
    relay(api, request, response, url).catch((error: unknown) => {
      log(
        `relaying ${request.method} ${url.pathname} failed: ${error instanceof Error ? error.stack : String(error)}`,
      );
      if (!response.headersSent) answerError(response, 500, "Internal", "internal error (logged)");
    });
  });
  const port = await listenOn(server, options.host, Number(options.port), "--port");
  log(`docket console for ${api.base} at http://${options.host}:${port}/console/`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  server.close();
  // Open connections (a console's change stream, keep-alive ones) would hold the process up.
  server.closeAllConnections();
  return 0;
}

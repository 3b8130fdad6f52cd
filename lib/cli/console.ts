/**
 * `docket console`: the web console on localhost for a deployed stack (or any docket API). The
 * console's files are served from the package; every API call it makes is relayed to the API,
 * signed with the user's AWS credentials (SigV4, as the other client commands sign), so nothing
 * public is exposed and the browser never holds a credential.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { isConsolePath, serveConsole } from "../api/console.js";
import { MAX_BODY } from "../api/router.js";
import { ApiClient, UnreachableError } from "./connection.js";
import type { Target } from "./stack.js";

const log = (line: string) => console.error(`${new Date().toISOString()} ${line}`);

async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function answerError(response: ServerResponse, status: number, code: string, message: string): void {
  response
    .writeHead(status, { "content-type": "application/json" })
    .end(JSON.stringify({ error: { code, message } }));
}

/** Relays one API request to the remote API and its answer back, whatever the status. */
async function relay(api: ApiClient, request: IncomingMessage, response: ServerResponse, url: URL) {
  // The change stream is the embedded host's; the console polls when it is absent.
  if (url.pathname === "/changes") return answerError(response, 404, "NoRoute", "no change stream: poll");
  const body = await readBody(request);
  if (body === undefined) return answerError(response, 413, "TooLarge", `the body is over ${MAX_BODY} bytes`);
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
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
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
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(options.port), options.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  log(`docket console for ${api.base} at http://${options.host}:${port}/console/`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  server.close();
  return 0;
}

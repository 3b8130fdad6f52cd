/**
 * The web console's files (console/dist, built by `npm run build` from console/src) under
 * /console/, and the change feed it listens to on the embedded host (GET /changes, server-sent
 * events). The console is a single page: any /console/ path that is not one of its files is its
 * index.html, which routes in the browser. Its files hold no data, so they are served without the
 * API token; every call they make goes through the API and its token.
 */
import { existsSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";

/** Where `npm run build` puts the console (the package ships it built). */
export const CONSOLE_DIR = fileURLToPath(new URL("../../console/dist/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
};

/**
 * Only the console's own origin, no inline script, no framing: the console renders what
 * instances hold (their context, their faults' messages), which must never run as code.
 */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** Whether a path is the console's: /console and everything under it. */
export const isConsolePath = (pathname: string) =>
  pathname === "/console" || pathname.startsWith("/console/");

/** Answers a GET of a console path from `dir`: a file of it, else its index.html. */
export function serveConsole(pathname: string, response: ServerResponse, dir = CONSOLE_DIR): void {
  if (pathname === "/console") {
    response.writeHead(301, { location: "/console/" }).end();
    return;
  }
  const index = `${dir}index.html`;
  if (!existsSync(index)) {
    response
      .writeHead(503, { "content-type": "text/plain; charset=utf-8" })
      .end("the console is not built: run `npm run build` in docket's folder\n");
    return;
  }
  // Only a file directly in the folder, by a plain name: no "..", no subfolders, nothing hidden.
  const name = pathname.slice("/console/".length);
  const file = /^[\w-]+(\.[\w-]+)+$/.test(name) && existsSync(`${dir}${name}`) ? name : "index.html";
  const type = TYPES[file.slice(file.lastIndexOf("."))] ?? "application/octet-stream";
  response
    .writeHead(200, { "content-type": type, "cache-control": "no-cache", ...SECURITY_HEADERS })
    .end(readFileSync(`${dir}${file}`));
}

/** A change the console hears of: a step applied to an instance. */
export interface Change {
  readonly instance: string;
  readonly process: string;
  readonly status: string;
}

/** Where changes come from: subscribe a listener, get back how to unsubscribe it. */
export type ChangeFeed = (listener: (change: Change) => void) => () => void;

/** How often an idle change stream sends a comment, so proxies and the browser keep it open. */
const PING_MS = 15_000;

/** Streams changes as server-sent events (`event: step`) until the client goes away. */
export function streamChanges(feed: ChangeFeed, request: IncomingMessage, response: ServerResponse): void {
  response.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  response.write(": connected\n\n");
  const unsubscribe = feed((change) => {
    response.write(`event: step\ndata: ${JSON.stringify(change)}\n\n`);
  });
  const ping = setInterval(() => response.write(": ping\n\n"), PING_MS);
  request.on("close", () => {
    clearInterval(ping);
    unsubscribe();
  });
}

/**
 * What keeps a web page from using an API on localhost with the user's rights: `docket serve`
 * without a token, and above all `docket console`, which signs every request it relays with the
 * user's AWS credentials. A page on another site can send requests to 127.0.0.1 (a form post, a
 * no-cors fetch) and, by rebinding its own host name to 127.0.0.1, even read the answers. So:
 * - bound to a loopback address, a request must name a loopback host (`Host: localhost:7070`);
 *   a rebound name (`Host: evil.example:7070`) is refused;
 * - a request that changes something must come from the same origin when it comes from a page
 *   (browsers send `Origin` on every such request; the CLI and other clients send none).
 */
import type { IncomingMessage } from "node:http";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

export const isLoopback = (host: string) => LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);

/** The host name of a Host header, without its port. */
function hostName(header: string): string {
  const bracketed = /^\[([^\]]+)\]/.exec(header);
  if (bracketed?.[1]) return `[${bracketed[1]}]`;
  return header.replace(/:\d+$/, "");
}

/**
 * Why the request is refused, or undefined when it may go on. The Host check applies to a
 * connection made to a loopback address (elsewhere the operator's proxy and token decide who
 * reaches the API).
 */
export function refusal(request: IncomingMessage): string | undefined {
  const host = request.headers.host ?? "";
  const local = (request.socket.localAddress ?? "").replace(/^::ffff:/, "");
  if (isLoopback(local) && !isLoopback(hostName(host)))
    return `Host ${JSON.stringify(host)} is not this machine's: a page of another site cannot use this API`;
  const origin = request.headers.origin;
  const changes = !["GET", "HEAD", "OPTIONS"].includes(request.method ?? "GET");
  if (changes && origin !== undefined && origin !== `http://${host}` && origin !== `https://${host}`)
    return `a page of ${origin} cannot change anything here`;
  return undefined;
}

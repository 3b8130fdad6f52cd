/**
 * API Gateway's part for the contract tests: each HTTP request becomes the HTTP API's payload
 * format 2.0 event for the `api` function's handler (lib/aws/api.ts), and its result the answer,
 * so the AWS host is checked through the very transport it is deployed with.
 */
import { createServer, type Server } from "node:http";
import type { HttpApiEvent, HttpApiResult } from "../../lib/aws/api.js";

export function serveHandler(handler: (event: HttpApiEvent) => Promise<HttpApiResult>): Server {
  return createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const url = new URL(request.url ?? "/", "http://gateway");
    const body = Buffer.concat(chunks);
    const headers = Object.fromEntries(
      Object.entries(request.headers).map(([name, value]) => [name, [value].flat().join(",")]),
    );
    // As API Gateway does: a body that is not text arrives base64-encoded.
    const text = /^(application\/json|text\/)/.test(headers["content-type"] ?? "");
    const result = await handler({
      rawPath: url.pathname,
      rawQueryString: url.search.slice(1),
      headers,
      ...(body.length ? { body: body.toString(text ? "utf8" : "base64"), isBase64Encoded: !text } : {}),
      requestContext: { http: { method: request.method ?? "GET" } },
    });
    response.writeHead(result.statusCode, result.headers).end(result.body);
  });
}

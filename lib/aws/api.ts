/**
 * The operations API on AWS: API Gateway's HTTP API (IAM-authorized, see cdk/api.ts) hands each
 * request to one Lambda as a payload format 2.0 event; it goes through the same router as
 * `docket serve` (lib/api/router.ts) over the AWS host of the operations port.
 */
import {
  type ApiResponse,
  errorResponse,
  failureResponse,
  HttpError,
  MAX_BODY,
  route,
} from "../api/router.js";
import type { OperationsPort } from "../runtime/operations.js";
import { Runtime } from "../runtime/runtime.js";
import type { AwsDeps } from "./deps.js";
import { edgeLogger, type LambdaContext } from "./edge.js";
import { awsOperations } from "./operations.js";
import { DynamoInstanceStore } from "./store.js";

/** What the function reads of an HTTP API event (payload format 2.0). */
export interface HttpApiEvent {
  readonly rawPath: string;
  readonly rawQueryString?: string;
  /** Lower-cased names; a header sent twice is joined by commas. */
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly body?: string;
  readonly isBase64Encoded?: boolean;
  readonly requestContext: { readonly http: { readonly method: string } };
}

export interface HttpApiResult {
  readonly statusCode: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

function answer({ status, body }: ApiResponse): HttpApiResult {
  if (body === undefined) return { statusCode: status };
  const text = typeof body === "string";
  return {
    statusCode: status,
    headers: { "content-type": text ? "text/plain; charset=utf-8" : "application/json" },
    // Compact: Lambda answers at most 6 MB (the CLI prints its own way).
    body: text ? body : JSON.stringify(body),
  };
}

/** The request's body as text; over MAX_BODY (API Gateway takes up to 10 MB) an HttpError 413. */
function bodyOf(event: HttpApiEvent): string {
  const raw = event.body ?? "";
  const bytes = event.isBase64Encoded ? Buffer.from(raw, "base64") : Buffer.from(raw, "utf8");
  if (bytes.length > MAX_BODY) throw new HttpError(413, "TooLarge", `the body is over ${MAX_BODY} bytes`);
  return bytes.toString("utf8");
}

/**
 * The operations over an instance store of the request's own. A store keeps the states it loaded
 * (a worker's next message then reads only newer steps); across the API's containers that would
 * show an instance another container has deleted since, so each request reads from the table.
 */
function requestOperations(deps: AwsDeps): OperationsPort {
  const store = new DynamoInstanceStore(deps.table, deps.definitions, deps.payloads);
  return awsOperations({ ...deps, runtime: new Runtime({ ...deps.runtime.deps, store }) });
}

/**
 * Answers one HTTP API request. A DocketError is the router's 4xx answer; anything else is logged
 * with its stack and cause (Powertools' Logger) and answered 503 (the store, a queue or a bucket
 * failed: retry) or 500, saying no more, since internal messages name resources.
 */
export function makeApiHandler(deps: AwsDeps) {
  const log = edgeLogger("api");
  return async (event: HttpApiEvent, context?: LambdaContext): Promise<HttpApiResult> => {
    if (context) log.addContext(context);
    const method = event.requestContext.http.method;
    let body: string;
    try {
      body = bodyOf(event);
    } catch (error) {
      if (error instanceof HttpError) return answer(errorResponse(error));
      throw error;
    }
    try {
      return answer(
        await route(requestOperations(deps), {
          method,
          path: event.rawPath,
          query: new URLSearchParams(event.rawQueryString ?? ""),
          contentType: event.headers?.["content-type"],
          body,
        }),
      );
    } catch (error) {
      log.error(`failed: ${method} ${event.rawPath}`, error as Error);
      return answer(failureResponse(error));
    }
  };
}

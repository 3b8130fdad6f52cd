/**
 * The client commands' requests to the API, on either host: SigV4-signed for AWS's URLs
 * (lib/cli/signing.ts), with DOCKET_API_TOKEN as a bearer token for `docket serve`. An error answer
 * becomes an ApiError carrying the API's message and the HTTP status.
 */
import { DocketError } from "../errors.js";
import { awsCredentials, signingScope, signRequest } from "./signing.js";
import { resolveUrl, type Target } from "./stack.js";

/** The API answered with an error; the message ends with the status, as the CLI prints it. */
export class ApiError extends DocketError {
  constructor(
    code: string,
    message: string,
    readonly status: number,
    /** The answer's body as read (JSON, else text): what an error carries beside its message. */
    readonly body?: unknown,
  ) {
    super(code, `${message} (HTTP ${status})`);
  }
}

/**
 * How long a request may take: API Gateway gives up on its integration after 29 s; beyond this a
 * connection that answers nothing is taken as lost (docket watch then tries again).
 */
const REQUEST_TIMEOUT_MS = 60_000;

export interface Answer {
  readonly status: number;
  readonly body: unknown;
}

export class ApiClient {
  constructor(
    readonly base: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** A client for a command's `--url` / `--stack` options. */
  static async connect(target: Target, env: NodeJS.ProcessEnv = process.env): Promise<ApiClient> {
    const base = await resolveUrl(target, env);
    if (!URL.canParse(base) || !/^https?:$/.test(new URL(base).protocol))
      throw new DocketError("UsageError", `the API URL must be http(s)://…, got ${JSON.stringify(base)}`);
    return new ApiClient(base, env);
  }

  private async headers(method: string, url: URL, body: string | undefined): Promise<Record<string, string>> {
    const headers: Record<string, string> = body === undefined ? {} : { "content-type": "application/json" };
    const scope = signingScope(url, this.env);
    if (scope) {
      const signed = await signRequest({ method, url, headers, body }, await awsCredentials(), scope);
      // fetch sets Host from the URL, the same value that was signed.
      delete signed.host;
      return signed;
    }
    const token = this.env.DOCKET_API_TOKEN;
    return token ? { ...headers, authorization: `Bearer ${token}` } : headers;
  }

  /** Sends one request; resolves with a 2xx answer, throws ApiError for any other. */
  async call(method: string, path: string, payload?: unknown): Promise<Answer> {
    const { response, text } = await this.send(
      method,
      path,
      payload === undefined ? undefined : JSON.stringify(payload),
    );
    return answerOf(response, text);
  }

  /**
   * Sends a request as given (a JSON body as text) and hands back the answer whatever its status:
   * `docket console` relays the browser's requests, signed, and the browser reads the errors.
   */
  async forward(method: string, path: string, body: string | undefined) {
    const { response, text } = await this.send(method, path, body);
    return { status: response.status, contentType: response.headers.get("content-type") ?? undefined, text };
  }

  private async send(method: string, path: string, body: string | undefined) {
    const url = joinUrl(this.base, path);
    const headers = await this.headers(method, url, body);
    try {
      const response = await fetch(url, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      // Inside the try: a connection dropped while the answer arrives is as unreachable as a refused one.
      return { response, text: await response.text() };
    } catch (error) {
      throw new UnreachableError(this.base, error);
    }
  }
}

/** No answer from the API: refused, reset, or none within REQUEST_TIMEOUT_MS. */
export class UnreachableError extends DocketError {
  constructor(base: string, error: unknown) {
    const reason =
      error instanceof Error && error.name === "TimeoutError"
        ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
        : error instanceof Error
          ? ((error.cause as Error | undefined)?.message ?? error.message)
          : String(error);
    super(
      "Unreachable",
      `cannot reach docket at ${base} (start it with \`docket serve\`, or give --url or --stack): ${reason}`,
      { cause: error },
    );
  }
}

/**
 * A component of a URL's path or query as RFC 3986 has it and SigV4 signs it: encodeURIComponent,
 * with !'()* escaped too. A space is %20, never `+`, which AWS reads as a plus.
 */
export function encodeComponent(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * `?key=value&…` for the given parameters (undefined ones left out), each key and value encoded by
 * encodeComponent, so that the query sent is byte for byte the one signed; "" when there are none.
 */
export function queryString(parameters: Record<string, string | undefined>): string {
  const pairs = Object.entries(parameters).flatMap(([key, value]) =>
    value === undefined ? [] : [`${encodeComponent(key)}=${encodeComponent(value)}`],
  );
  return pairs.length ? `?${pairs.join("&")}` : "";
}

/** `path` (with its query) under the base URL's own path: an API behind a stage or a base path. */
export function joinUrl(base: string, path: string): URL {
  const url = new URL(base);
  const [pathname = "", query] = path.split("?", 2);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}${pathname}`;
  url.search = query ?? "";
  return url;
}

function answerOf(response: Response, text: string): Answer {
  let body: unknown = text;
  if ((response.headers.get("content-type") ?? "").includes("json") && text) {
    try {
      body = JSON.parse(text);
    } catch {
      // Left as text: a proxy's answer that says it is JSON and is not.
    }
  }
  if (response.status < 400) return { status: response.status, body };
  const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
  // API Gateway's own refusals (a missing or wrong signature) are { "message": … }.
  const message =
    error?.message ??
    (body as { message?: string } | undefined)?.message ??
    briefly(text, response.statusText);
  throw new ApiError(error?.code ?? "HttpError", message, response.status, body);
}

/** A text answer that is not docket's (a proxy's error page) on one line, or the status text. */
function briefly(text: string, statusText: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length === 0 || line.length > 200 ? statusText || "no message" : line;
}

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
  ) {
    super(code, `${message} (HTTP ${status})`);
  }
}

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
    const url = joinUrl(this.base, path);
    const body = payload === undefined ? undefined : JSON.stringify(payload);
    const headers = await this.headers(method, url, body);
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body });
    } catch (error) {
      const reason =
        error instanceof Error
          ? ((error.cause as Error | undefined)?.message ?? error.message)
          : String(error);
      throw new DocketError(
        "Unreachable",
        `cannot reach docket at ${this.base} (start it with \`docket serve\`, or give --url or --stack): ${reason}`,
        { cause: error },
      );
    }
    return answerOf(response);
  }
}

/** `path` (with its query) under the base URL's own path: an API behind a stage or a base path. */
export function joinUrl(base: string, path: string): URL {
  const url = new URL(base);
  const [pathname = "", query] = path.split("?", 2);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}${pathname}`;
  url.search = query ?? "";
  return url;
}

async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
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
    error?.message ?? (body as { message?: string } | undefined)?.message ?? (text || response.statusText);
  throw new ApiError(error?.code ?? "HttpError", message, response.status);
}

/**
 * Signing the client's requests with SigV4 when the API is AWS's: an API Gateway URL
 * (`*.execute-api.<region>.amazonaws.com`, IAM-authorized) or a Lambda function URL
 * (`*.lambda-url.<region>.on.aws`). A custom domain in front of API Gateway is signed when
 * DOCKET_SIGV4_REGION names its region. Credentials come from the default chain (environment,
 * profiles, SSO, instance roles), as for the AWS CLI.
 */
import type { AwsCredentialIdentity } from "@smithy/types";
import { DocketError } from "../errors.js";

export interface SigningScope {
  readonly region: string;
  readonly service: "execute-api" | "lambda";
}

/** The request as it goes on the wire; `url` carries the host, the path and the query. */
export interface OutgoingRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

const EXECUTE_API = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;
const LAMBDA_URL = /\.lambda-url\.([a-z0-9-]+)\.on\.aws$/;

/** Whether requests to `url` are signed, and for which region and service; undefined when not. */
export function signingScope(url: URL, env: NodeJS.ProcessEnv = process.env): SigningScope | undefined {
  const forced = env.DOCKET_SIGV4_REGION?.trim();
  if (forced) return { region: forced, service: "execute-api" };
  const api = EXECUTE_API.exec(url.hostname);
  if (api?.[1]) return { region: api[1], service: "execute-api" };
  const lambda = LAMBDA_URL.exec(url.hostname);
  if (lambda?.[1]) return { region: lambda[1], service: "lambda" };
  return undefined;
}

/** A query component decoded; one that is not valid percent-encoding is signed as it is. */
function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The query as AWS reads it when it checks the signature: a `+` is a plus, not a space as
 * URLSearchParams would have it (so the client sends spaces as %20: lib/cli/connection.ts).
 */
function queryOf(url: URL): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const pair of url.search.slice(1).split("&")) {
    if (!pair) continue;
    const equals = pair.indexOf("=");
    const key = decodeComponent(equals < 0 ? pair : pair.slice(0, equals));
    const value = equals < 0 ? "" : decodeComponent(pair.slice(equals + 1));
    const earlier = query[key];
    query[key] = earlier === undefined ? value : [...(Array.isArray(earlier) ? earlier : [earlier]), value];
  }
  return query;
}

/**
 * The headers to send with `request`, signed: Authorization, X-Amz-Date, X-Amz-Security-Token
 * (temporary credentials) and Host. The signature covers the method, the path as sent, the query,
 * every header given and the body's hash. `date` is the signing time (fixed in tests).
 */
export async function signRequest(
  request: OutgoingRequest,
  credentials: AwsCredentialIdentity,
  scope: { region: string; service: string },
  date: Date = new Date(),
): Promise<Record<string, string>> {
  // Loaded when a request is signed: `docket list` against `docket serve` starts without them.
  const [{ SignatureV4 }, { Hash }] = await Promise.all([
    import("@smithy/signature-v4"),
    import("@smithy/hash-node"),
  ]);
  const signer = new SignatureV4({
    credentials,
    region: scope.region,
    service: scope.service,
    sha256: Hash.bind(null, "sha256"),
    // API Gateway and function URLs check the body's hash inside the signature; the extra
    // x-amz-content-sha256 header is S3's.
    applyChecksum: false,
  });
  const { url } = request;
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname,
      query: queryOf(url),
      headers: { ...request.headers, host: url.host },
      body: request.body,
    },
    { signingDate: date },
  );
  return Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
}

let provider: (() => Promise<AwsCredentialIdentity>) | undefined;

/** The caller's AWS credentials from the default chain, looked up once per process. */
export async function awsCredentials(): Promise<AwsCredentialIdentity> {
  provider ??= (await import("@aws-sdk/credential-provider-node")).defaultProvider();
  try {
    return await provider();
  } catch (error) {
    throw new DocketError(
      "NoCredentials",
      `no AWS credentials to sign the request with (set AWS_PROFILE, run \`aws sso login\`, or set AWS_ACCESS_KEY_ID): ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

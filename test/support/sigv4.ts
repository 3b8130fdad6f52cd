/**
 * Checking a SigV4 signature a client sent: sign the captured request again with the same
 * credentials and date; a request signed right gets the same Authorization.
 */
import type { IncomingHttpHeaders } from "node:http";
import { signRequest } from "../../lib/cli/signing.js";

export interface Captured {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export const fromAmzDate = (text: string) =>
  new Date(text.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z"));

/** Signs the captured request again with the same credentials and date: the same Authorization when it was signed right. */
export async function resign(
  request: Captured,
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string },
  body = request.body,
  region = "eu-west-1",
) {
  const signed = /SignedHeaders=([^,]+)/.exec(String(request.headers.authorization))?.[1]?.split(";") ?? [];
  const given = Object.fromEntries(
    signed
      .filter((name) => !["host", "x-amz-date", "x-amz-security-token"].includes(name))
      .map((name) => [name, String(request.headers[name])]),
  );
  const headers = await signRequest(
    {
      method: request.method,
      url: new URL(request.url, `http://${request.headers.host}`),
      headers: given,
      body: body || undefined,
    },
    credentials,
    { region, service: "execute-api" },
    fromAmzDate(String(request.headers["x-amz-date"])),
  );
  return headers.authorization;
}

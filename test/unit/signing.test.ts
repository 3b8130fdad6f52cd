import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { joinUrl, queryString } from "../../lib/cli/connection.js";
import { signingScope, signRequest } from "../../lib/cli/signing.js";
import { ended } from "../support/cli.js";
import { type Captured, fromAmzDate, resign } from "../support/sigv4.js";

// AWS's Signature Version 4 test suite (aws-sig-v4-test-suite): its example credentials, region,
// service and date. The expected signatures are the suite's.
const SUITE_CREDENTIALS = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};
const SUITE_SCOPE = { region: "us-east-1", service: "service" };
const SUITE_DATE = new Date("2015-08-30T12:36:00Z");
const CREDENTIAL = "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";

describe("SigV4 signing, against AWS's test suite", () => {
  it("get-vanilla", async () => {
    const headers = await signRequest(
      { method: "GET", url: new URL("https://example.amazonaws.com/"), headers: {} },
      SUITE_CREDENTIALS,
      SUITE_SCOPE,
      SUITE_DATE,
    );
    expect(headers.authorization).toBe(
      `AWS4-HMAC-SHA256 ${CREDENTIAL}, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31`,
    );
    expect(headers["x-amz-date"]).toBe("20150830T123600Z");
  });

  it("get-vanilla-query-order-key-case: the query sorted by key", async () => {
    const headers = await signRequest(
      {
        method: "GET",
        url: new URL("https://example.amazonaws.com/?Param2=value2&Param1=value1"),
        headers: {},
      },
      SUITE_CREDENTIALS,
      SUITE_SCOPE,
      SUITE_DATE,
    );
    expect(headers.authorization).toBe(
      `AWS4-HMAC-SHA256 ${CREDENTIAL}, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500`,
    );
  });

  it("post-x-www-form-urlencoded: a body and its content type", async () => {
    const headers = await signRequest(
      {
        method: "POST",
        url: new URL("https://example.amazonaws.com/"),
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "Param1=value1",
      },
      SUITE_CREDENTIALS,
      SUITE_SCOPE,
      SUITE_DATE,
    );
    expect(headers.authorization).toBe(
      `AWS4-HMAC-SHA256 ${CREDENTIAL}, SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a`,
    );
    // No x-amz-content-sha256 (S3's): the body's hash is inside the signature.
    expect(headers["x-amz-content-sha256"]).toBeUndefined();
  });
});

describe("which URLs are signed", () => {
  const scope = (url: string, env: NodeJS.ProcessEnv = {}) => signingScope(new URL(url), env);
  it("API Gateway and function URLs, with the region from the host; a custom domain by DOCKET_SIGV4_REGION", () => {
    expect(scope("https://a1b2c3.execute-api.eu-west-1.amazonaws.com/")).toEqual({
      region: "eu-west-1",
      service: "execute-api",
    });
    expect(scope("https://abc.lambda-url.us-east-2.on.aws/")).toEqual({
      region: "us-east-2",
      service: "lambda",
    });
    expect(scope("https://docket.example.com/", { DOCKET_SIGV4_REGION: "ap-south-1" })).toEqual({
      region: "ap-south-1",
      service: "execute-api",
    });
    expect(scope("http://127.0.0.1:7070/")).toBeUndefined();
    expect(scope("https://execute-api.example.com/")).toBeUndefined();
  });
  it("paths go under the base URL's own path (a stage or a base path)", () => {
    expect(joinUrl("https://x.example/prod", "/instances?limit=2").href).toBe(
      "https://x.example/prod/instances?limit=2",
    );
    expect(joinUrl("http://127.0.0.1:7070/", "/instances/a").href).toBe("http://127.0.0.1:7070/instances/a");
  });
  it("queries are percent-encoded as SigV4 signs them: a space is %20, a plus %2B, never a bare +", () => {
    expect(queryString({ process: "order flow", after: "1#a+b", gone: undefined, "a b": "!'()*~" })).toBe(
      "?process=order%20flow&after=1%23a%2Bb&a%20b=%21%27%28%29%2A~",
    );
    expect(queryString({})).toBe("");
    expect(joinUrl("https://x.example/prod", "/instances?process=order%20flow").search).toBe(
      "?process=order%20flow",
    );
  });
});

/** Runs the CLI against a local server that records each request and answers `answer`. */
async function capture(args: string[], env: NodeJS.ProcessEnv, answer: unknown) {
  const requests: Captured[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      requests.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers, body });
      response.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const child = spawn(process.execPath, ["bin/docket.js", ...args, "--url", url], {
      env: { PATH: process.env.PATH, HOME: "/nonexistent", ...env },
    });
    return { ...(await ended(child)), requests };
  } finally {
    server.close();
  }
}

describe("the client", () => {
  const credentials = { ...SUITE_CREDENTIALS, sessionToken: "session-token-example" };
  const awsEnv = {
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_SESSION_TOKEN: credentials.sessionToken,
    DOCKET_SIGV4_REGION: "eu-west-1",
    DOCKET_API_TOKEN: "not-for-aws",
  };

  it("signs each request to an AWS API with SigV4 (method, path, query, body), never sending the bearer token", async () => {
    const [launch, list] = await Promise.all([
      capture(["launch", "order", "--id", "o-1", "--fields", '{"n":1}'], awsEnv, { id: "o-1" }),
      capture(["list", "--status", "running", "--limit", "5"], awsEnv, { instances: [] }),
    ]);
    expect(launch).toMatchObject({ code: 0, out: "o-1\n" });
    expect(list).toMatchObject({ code: 0, out: "no instances\n" });
    const post = launch.requests[0];
    const get = list.requests[0];
    if (!post || !get) throw new Error("no request reached the server");
    expect(get.url).toBe("/instances?limit=5&status=running");
    for (const request of [post, get]) {
      expect(request.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[^,]*host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
      );
      expect(request.headers["x-amz-security-token"]).toBe(credentials.sessionToken);
      expect(
        Math.abs(fromAmzDate(String(request.headers["x-amz-date"])).getTime() - Date.now()),
      ).toBeLessThan(5 * 60_000);
      expect(await resign(request, credentials)).toBe(request.headers.authorization);
    }
    expect(post.headers.authorization).toContain("SignedHeaders=content-type;host;");
    expect(JSON.parse(post.body)).toEqual({ process: "order", fields: { n: 1 }, id: "o-1" });
    // The body is part of what is signed: another body does not match the signature.
    expect(await resign(post, credentials, post.body.replace('"n":1', '"n":2'))).not.toBe(
      post.headers.authorization,
    );
  });

  it("signs a query with a space and a plus as it sends it, as AWS reads it (a + is a plus)", async () => {
    const list = await capture(
      ["list", "--process", "order flow", "--after", "000000000000001#a+b c", "--limit", "5"],
      awsEnv,
      { instances: [] },
    );
    expect(list).toMatchObject({ code: 0, out: "no instances\n" });
    const get = list.requests[0];
    if (!get) throw new Error("no request reached the server");
    // URLSearchParams would send process=order+flow: AWS would read "order+flow", signed as "order flow".
    expect(get.url).toBe("/instances?limit=5&process=order%20flow&after=000000000000001%23a%2Bb%20c");
    // The signature is that of the values meant, whatever the order of the parameters.
    const meant = new URL(
      `http://${get.headers.host}/instances?after=000000000000001%23a%2Bb%20c&limit=5&process=order%20flow`,
    );
    const expected = await signRequest(
      { method: "GET", url: meant, headers: {} },
      credentials,
      { region: "eu-west-1", service: "execute-api" },
      fromAmzDate(String(get.headers["x-amz-date"])),
    );
    expect(get.headers.authorization).toBe(expected.authorization);
    expect(await resign(get, credentials)).toBe(get.headers.authorization);
  });

  it("sends DOCKET_API_TOKEN as a bearer token to a URL that is not AWS's", async () => {
    const { code, requests } = await capture(["show", "x"], { DOCKET_API_TOKEN: "s3cret" }, { id: "x" });
    expect(code).toBe(0);
    expect(requests[0]?.headers.authorization).toBe("Bearer s3cret");
    expect(requests[0]?.headers["x-amz-date"]).toBeUndefined();
  });

  it("says so when there are no AWS credentials to sign with", async () => {
    const { code, err, requests } = await capture(
      ["show", "x"],
      { DOCKET_SIGV4_REGION: "eu-west-1", AWS_EC2_METADATA_DISABLED: "true" },
      {},
    );
    expect(code).toBe(2);
    expect(err).toContain("docket: no AWS credentials to sign the request with");
    expect(requests).toHaveLength(0);
  });
});

/**
 * What `docket serve` and `docket console` serve the web console with: its files under /console/
 * (index.html for any route of it, nothing outside its folder, no token needed for them), the
 * change stream the console listens to, and `docket console`'s relay to a remote API, signed.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveApi } from "../../lib/embedded/api.js";
import type { EmbeddedEngine } from "../../lib/embedded/engine.js";
import { type Captured, resign } from "../support/sigv4.js";
import { open, project } from "./helpers.js";

const TOKEN = "console-test-token";
let engine: EmbeddedEngine;
let server: Server;
let base: string;
let built: string;

async function listen(s: Server): Promise<string> {
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  const { config } = project({ "definitions/wait.yaml": "do:\n  - action: worker\n" });
  engine = await open(config, { participants: false });
  built = `${mkdtempSync(join(tmpdir(), "docket-console-"))}/`;
  writeFileSync(join(built, "index.html"), "<!doctype html><title>docket</title>");
  writeFileSync(join(built, "app.js"), "console.log('app')");
  mkdirSync(join(built, "sub"));
  writeFileSync(join(built, "sub", "hidden.js"), "no");
  server = serveApi(engine, { token: TOKEN, console: built });
  base = await listen(server);
});
afterAll(async () => {
  server.close();
  await engine.close();
});

describe("the console's files", () => {
  it("serves its files and its index.html for any of its routes, without the API token", async () => {
    const index = await fetch(`${base}/console/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(await index.text()).toContain("<title>docket</title>");
    const script = await fetch(`${base}/console/app.js`);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(await script.text()).toBe("console.log('app')");
    const route = await fetch(`${base}/console/instances/order-1`);
    expect(await route.text()).toContain("<title>docket</title>");
    const bare = await fetch(`${base}/console`, { redirect: "manual" });
    expect([bare.status, bare.headers.get("location")]).toEqual([301, "/console/"]);
    // The API itself still wants its token.
    expect((await fetch(`${base}/instances`)).status).toBe(401);
  });

  it("serves nothing outside its folder, nor in a folder of it", async () => {
    for (const path of [
      "/console/..%2f..%2f..%2fpackage.json",
      "/console/sub/hidden.js",
      "/console/.hidden",
    ]) {
      const answer = await fetch(`${base}${path}`);
      expect(await answer.text(), path).toContain("<title>docket</title>");
    }
    // Dots the URL resolves leave the console: the API answers (wanting its token), not a file.
    expect((await fetch(`${base}/console/%2e%2e/%2e%2e/package.json`)).status).toBe(401);
  });

  it("says how to build it when it is not built", async () => {
    const unbuilt = serveApi(engine, { console: `${mkdtempSync(join(tmpdir(), "docket-empty-"))}/` });
    const url = await listen(unbuilt);
    try {
      const answer = await fetch(`${url}/console/`);
      expect(answer.status).toBe(503);
      expect(await answer.text()).toMatch(/npm run build/);
    } finally {
      unbuilt.close();
    }
  });
});

/** Sends a request with the headers given as they are (fetch would set Host and Origin itself). */
function raw(
  url: string,
  method: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const sent = httpRequest(url, { method, headers }, (answer) => {
      let body = "";
      answer.on("data", (chunk) => {
        body += chunk;
      });
      answer.on("end", () => resolve({ status: answer.statusCode ?? 0, body }));
    });
    sent.on("error", reject);
    sent.end(method === "GET" ? undefined : '{"process":"wait"}');
  });
}

/** What a page of another site can make a browser send to the API on localhost, and what it gets. */
async function expectRefusesOtherSites(url: string, headers: Record<string, string> = {}): Promise<void> {
  const port = new URL(url).port;
  const json = { "content-type": "application/json", ...headers };
  // A host name rebound to 127.0.0.1 by another site's DNS: refused, even to read.
  const rebound = await raw(`${url}/instances`, "GET", { ...headers, host: `evil.example:${port}` });
  expect([rebound.status, rebound.body]).toEqual([403, expect.stringContaining("not this machine's")]);
  // A form post or no-cors fetch from another site's page: refused.
  const forged = await raw(`${url}/instances`, "POST", { ...json, origin: "https://evil.example" });
  expect([forged.status, forged.body]).toEqual([403, expect.stringContaining("cannot change anything")]);
  // The console's own page (same origin), and clients that send no Origin, go through.
  const own = await raw(`${url}/instances`, "POST", { ...json, origin: `http://127.0.0.1:${port}` });
  expect(own.status).toBe(202);
  expect((await raw(`${url}/instances`, "POST", { ...json, host: `localhost:${port}` })).status).toBe(202);
}

describe("requests from other sites' pages", () => {
  it("docket serve refuses another host name and another origin's writes", async () => {
    await expectRefusesOtherSites(base, { authorization: `Bearer ${TOKEN}` });
  });
});

/** Reads server-sent events from a stream until `count` have come. */
async function readEvents(body: ReadableStream<Uint8Array>, count: number): Promise<unknown[]> {
  const events: unknown[] = [];
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of body) {
    text += decoder.decode(chunk, { stream: true });
    for (let end = text.indexOf("\n\n"); end >= 0; end = text.indexOf("\n\n")) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const data = /^event: step\ndata: (.*)$/m.exec(block);
      if (data?.[1]) events.push(JSON.parse(data[1]));
      if (events.length === count) return events;
    }
  }
  return events;
}

describe("the change stream", () => {
  it("tells of each step applied, with the instance's status, to a client with the token", async () => {
    expect((await fetch(`${base}/changes`)).status).toBe(401);
    const stream = await fetch(`${base}/changes`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(stream.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const heard = readEvents(stream.body as ReadableStream<Uint8Array>, 2);
    await engine.launch({ process: "wait", id: "w-1" });
    await engine.enqueue("w-1", { type: "operator", action: "cancel", id: "c-1" });
    expect(await heard).toEqual([
      { instance: "w-1", process: "wait", status: "running" },
      { instance: "w-1", process: "wait", status: "canceled" },
    ]);
  });
});

describe("docket console", () => {
  const credentials = {
    accessKeyId: "AKIDEXAMPLE",
    secretAccessKey: "secret-example",
    sessionToken: "session",
  };

  /** Starts `docket console` against `api`; resolves with its URL and a way to stop it. */
  async function startConsole(api: string, env: NodeJS.ProcessEnv) {
    const child = spawn(process.execPath, ["bin/docket.js", "console", "--url", api, "--port", "0"], {
      env: { PATH: process.env.PATH, HOME: "/nonexistent", ...env },
    });
    let log = "";
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on("data", (chunk) => {
        log += chunk;
        const found = /at (http:\/\/127\.0\.0\.1:\d+)\/console\//.exec(log);
        if (found?.[1]) resolve(found[1]);
      });
      child.on("exit", (code) => reject(new Error(`docket console exited ${code}: ${log}`)));
    });
    return { url, stop: () => child.kill("SIGTERM") };
  }

  it("serves the console and relays its API calls to an AWS API signed with SigV4, errors as answered", async () => {
    const requests: Captured[] = [];
    const remote = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => {
        body += chunk;
      });
      request.on("end", () => {
        requests.push({
          method: request.method ?? "",
          url: request.url ?? "",
          headers: request.headers,
          body,
        });
        const missing = request.url?.startsWith("/instances/ghost");
        response
          .writeHead(missing ? 404 : 202, { "content-type": "application/json" })
          .end(
            JSON.stringify(
              missing ? { error: { code: "NoInstance", message: "no instance ghost" } } : { id: "x" },
            ),
          );
      });
    });
    const remoteUrl = await listen(remote);
    const proxy = await startConsole(remoteUrl, {
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_SESSION_TOKEN: credentials.sessionToken,
      DOCKET_SIGV4_REGION: "eu-west-1",
    });
    try {
      expect((await fetch(`${proxy.url}/console`, { redirect: "manual" })).headers.get("location")).toBe(
        "/console/",
      );
      const launched = await fetch(`${proxy.url}/instances`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ process: "order" }),
      });
      expect([launched.status, await launched.json()]).toEqual([202, { id: "x" }]);
      const missing = await fetch(`${proxy.url}/instances/ghost?x=a%20b`);
      const answered = (await missing.json()) as { error: { code: string } };
      expect([missing.status, answered.error.code]).toEqual([404, "NoInstance"]);
      expect((await fetch(`${proxy.url}/changes`)).status).toBe(404);
      expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
        "POST /instances",
        "GET /instances/ghost?x=a%20b",
      ]);
      for (const request of requests) {
        expect(request.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\//);
        expect(await resign(request, credentials)).toBe(request.headers.authorization);
      }
      // Nothing a page of another site sends is signed and relayed.
      const relayed = requests.length;
      await expectRefusesOtherSites(proxy.url);
      expect(requests.length - relayed).toBe(2);
    } finally {
      proxy.stop();
      remote.close();
    }
  });
});

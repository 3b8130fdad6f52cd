/**
 * `docket migrate` against `docket serve`: an instance waiting at an action moves to a version that
 * reorders and adds activities, the worker's reply to the task it was sent before still lands, and
 * the instance goes on in the new version; a batch dry run pages through a process's instances.
 */
import { spawn } from "node:child_process";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveApi } from "../../lib/embedded/api.js";
import type { EmbeddedEngine } from "../../lib/embedded/engine.js";
import { open, project } from "./helpers.js";

const V1 = `context: { total: 0 }
do:
  - action: { participant: reserve, id: reserve }
  - action: { participant: charge, id: charge }
  - action: ship
`;
const V2 = `context: { total: 0, audited: false }
do:
  - action: { participant: reserve, id: reserve }
  - action: { participant: fraud, id: fraud }
  - action: { participant: charge, id: charge }
  - action: { participant: ship, id: ship }
`;

let engine: EmbeddedEngine;
let server: Server;
let url: string;

beforeAll(async () => {
  const { config } = project({ "definitions/order.yaml": V1 });
  engine = await open(config, { participants: false });
  server = serveApi(engine);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await engine.close();
});

/** Runs the CLI without blocking this process, which serves the API it calls. */
function docket(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ["bin/docket.js", ...args, "--url", url]);
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk) => {
    out += chunk;
  });
  child.stderr.on("data", (chunk) => {
    err += chunk;
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, out, err })));
}
const post = (path: string, body: unknown) =>
  fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

describe("docket migrate, embedded", () => {
  it("moves a waiting instance by its stable ids; the task sent before is answered into the new version", async () => {
    for (const id of ["m-1", "m-2"]) await engine.launch({ process: "order", id });
    for (const id of ["m-1", "m-2"]) {
      await engine.settleInstance(id);
      await engine.reply({
        task: { id: `${id}/0.0/1`, instance: id, node: "0.0", attempt: 1 },
        status: "done",
      });
      await engine.settleInstance(id);
    }
    const v2 = await engine.definitions.register("order.yaml", V2);
    if (!v2.ok) throw new Error(String(v2.problems));

    const dry = await docket("migrate", "--process", "order", "--to", v2.hash.slice(0, 8), "--dry-run");
    expect([dry.code, dry.err]).toEqual([0, ""]);
    expect(dry.out).toMatch(
      /m-2 {2}\w{8} -> \w{8} {2}planned\n {2}moves action 0\.1 -> 0\.2\n {2}adds 0\.audited/,
    );
    expect(dry.out).toMatch(/2 planned, 0 applied, 0 queued, 0 blocked/);
    expect((await engine.snapshot("m-1"))?.version).not.toBe(v2.hash);

    const moved = await docket("migrate", "m-1", "--to", "latest");
    expect([moved.code, moved.out]).toEqual([0, expect.stringMatching(/m-1 .* applied/)]);
    const shown = (await (await fetch(`${url}/instances/m-1`)).json()) as {
      version: string;
      context: { audited: boolean };
      active: { node: string }[];
    };
    expect([shown.version, shown.context.audited, shown.active[1]?.node]).toEqual([v2.hash, false, "0.2"]);

    // The charge task was sent at 0.1 under V1; its reply still says so.
    const answered = await post("/replies", {
      task: { id: "m-1/0.1/1", instance: "m-1", node: "0.1", attempt: 1 },
      status: "done",
      fields: { charged: true },
    });
    expect(answered.status).toBe(202);
    const after = await engine.settleInstance("m-1");
    expect(after?.nodes.find(([path]) => path === "0.3")?.[1]).toMatchObject({
      k: "action",
      task: "m-1/0.3/1",
    });
    const history = (await (await fetch(`${url}/instances/m-1/history`)).json()) as {
      records: { message: { type: string } }[];
    };
    const migrated = history.records.find((r: { message: { type: string } }) => r.message.type === "migrate");
    expect(migrated?.message).toMatchObject({ to: v2.hash, from: expect.any(String) });

    const refused = await docket("migrate", "m-1", "--to", "latest");
    expect(refused.code).toBe(2);
    expect(refused.out).toMatch(
      /^m-1 {2}\w{8} -> \w{8} {2}blocked\n {2}blocked: instance m-1 is on version \w+ already/,
    );
    // Any other error answer is printed as every client command prints one.
    const unknown = await docket("migrate", "nope", "--to", "latest");
    expect([unknown.code, unknown.err]).toEqual([2, "docket: no instance nope (HTTP 404)\n"]);
  });
});

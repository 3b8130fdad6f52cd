/**
 * Versions visible and reversible on the embedded host: the instances pinned to each version,
 * `latest` moved back (and kept back across a restart that reads the folder again), a version
 * deleted only when it is not latest and nothing pins it; and `docket definitions` over the API.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embeddedOperations, serveApi } from "../../lib/embedded/api.js";
import { openDatabase } from "../../lib/embedded/database.js";
import { SqliteDefinitionStore } from "../../lib/embedded/definitions.js";
import type { EmbeddedEngine } from "../../lib/embedded/engine.js";
import type { OperationsPort } from "../../lib/runtime/operations.js";
import { PIN_COUNT_CAP } from "../../lib/runtime/versions.js";
import { ended } from "../support/cli.js";
import { open, project } from "./helpers.js";

/** Waits for `go` keyed by the instance's ref; a comment tells the versions apart. */
const source = (marker: string) =>
  `# ${marker}\ncontext: { ref: "" }\ndo:\n  - await: { event: go, key: context.ref }\n`;

const BIN = `${process.cwd()}/bin/docket.js`;

describe("definition versions on the embedded host", () => {
  const { dir, config } = project({ "definitions/order.yaml": source("v1") });
  const file = join(dir, "definitions", "order.yaml");
  let engine: EmbeddedEngine;
  let ops: OperationsPort;

  const reopen = async () => {
    await engine?.close();
    engine = await open(config, { participants: false });
    ops = embeddedOperations(engine);
  };
  const order = async () => {
    const { processes } = await ops.definitions({ process: "order" });
    expect(processes).toHaveLength(1);
    return processes[0] as (typeof processes)[number];
  };
  const launch = async (id: string) => {
    await ops.launch({ process: "order", id, fields: { ref: id } });
    await engine.idle();
    return (await ops.show(id)).version;
  };

  beforeAll(reopen);
  afterAll(() => engine?.close());

  it("counts the instances pinned to each version, and the unfinished among them", async () => {
    const v1 = (await order()).hash;
    expect(await launch("a1")).toBe(v1);
    await launch("a2");
    await launch("a3");
    await ops.publish({ name: "go", key: "a3" });
    await engine.idle();
    writeFileSync(file, source("v2"));
    await reopen();
    const listed = await order();
    const v2 = listed.hash;
    expect(v2).not.toBe(v1);
    expect(listed.registered).toBe(v2);
    expect(listed.versions).toEqual([
      { hash: v2, registeredAt: expect.any(Number), pinned: 0, unfinished: 0, capped: false },
      { hash: v1, registeredAt: expect.any(Number), pinned: 3, unfinished: 2, capped: false },
    ]);
    // A deleted instance no longer pins its version.
    await ops.remove("a3");
    expect((await order()).versions[1]).toMatchObject({ pinned: 2, unfinished: 2 });
  });

  it("moves latest back; a restart reading the same file keeps it back, a changed file moves it on", async () => {
    const [v2, v1] = (await order()).versions.map((v) => v.hash) as [string, string];
    expect(await ops.setLatest("order", v1.slice(0, 5))).toEqual({ name: "order", hash: v1, previous: v2 });
    expect(await launch("b1")).toBe(v1);
    expect(await ops.setLatest("order", v1)).toEqual({ name: "order", hash: v1, previous: v1 });
    await reopen();
    expect(await order()).toMatchObject({ hash: v1, registered: v2 });
    expect(await launch("b2")).toBe(v1);
    // Launching the newer version by name still works while latest is back.
    await ops.launch({ process: "order", version: v2, id: "b3", fields: { ref: "b3" } });
    await engine.idle();
    expect((await ops.show("b3")).version).toBe(v2);

    writeFileSync(file, source("v3"));
    await reopen();
    const listed = await order();
    expect(listed.hash).toBe(listed.registered);
    expect(listed.versions.map((v) => v.hash).slice(1)).toEqual([v2, v1]);
    expect(await launch("b4")).toBe(listed.hash);
  });

  it("deletes only a version that is not latest and that no instance pins", async () => {
    const [v3, v2, v1] = (await order()).versions.map((v) => v.hash) as [string, string, string];
    await expect(ops.deleteVersion("order", v3)).rejects.toMatchObject({
      code: "NotApplicable",
      message: expect.stringMatching(/is the latest of order: move latest to another version first/),
    });
    await expect(ops.deleteVersion("order", v1)).rejects.toMatchObject({
      code: "NotApplicable",
      message: `version ${v1.slice(0, 8)} of order is pinned by 4 instances (4 unfinished): delete or migrate them first`,
    });
    await expect(ops.deleteVersion("order", v2)).rejects.toThrow(/pinned by 1 instance \(1 unfinished\)/);
    await ops.operate("b3", "cancel", {});
    await ops.remove("b3");
    await ops.deleteVersion("order", v2.slice(0, 10));
    expect((await order()).versions.map((v) => v.hash)).toEqual([v3, v1]);
    await expect(ops.definition("order", v2)).rejects.toMatchObject({ code: "UnknownDefinition" });
    await expect(ops.setLatest("order", v2)).rejects.toMatchObject({
      code: "UnknownDefinition",
      message: expect.stringMatching(/^process order has no version [0-9a-f]+ \(its versions: /),
    });
  });

  it("names what it cannot find, and a prefix that names several versions", async () => {
    await expect(ops.setLatest("nope", "abc")).rejects.toMatchObject({
      code: "UnknownProcess",
      message: "no process nope",
    });
    await expect(ops.deleteVersion("nope", "abc")).rejects.toMatchObject({ code: "UnknownProcess" });
    // Seventeen versions: two of them share their first hex digit.
    const hashes: string[] = [];
    for (let i = 0; i < 17; i++) {
      const registered = await engine.definitions.register("many.yaml", source(`m${i}`));
      if (registered.ok) hashes.push(registered.hash);
    }
    const shared = hashes.find((h, i) => hashes.some((other, j) => j !== i && other[0] === h[0])) as string;
    const ambiguous = {
      code: "AmbiguousVersion",
      message: expect.stringMatching(
        /^version . of many is ambiguous: .* begin with it; give more of the hash$/,
      ),
    };
    await expect(ops.setLatest("many", shared.slice(0, 1))).rejects.toMatchObject(ambiguous);
    // Reading a version and launching one say so too (not "no such version").
    await expect(ops.definition("many", shared.slice(0, 1))).rejects.toMatchObject(ambiguous);
    await expect(ops.launch({ process: "many", version: shared.slice(0, 1) })).rejects.toMatchObject(
      ambiguous,
    );
    expect((await ops.definition("many", shared)).hash).toBe(shared);
    // A prefix is the hash's own text, as on AWS: not a LIKE pattern.
    await expect(ops.definition("many", "%")).rejects.toMatchObject({ code: "UnknownDefinition" });
  });
});

describe("pins counted no further than the cap", () => {
  it("says a count is capped once it reads PIN_COUNT_CAP instances", async () => {
    const db = openDatabase(":memory:");
    const store = new SqliteDefinitionStore(db);
    const insert = db.prepare(
      "INSERT INTO instances (id, process, status, version, snapshot, outbox, definition, created_at, updated_at) VALUES (?, 'p', ?, 1, '{}', '[]', ?, 0, 0)",
    );
    db.transaction(() => {
      for (let i = 0; i < PIN_COUNT_CAP + 5; i++) insert.run(`i${i}`, "running", "big");
      insert.run("small-1", "suspended", "small");
      insert.run("small-2", "faulted", "small");
    })();
    expect(store.pins("big")).toEqual({ pinned: PIN_COUNT_CAP, unfinished: PIN_COUNT_CAP, capped: true });
    expect(store.pins("small")).toEqual({ pinned: 2, unfinished: 1, capped: false });
    db.close();
  });
});

describe("docket definitions", () => {
  const { config } = project({ "definitions/ship.yaml": source("s1") });
  let engine: EmbeddedEngine;
  let url: string;
  let close: () => void;

  const docket = async (...args: string[]) =>
    ended(
      spawn(process.execPath, [BIN, ...args, "--url", url], {
        env: { ...process.env, DOCKET_API_TOKEN: "" },
      }),
    );

  beforeAll(async () => {
    engine = await open(config, { participants: false });
    const server = serveApi(engine);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
    await engine.definitions.register("broken.yaml", "do: [ { nonsense: 1 } ]\n");
  });
  afterAll(async () => {
    close?.();
    await engine?.close();
  });

  it("lists, moves latest back and deletes a version, refusing what does not apply", async () => {
    const s1 = (await engine.definitions.resolve("ship"))?.hash as string;
    await embeddedOperations(engine).launch({ process: "ship", id: "c1", fields: { ref: "c1" } });
    await engine.idle();
    const s2 = ((await engine.definitions.register("ship.yaml", source("s2"))) as { hash: string }).hash;

    const listed = await docket("definitions");
    expect(listed.code).toBe(0);
    expect(listed.out).toMatch(
      new RegExp(
        `^ship {2}latest ${s2.slice(0, 8)}\\n {2}\\* ${s2.slice(0, 8)} {2}\\S+Z {2}pinned by none\\n {4}${s1.slice(0, 8)} {2}\\S+Z {2}pinned by 1 \\(1 unfinished\\)\\nbroken {2}rejected: broken\\.yaml:`,
      ),
    );

    const moved = await docket("definitions", "latest", "ship", s1.slice(0, 8));
    expect(moved).toMatchObject({ code: 0, out: `ship: latest ${s2.slice(0, 8)} -> ${s1.slice(0, 8)}\n` });
    const json = JSON.parse((await docket("definitions", "--process", "ship", "--json")).out);
    expect(json).toEqual({
      processes: [expect.objectContaining({ name: "ship", hash: s1, registered: s2 })],
      rejected: [],
    });
    expect((await docket("definitions", "--process", "ship")).out).toContain(
      `ship  latest ${s1.slice(0, 8)}, rolled back: the source last registered is ${s2.slice(0, 8)}\n`,
    );

    const latest = await docket("definitions", "delete", "ship", s1);
    expect(latest.code).toBe(2);
    expect(latest.err).toMatch(/is the latest of ship: move latest to another version first .*\(HTTP 409\)/);
    expect(await docket("definitions", "delete", "ship", s2, "--json")).toMatchObject({
      code: 0,
      out: `${JSON.stringify({ name: "ship", version: s2, deleted: true }, null, 2)}\n`,
    });
    // The folder's file still holds s2: registered again (a restart), it brings nothing back.
    await engine.definitions.register("ship.yaml", source("s2"));
    expect((await embeddedOperations(engine).definitions({ process: "ship" })).processes[0]).toMatchObject({
      hash: s1,
      versions: [{ hash: s1 }],
    });
    expect((await docket("definitions", "--process", "ship")).out).toContain(
      `ship  latest ${s1.slice(0, 8)}, rolled back: the source last registered is ${s2.slice(0, 8)} (deleted)\n`,
    );
    const unknown = await docket("definitions", "latest", "ship", "ffffffff");
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/process ship has no version ffffffff .*\(HTTP 404\)/);
    const misused = await docket("definitions", "latest", "ship", s1, "--process", "x");
    expect(misused).toMatchObject({
      code: 2,
      err: expect.stringMatching(/--process applies to the listing only/),
    });
    expect((await docket("definitions", "delete", "ship")).code).toBe(2);
  }, 60_000);
});

/**
 * The bad-input corpus: definitions, replies, HTTP API requests and command lines that must be
 * refused, each with its expected error text (test/corpus/*.yaml, plus generated ones: bombs, deep
 * nesting, huge files). All of it is thrown at one running engine, whose live instance must come
 * out of it untouched.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { serveApi } from "../../lib/embedded/api.js";
import type { EmbeddedEngine } from "../../lib/embedded/engine.js";
import type { TaskCommand } from "../../lib/engine/types.js";
import { readDefinition } from "../../lib/language/index.js";
import { open, project, until } from "../embedded/helpers.js";

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const corpus = <T>(name: string): T[] => parse(readFileSync(here(name), "utf8")) as T[];
const TWO_MB = "x".repeat(2 * 1024 * 1024 + 100);

interface DefinitionCase {
  readonly file: string;
  readonly source: string;
  readonly expect: string;
}

const deepXml = (n: number) => `<process>${"<sequence>".repeat(n)}${"</sequence>".repeat(n)}</process>`;
const deepYaml = (n: number) =>
  `do:\n${Array.from({ length: n }, (_, i) => `${" ".repeat(2 + i * 2)}- sequence:\n`).join("")}${" ".repeat(2 + n * 2)}- action: a\n`;
const GENERATED: DefinitionCase[] = [
  {
    file: "laughs.xml",
    source: `<!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ""};`.repeat(10)}">`).join("")}]><process>&lol9;</process>`,
    expect: "DTDs (<!DOCTYPE …>) are not allowed",
  },
  { file: "deep.xml", source: deepXml(100), expect: "<sequence> nests deeper than the limit of 64 levels" },
  {
    file: "deep.yaml",
    source: deepYaml(80),
    expect: "deep.yaml:82:165: activities nest 81 levels deep; the limit is 64",
  },
  {
    file: "big.xml",
    source: `<process>${'<action participant="a"/>'.repeat(60_000)}</process>`,
    expect: "big.xml: the file is 1500019 bytes; the limit is 1048576 bytes",
  },
  {
    file: "big.yaml",
    source: `do:\n${"  - action: a\n".repeat(100_000)}`,
    expect: "the limit is 1048576 bytes",
  },
  { file: "nul.xml", source: "<process>\u0000</process>", expect: "nul.xml:1:10: disallowed character" },
  { file: "binary.yaml", source: "\u0000\u0001\u0002", expect: "must be a map" },
  { file: "flow.yaml", source: `do: ${"[".repeat(200)}${"]".repeat(200)}`, expect: "do[0] must be a map" },
  {
    file: "costly.yaml",
    source:
      'do:\n  - while: { condition: "context.a.map(x, context.a.map(y, context.a.map(z, 1))).size() > 0", do: [] }\n',
    expect: "comprehensions (map, filter, all, exists, exists_one) nest 3 deep; the limit is 2",
  },
  {
    file: "redos.yaml",
    source: "do:\n  - while: { condition: \"context.s.matches('(a+)+$')\", do: [] }\n",
    expect: 'matches() pattern "(a+)+$" nests quantifiers',
  },
  {
    file: "regex-from-data.yaml",
    source: 'do:\n  - while: { condition: "context.s.matches(context.p)", do: [] }\n',
    expect: "matches() needs a literal pattern",
  },
];
const DEFINITIONS = [...corpus<DefinitionCase>("definitions.yaml"), ...GENERATED];

let engine: EmbeddedEngine;
let base: string;
let stopServer: () => void;
let liveTask: TaskCommand["task"];
let before: string;

const live = async () => JSON.stringify((await engine.store.load("live-1"))?.snapshot);

beforeAll(async () => {
  const { config } = project({ "definitions/hold.yaml": "do: [ { action: held }, { action: after } ]\n" });
  engine = await open(config, { log: () => {} });
  await engine.launch({ process: "hold", id: "live-1" });
  liveTask = (await until(() => engine.queues.claim("held", 3_600_000))).task;
  await engine.idle();
  before = await live();
  const server = serveApi(engine);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  stopServer = () => server.close();
});

afterAll(async () => {
  stopServer();
  await engine.close();
});

describe(`the bad-input corpus: ${DEFINITIONS.length} definitions`, () => {
  it.each(DEFINITIONS.map((c) => [c.file, c.source.slice(0, 60), c]))("%s %j", async (_f, _s, c) => {
    expect(() => readDefinition(c.source, { file: c.file })).toThrow(c.expect);
    // Dropped in the definitions folder (or the bucket), it is recorded as rejected with the same text.
    const registration = await engine.definitions.register(c.file, c.source);
    expect(registration.ok).toBe(false);
    if (!registration.ok) expect(registration.problems.join("\n")).toContain(c.expect);
  });
});

interface ReplyCase {
  readonly reply: unknown;
  readonly expect?: string;
  readonly note?: string;
}

/** `$task` is the live instance's open task; `$2mb` a string over the message limit. */
function substitute(value: unknown): unknown {
  if (value === "$task") return liveTask;
  if (value === "$2mb") return TWO_MB;
  if (Array.isArray(value)) return value.map(substitute);
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v)]));
  return value;
}

const REPLIES = corpus<ReplyCase>("replies.yaml");
describe(`the bad-input corpus: ${REPLIES.length} replies`, () => {
  it.each(REPLIES.map((c) => [JSON.stringify(c.reply).slice(0, 90), c]))("%s", async (_name, c) => {
    const reply = substitute(c.reply);
    if (c.expect) {
      await expect(engine.reply(reply)).rejects.toThrow(c.expect);
      return;
    }
    const seen = (await engine.store.history("live-1", { limit: 1000 })).records.length;
    await engine.reply(reply);
    await engine.idle();
    const records = (await engine.store.history("live-1", { after: seen, limit: 1000 })).records;
    expect(records.flatMap((r) => r.notes.map((n) => n.reason)).join("\n")).toContain(c.note);
  });
});

interface ApiCase {
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  readonly raw?: string;
  readonly type?: string;
  readonly status: number;
  readonly expect: string;
  readonly note?: string;
}

const API = corpus<ApiCase>("api.yaml");
describe(`the bad-input corpus: ${API.length} HTTP API requests`, () => {
  it.each(API.map((c) => [`${c.method} ${c.path}`, c.status, c]))("%s → %i", async (_name, _status, c) => {
    const body =
      c.raw !== undefined
        ? String(substitute(c.raw))
        : c.body === undefined
          ? undefined
          : JSON.stringify(c.body);
    const response = await fetch(`${base}${c.path}`, {
      method: c.method,
      headers: { "content-type": c.type ?? "application/json" },
      body,
    });
    const raw = await response.text();
    // Errors are JSON: { error: { code, message } }.
    const error =
      response.status >= 400
        ? (JSON.parse(raw) as { error: { code: string; message: string } }).error
        : undefined;
    const text = error ? `${error.code}: ${error.message}` : raw;
    expect({ status: response.status, text }).toMatchObject({
      status: c.status,
      text: expect.stringContaining(c.expect),
    });
    if (c.note) {
      await engine.idle();
      const records = (await engine.store.history("live-1", { limit: 1000 })).records;
      expect(records.flatMap((r) => r.notes.map((n) => n.reason))).toContain(c.note);
    }
  });
});

interface CliCase {
  readonly args: readonly string[];
  readonly exit: number;
  readonly expect: string;
}

function cli(args: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [here("../../bin/docket.js"), ...args], { cwd: here("files") });
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
    });
    child.stderr.on("data", (d) => {
      output += d;
    });
    child.on("close", (code) => resolve({ code, output }));
  });
}

const CLI = corpus<CliCase>("cli.yaml");
describe(`the bad-input corpus: ${CLI.length} command lines`, () => {
  it.concurrent.each(CLI.map((c) => [c.args.join(" ") || "(none)", c]))("docket %s", async (_name, c) => {
    const { code, output } = await cli(c.args);
    expect({ code, output }).toMatchObject({ code: c.exit, output: expect.stringContaining(c.expect) });
    expect(output).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m); // never a stack trace
  });
});

describe("after the whole corpus", () => {
  it("the live instance is untouched, and takes its real reply", async () => {
    await engine.idle();
    expect(await live()).toBe(before);
    await engine.reply({ task: liveTask, status: "done", fields: { held: true } });
    await until(() => engine.queues.claim("after", 60_000));
    expect((await engine.store.load("live-1"))?.snapshot.status).toBe("running");
  });
});

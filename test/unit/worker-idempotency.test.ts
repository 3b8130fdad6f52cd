import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { WireReply } from "../../lib/runtime/wire.js";
import { sqliteIdempotency } from "../../lib/worker/idempotency.js";

const reply = (n: number): WireReply => ({
  task: { id: "i-1/0.0/1", instance: "i-1", node: "0.0", participant: "p", attempt: 1 },
  status: "done",
  fields: { n },
});

describe("the SQLite idempotency store", () => {
  it("keeps the first reply for a task, across a reopen, until it expires", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "docket-idem-")), "replies.sqlite");
    const store = sqliteIdempotency(path);
    expect(await store.get("i-1/0.0/1")).toBeUndefined();
    expect(await store.put("i-1/0.0/1", reply(1))).toEqual(reply(1));
    // A second worker that ran the task too answers with the reply kept first.
    expect(await store.put("i-1/0.0/1", reply(2))).toEqual(reply(1));
    expect(await sqliteIdempotency(path).get("i-1/0.0/1")).toEqual(reply(1));
    const expired = sqliteIdempotency(path, { days: -1 });
    await expired.put("i-2/0.0/1", reply(3));
    expect(await expired.get("i-2/0.0/1")).toBeUndefined();
  });
});

/**
 * Listing from the sharded status index (lib/aws/listing.ts) on the emulator: instances launched
 * through the runtime land in every shard of three statuses; a listing merges the shards newest
 * first (ties by id), its cursor resumes exactly where a page stopped, status and process filters
 * hold across pages, and a page reads about its share from each partition, not `limit` from each.
 */
import { beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import { LISTING_SHARDS, listingKey } from "../../lib/aws/listing.js";
import type { InstanceStatus } from "../../lib/engine/types.js";
import { type InstanceFilter, type InstanceSummary, listCursor } from "../../lib/ports.js";
import { hearCalls } from "../support/sdk-calls.js";
import { emulatorClients } from "./emulator.js";
import { provisioning } from "./roles.js";

const admin = emulatorClients(inject("endpoint"));
let deps: AwsDeps;
let clock = Date.UTC(2026, 0, 1);
const launched: { id: string; process: string; status: InstanceStatus; createdAt: number }[] = [];
/** The status index's Query calls, and the items they returned. */
const reads = { queries: 0, items: 0 };

beforeAll(async () => {
  const resources = await provisionEngine(provisioning(admin), `ls${Date.now().toString(36)}`);
  hearCalls(admin.dynamo, {
    answered: ({ input, output }) => {
      if (!input.IndexName || !output) return;
      reads.queries++;
      reads.items += (output.Items as unknown[] | undefined)?.length ?? 0;
    },
  });
  deps = makeAwsDeps(admin, resources, () => clock);
  await deps.definitions.register("lst/holding.yaml", "do: [ { action: hold } ]\n");
  await deps.definitions.register(
    "lst/instant.yaml",
    "context: { bad: false }\ndo:\n  - switch: [ { when: context.bad, do: [ { fault: { code: Bad } } ] } ]\n",
  );
  // 96 instances: half running, a quarter each completed and faulted; every fourth shares the
  // previous one's creation time, so ties are ordered by id. Each launch is applied as the advance
  // function applies it, at the test's clock.
  for (let i = 0; i < 96; i++) {
    if (i % 4) clock += 1000;
    const id = `lst-${String((i * 37) % 96).padStart(2, "0")}`;
    const holding = i % 2 === 0;
    const bad = i % 4 === 1;
    const process = holding ? "lst/holding" : "lst/instant";
    const version = (await deps.definitions.resolve(process))?.hash as string;
    const fields = holding ? {} : { fields: { bad } };
    await deps.runtime.apply(
      id,
      { type: "launch", instance: id, version, process, ...fields },
      `launch-${id}`,
    );
    const status = holding ? "running" : bad ? "faulted" : "completed";
    launched.push({ id, process, status, createdAt: clock });
  }
}, 180_000);

/** Newest first, ties by id descending: the order the cursor defines. */
const newestFirst = (a: { createdAt: number; id: string }, b: { createdAt: number; id: string }) =>
  listCursor(b).localeCompare(listCursor(a));

/** Every page of a listing, `limit` a page, each after the last one's cursor. */
async function pages(filter: InstanceFilter, limit: number): Promise<InstanceSummary[][]> {
  const all: InstanceSummary[][] = [];
  let after: string | undefined;
  for (;;) {
    const page = await deps.runtime.deps.store.list({ ...filter, limit, ...(after ? { after } : {}) });
    all.push(page);
    if (page.length < limit) return all;
    after = listCursor(page[page.length - 1] as InstanceSummary);
  }
}

describe("listing over the sharded status index", () => {
  it("spreads the instances over every shard of their status", () => {
    expect(new Set(launched.map((x) => x.status))).toEqual(new Set(["running", "completed", "faulted"]));
    const partitions = new Set(launched.map((x) => listingKey(x.status, x.id)));
    expect(partitions.size).toBe(3 * LISTING_SHARDS);
  });

  it("pages through every status newest first; each page resumes exactly after the last", async () => {
    const expected = [...launched].sort(newestFirst);
    const all = await pages({}, 10);
    expect(all.slice(0, -1).every((page) => page.length === 10)).toBe(true);
    const listed = all.flat();
    expect(listed.map((x) => x.id)).toEqual(expected.map((x) => x.id));
    expect(listed.map((x) => [x.status, x.process, x.createdAt])).toEqual(
      expected.map((x) => [x.status, x.process, x.createdAt]),
    );
  });

  it("keeps a status and a process filter across pages", async () => {
    for (const status of ["running", "completed", "faulted"] as const) {
      const wanted = launched.filter((x) => x.status === status).sort(newestFirst);
      expect((await pages({ status }, 8)).flat().map((x) => x.id)).toEqual(wanted.map((x) => x.id));
    }
    const instant = launched.filter((x) => x.process === "lst/instant").sort(newestFirst);
    expect((await pages({ process: "lst/instant" }, 12)).flat().map((x) => x.id)).toEqual(
      instant.map((x) => x.id),
    );
    const faulted = instant.filter((x) => x.status === "faulted");
    expect((await pages({ process: "lst/instant", status: "faulted" }, 7)).flat().map((x) => x.id)).toEqual(
      faulted.map((x) => x.id),
    );
    expect((await pages({ process: "lst/nothing" }, 4)).flat()).toEqual([]);
  });

  it("reads about a page's worth, not the limit from every partition", async () => {
    Object.assign(reads, { queries: 0, items: 0 });
    const page = await deps.runtime.deps.store.list({ status: "running", limit: 5 });
    expect(page).toHaveLength(5);
    // Eight partitions of about six running instances each: the limit from each would be 40 items.
    expect(reads.items).toBeLessThan(5 * LISTING_SHARDS);
    expect(reads.queries).toBeLessThanOrEqual(2 * LISTING_SHARDS);
    console.log(`a page of 5 running: ${reads.queries} queries, ${reads.items} items read`);
  });
});

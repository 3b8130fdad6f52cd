/**
 * Docket upgrades on the emulator: instances an earlier docket stored (snapshot format 1) run to
 * their end on this one; an instance whose steps were written under semantics 1 is replayed under
 * semantics 1 (the DynamoDB store keeps a snapshot only every 20 steps and replays the rest), and
 * finishes under semantics 2.
 */
import { DeleteCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import { sentKey } from "../../lib/aws/history.js";
import { instanceKey } from "../../lib/aws/table.js";
import type { Command, Message } from "../../lib/engine/types.js";
import { Runtime } from "../../lib/runtime/runtime.js";
import { DAY, driveToEnd, formatOne, RETRYING, timerDelays } from "../support/upgrade.js";
import { emulatorClients } from "./emulator.js";
import { provisioning } from "./roles.js";

const clients = emulatorClients(inject("endpoint"));
let resources: Provisioned;
let now = Date.parse("2026-03-01T00:00:00Z");
/** A docket process: its own store, whose cache has seen nothing another wrote. */
const fresh = (): AwsDeps => makeAwsDeps(clients, resources, () => now);

beforeAll(async () => {
  resources = await provisionEngine(provisioning(clients), `upg${Date.now().toString(36)}`, {});
}, 120_000);

describe("an engine upgrade, on the emulator", () => {
  it("runs each instance an earlier docket stored (format 1) to its end", async () => {
    const fixtures = formatOne();
    const writer = fresh();
    const registered = await writer.definitions.register("upgrade.yaml", fixtures.source);
    expect(registered.ok && registered.hash).toBe(fixtures.hash);
    const record = { at: 0, message: { type: "launch", instance: "x" } as Message, commands: [], notes: [] };
    for (const stored of Object.values(fixtures.snapshots))
      await writer.runtime.deps.store.save(
        { snapshot: stored as never, outbox: [], definition: fixtures.hash },
        record,
        undefined,
      );
    const reader = fresh();
    for (const id of Object.keys(fixtures.snapshots)) {
      const load = async () => (await reader.runtime.deps.store.load(id))?.snapshot;
      expect([(await load())?.format, (await load())?.semantics]).toEqual([2, 1]);
      const apply = async (message: Message) => void (await reader.runtime.apply(id, message));
      const ended = await driveToEnd(id, load, apply);
      expect([id, ended.status, ended.semantics]).toEqual([id, "completed", 2]);
    }
  }, 120_000);

  it("replays steps written under semantics 1 under semantics 1, and takes the next under 2", async () => {
    const first = fresh();
    const registered = await first.definitions.register("flaky.yaml", RETRYING);
    if (!registered.ok) throw new Error(String(registered.problems));
    const before = new Runtime({ ...first.runtime.deps, semantics: 1 });
    const id = `r-${Date.now().toString(36)}`;
    const fail = (attempt: number): Message => ({
      type: "reply",
      task: { id: `${id}/0.0/${attempt}`, node: "0.0", attempt, instance: id },
      status: "error",
      error: { message: "busy" },
    });
    const fire = async (runtime: Runtime, after: number) => {
      now += after;
      const state = (await runtime.deps.store.load(id))?.snapshot.nodes.find(([path]) => path === "0.0")?.[1];
      const timer = state?.k === "action" ? (state.timer as string) : "";
      await runtime.apply(id, { type: "timer", node: "0.0", timer });
    };
    await before.apply(id, { type: "launch", instance: id, version: registered.hash, process: "flaky" });
    await before.apply(id, fail(1));
    await fire(before, DAY);
    await before.apply(id, fail(2)); // semantics 1: the backoff doubles, to two days
    const failedAt = now;
    // As if the process died before sending that step's commands: the next load replays them.
    await clients.dynamo.send(
      new DeleteCommand({
        TableName: resources.table,
        Key: { pk: instanceKey(id), sk: sentKey(4) },
      }),
    );

    const after = fresh().runtime;
    const replayed = await after.deps.store.load(id);
    expect(replayed?.version).toBe(4);
    const timer = replayed?.outbox.find((c): c is Extract<Command, { type: "timer" }> => c.type === "timer");
    expect(timer?.due).toBe(failedAt + 2 * DAY); // not one day: the step is replayed as it was applied
    await fire(after, 2 * DAY);
    await after.apply(id, fail(3)); // semantics 2: four days capped at one
    await fire(after, DAY);
    await after.apply(id, {
      type: "reply",
      task: { id: `${id}/0.0/4`, node: "0.0", attempt: 4, instance: id },
      status: "done",
    });
    const done = (await after.deps.store.load(id))?.snapshot;
    expect([done?.status, done?.semantics]).toEqual(["completed", 2]);
    const history = await after.deps.store.history(id);
    expect(timerDelays(history.records)).toEqual([DAY, 2 * DAY, DAY]);
  }, 120_000);
});

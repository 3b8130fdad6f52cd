/**
 * `docket migrate` on the emulator: an instance waiting at an action moves to a version that
 * inserts an activity before it; the head names the new definition (listings, the byDefinition
 * index, and a replay from it); a docket process that never saw the instance loads it there and
 * takes the reply to the task sent before into the new version.
 */
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type AwsDeps, makeAwsDeps } from "../../lib/aws/deps.js";
import { instanceKey } from "../../lib/aws/table.js";
import type { Message } from "../../lib/engine/types.js";
import { migrateInstance } from "../../lib/runtime/migrations.js";
import { emulatorClients } from "./emulator.js";
import { provisioning } from "./roles.js";

const clients = emulatorClients(inject("endpoint"));
let resources: Provisioned;
const fresh = (): AwsDeps => makeAwsDeps(clients, resources);

const V1 =
  "do:\n  - action: { participant: reserve, id: reserve }\n  - action: { participant: charge, id: charge }\n";
const V2 = `context: { audited: false }
do:
  - action: { participant: reserve, id: reserve }
  - action: { participant: fraud, id: fraud }
  - action: { participant: charge, id: charge }
  - action: ship
`;

beforeAll(async () => {
  resources = await provisionEngine(provisioning(clients), `mig${Date.now().toString(36)}`, {});
}, 120_000);

describe("docket migrate, on the emulator", () => {
  it("moves a waiting instance, rewrites its head, and a fresh process continues it in the new version", async () => {
    const first = fresh();
    const v1 = await first.definitions.register("order.yaml", V1);
    if (!v1.ok) throw new Error(String(v1.problems));
    const id = `m-${Date.now().toString(36)}`;
    const apply = (deps: AwsDeps, message: Message) => deps.runtime.apply(id, message);
    await apply(first, { type: "launch", instance: id, version: v1.hash, process: "order" });
    await apply(first, {
      type: "reply",
      task: { id: `${id}/0.0/1`, node: "0.0", attempt: 1 },
      status: "done",
    });
    const v2 = await first.definitions.register("order.yaml", V2);
    if (!v2.ok) throw new Error(String(v2.problems));

    const { store, definitions } = first.runtime.deps;
    const enqueue = async (instance: string, message: Message) =>
      void (await first.runtime.apply(instance, message));
    const report = await migrateInstance({ store, definitions, enqueue, waitMs: 0 }, id, { to: "latest" });
    expect(report).toMatchObject({
      state: "applied",
      moves: [{ from: "0.1", to: "0.2", kind: "action" }],
      added: ["0.audited"],
    });
    const head = await clients.dynamo.send(
      new GetCommand({ TableName: resources.table, Key: { pk: instanceKey(id), sk: "HEAD" } }),
    );
    expect(head.Item?.definition).toBe(v2.hash);

    const later = fresh();
    const loaded = await later.runtime.deps.store.load(id);
    expect([loaded?.definition, loaded?.snapshot.version]).toEqual([v2.hash, v2.hash]);
    await apply(later, {
      type: "reply",
      task: { id: `${id}/0.1/1`, node: "0.1", attempt: 1 },
      status: "done",
    });
    const after = (await later.runtime.deps.store.load(id))?.snapshot;
    expect(after?.nodes.find(([path]) => path === "0.3")?.[1]).toMatchObject({
      k: "action",
      task: `${id}/0.3/1`,
    });
    expect(after?.scopes[0]?.[1]).toMatchObject({ audited: false });
  }, 120_000);
});

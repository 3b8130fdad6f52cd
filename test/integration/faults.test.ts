/**
 * The AWS adapters under faults, on the emulator: failures and kills at port calls of the advance
 * loop, replies answered out of order and twice, an event published twice. Every run ends as the
 * fault-free one (test/soak/aws-harness.ts; `npm run soak` with AWS_ENDPOINT_URL runs every call).
 */
import { beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type AwsClients, makeAwsDeps } from "../../lib/aws/deps.js";
import type { Fault } from "../../lib/runtime/faults.js";
import { AWS_MIX, runAwsMix } from "../soak/aws-harness.js";
import { emulatorClients, emulatorConfig } from "./emulator.js";

const config = emulatorConfig(inject("endpoint"));
const clients: AwsClients = emulatorClients(config.endpoint);
let resources: Provisioned;
const run = Date.now().toString(36);

beforeAll(async () => {
  resources = await provisionEngine(clients, `flt${run}`);
  await makeAwsDeps(clients, resources).definitions.register("awsmix.yaml", AWS_MIX);
});

describe("the AWS adapters under faults (emulator)", () => {
  it("end every run as the fault-free one, whichever port call fails or kills, with deliveries shuffled and doubled", async () => {
    const reference = await runAwsMix(clients, resources, `ref-${run}`, []);
    expect(reference).toMatchObject({ status: "completed", problems: [] });
    expect(reference.context).toEqual({
      k: `ref-${run}`,
      left: true,
      right: true,
      last: true,
      signal: { n: 1 },
    });
    // A spread of single faults over the run's port calls, both kinds, both moments.
    const schedules: Fault[][] = [];
    for (let call = 2, i = 0; call <= reference.calls; call += Math.ceil(reference.calls / 8), i++)
      schedules.push([{ call, moment: i % 2 ? "after" : "before", kind: i % 4 < 2 ? "kill" : "fail" }]);
    schedules.push([
      { call: 3, moment: "after", kind: "kill" },
      { call: 9, moment: "before", kind: "fail" },
      { call: 15, moment: "after", kind: "kill" },
    ]);
    let fired = 0;
    for (const [n, schedule] of schedules.entries()) {
      const id = `f${n}-${run}`;
      const outcome = await runAwsMix(clients, resources, id, schedule, n + 7);
      fired += outcome.fired.length;
      expect({
        schedule,
        outcome: { ...outcome, fired: undefined, calls: undefined, resent: undefined },
      }).toEqual({
        schedule,
        outcome: {
          status: "completed",
          context: { ...(reference.context as object), k: id },
          problems: [],
          fired: undefined,
          calls: undefined,
          resent: undefined,
        },
      });
    }
    expect(fired).toBeGreaterThanOrEqual(schedules.length);
  }, 300_000);
});

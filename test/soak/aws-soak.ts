/** The AWS part of `npm run soak`: every single fault of the fault-free run, on an emulator. */
import { provisionEngine } from "../../cdk/synth.js";
import { makeAwsDeps } from "../../lib/aws/deps.js";
import { emulatorClients } from "../integration/emulator.js";
import { AWS_MIX, runAwsMix } from "./aws-harness.js";
import { canonical, everySingleFault } from "./harness.js";

export async function awsSoak(endpoint: string) {
  const clients = emulatorClients(endpoint);
  const run = Date.now().toString(36);
  const resources = await provisionEngine(clients, `soak${run}`);
  await makeAwsDeps(clients, resources).definitions.register("awsmix.yaml", AWS_MIX);
  const reference = await runAwsMix(clients, resources, `ref-${run}`, []);
  let schedules = 0;
  let fired = 0;
  let resent = 0;
  for (const [n, schedule] of everySingleFault(reference.calls).entries()) {
    const id = `s${n}-${run}`;
    const outcome = await runAwsMix(clients, resources, id, schedule, n + 1);
    schedules++;
    fired += outcome.fired.length;
    resent += outcome.resent;
    const want = canonical({ ...(reference.context as object), k: id });
    if (outcome.status !== "completed" || canonical(outcome.context) !== want || outcome.problems.length) {
      console.error(`aws: schedule ${JSON.stringify(schedule)}: ${JSON.stringify(outcome)}`);
      process.exit(1);
    }
  }
  return { schedules, fired, resent, calls: reference.calls };
}

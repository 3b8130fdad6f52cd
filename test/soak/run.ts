/**
 * `npm run soak`: the full crash soak. For each mode, every single fault of the fault-free run
 * (each port call, before and after, failed and killed), then SOAK_RANDOM (default 500) random
 * schedules of one to four faults, then as many with deliveries reordered, delayed and duplicated
 * as well. Prints the totals; exits 1 on the first difference.
 */
import fc from "fast-check";
import { differences, everySingleFault, faultSchedules, type Mode, runMix } from "./harness.js";

const random = Number(process.env.SOAK_RANDOM ?? 500);
let schedules = 0;
let fired = 0;
let restarts = 0;
const started = performance.now();
for (const mode of ["embedded", "outbox"] as Mode[]) {
  const reference = await runMix(mode, []);
  const check = async (schedule: Parameters<typeof runMix>[1], seed?: number) => {
    const run = await runMix(mode, schedule, seed);
    schedules++;
    fired += run.fired.length;
    restarts += run.restarts;
    const found = differences(reference, run);
    if (found.length) {
      console.error(
        `${mode}: schedule ${JSON.stringify(schedule)}, delivery seed ${seed} (fired: ${run.fired.join("; ")})\n${found.join("\n")}`,
      );
      process.exit(1);
    }
  };
  const singles = everySingleFault(reference.calls);
  for (const schedule of singles) await check(schedule);
  const samples = fc.sample(faultSchedules(reference.calls + 20), random);
  for (const schedule of samples) await check(schedule);
  // Deliveries reordered, delayed and duplicated, each with a random fault schedule as well.
  const deliveries = fc.sample(fc.tuple(fc.integer(), faultSchedules(reference.calls + 20)), random);
  for (const [seed, schedule] of deliveries) await check(schedule, seed);
  console.log(
    `${mode}: ${singles.length} single-fault schedules (${reference.calls} port calls × before/after × fail/kill) and ${samples.length} random ones, ${deliveries.length} delivery schedules (reordered, delayed, duplicated; with faults): no difference`,
  );
}
// On an emulator too, when there is one: every single fault of the fault-free run on the AWS adapters.
if (process.env.AWS_ENDPOINT_URL) {
  const { awsSoak } = await import("./aws-soak.js");
  const aws = await awsSoak(process.env.AWS_ENDPOINT_URL);
  schedules += aws.schedules;
  fired += aws.fired;
  console.log(
    `aws (${process.env.AWS_ENDPOINT_URL}): ${aws.schedules} single-fault schedules (${aws.calls} port calls × before/after × fail/kill), deliveries shuffled and doubled: no difference; ${aws.resent} task messages re-sent by outboxes (receivers dedupe by task id)`,
  );
} else
  console.log(
    "aws: set AWS_ENDPOINT_URL (moto: python3 tools/moto-server.py -p 4566) to soak the AWS adapters too",
  );
console.log(
  `soak: ${schedules} schedules, ${fired} faults fired, ${restarts} process restarts, 0 differences, ${((performance.now() - started) / 1000).toFixed(0)} s`,
);

/**
 * Scheduled launches on the emulator, through the engine's own timers: the sweep arms each fire on
 * the timer queue, delayed until it is due, and the timer relay launches `<schedule>@<fire time>`.
 * The clock is the test's: a fire the sweep armed is handed to the relay as SQS would hand it
 * once its delay has passed (the queue is purged of the real, delayed copies), and a fire already
 * due (a catch-up, a late one) goes through the queue itself. A Europe/Berlin 02:30 cron from the
 * construct's props launches once a day across spring-forward, whatever fires twice or restarts;
 * a definition's schedule skips a fire while its last launch runs, and after downtime launches once.
 */
import { PurgeQueueCommand } from "@aws-sdk/client-sqs";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { provisionEngine } from "../../cdk/synth.js";
import { LocalRunner } from "../../emulator/local.js";
import type { Provisioned } from "../../emulator/provision.js";
import { type AwsClients, type AwsDeps, type AwsResources, makeAwsDeps } from "../../lib/aws/deps.js";
import { makeSweepHandler } from "../../lib/aws/handlers.js";
import { awsOperations } from "../../lib/aws/operations.js";
import { makeTimerRelayHandler } from "../../lib/aws/timer-relay.js";
import type { TimerRef } from "../../lib/aws/timers.js";
import { SCHEDULE_TIMER_INSTANCE } from "../../lib/runtime/schedules.js";
import { hearCalls } from "../support/sdk-calls.js";
import { emulatorClients } from "./emulator.js";
import { depsOfFunctions, provisioning } from "./roles.js";

const endpoint = inject("endpoint");
const admin: AwsClients = emulatorClients(endpoint);
const at = (iso: string) => Date.parse(iso);
let clock = at("2026-03-28T01:20:00Z"); // 02:20 in Berlin, the day before spring-forward
let resources: Provisioned;
/** Each schedule fire put on the timer queue, with its delay: since the last sweepAt, and ever. */
const armed: { timer: TimerRef; delay: number }[] = [];
const seen: typeof armed = [];

/** Deps whose SQS client reports the schedule fires it sends. */
function heard(clients: AwsClients, its: AwsResources): AwsDeps {
  hearCalls(clients.sqs, {
    sent: ({ command, input }) => {
      if (command !== "SendMessageCommand" || input.QueueUrl !== resources.queues.timers) return;
      const timer = JSON.parse(String(input.MessageBody)) as TimerRef;
      if (timer.instance !== SCHEDULE_TIMER_INSTANCE) return;
      armed.push({ timer, delay: Number(input.DelaySeconds) });
      seen.push({ timer, delay: Number(input.DelaySeconds) });
    },
  });
  return makeAwsDeps(clients, its, () => clock);
}

/** A fresh set of functions (new containers: nothing kept in memory), as after a restart. */
function start() {
  const deps = heard(emulatorClients(endpoint), resources);
  const functions = depsOfFunctions(resources, heard, deps);
  return {
    deps,
    runner: new LocalRunner(functions, resources.feeds, { visibilityTimeout: 1 }),
    sweep: makeSweepHandler(functions("sweep")),
    relay: makeTimerRelayHandler(functions("timer-relay")),
  };
}
let engine: ReturnType<typeof start>;

/** Runs the sweep at `iso`; returns the fires it armed (timer: delay s), the queue then purged of them. */
async function sweepAt(iso: string): Promise<Record<string, number>> {
  clock = at(iso);
  armed.length = 0;
  await engine.sweep();
  await admin.sqs.send(new PurgeQueueCommand({ QueueUrl: resources.queues.timers }));
  return Object.fromEntries(armed.map(({ timer, delay }) => [timer.timer.replace(/#.*/, ""), delay]));
}

let deliveries = 0;
/**
 * Hands fires to the relay at `iso`, as the timer queue would once their delay is over, then lets
 * the functions apply the launches (the sweeps they run meanwhile arm more fires: see `seen`).
 */
async function deliverAt(iso: string, ...timers: TimerRef[]) {
  clock = at(iso);
  const result = await engine.relay({
    Records: timers.map((timer) => ({ messageId: `d${deliveries++}`, body: JSON.stringify(timer) })),
  });
  expect(result.batchItemFailures).toEqual([]);
  await engine.runner.settle();
}

/** The fire of `name` at `fire` (ISO) that a sweep armed. */
const armedFire = (name: string, fire: string): TimerRef => {
  const found = seen.find(({ timer }) => timer.timer.startsWith(`schedule:${name}@${fire}#`));
  if (!found) throw new Error(`no fire of ${name} at ${fire} was armed`);
  return found.timer;
};

const instances = async (prefix: string) =>
  (await engine.deps.runtime.deps.store.list({ limit: 1000 }))
    .filter((i) => i.id.startsWith(prefix))
    .map((i) => [i.id, i.status])
    .sort();

beforeAll(async () => {
  resources = await provisionEngine(provisioning(admin), `sch${Date.now().toString(36)}`, {
    schedules: {
      nightly: { process: "report", cron: "30 2 * * *", timezone: "Europe/Berlin", fields: { region: "eu" } },
    },
  });
  engine = start();
  await engine.deps.definitions.register(
    "report.yaml",
    "do:\n  - assign: { property: ran, value: 'true' }\n",
  );
}, 120_000);

describe("schedules on the emulator", () => {
  it("arms the construct's Berlin 02:30 cron fifteen minutes ahead, each fire once however often the sweep runs", async () => {
    expect(await sweepAt("2026-03-28T01:20:00Z")).toEqual({ "schedule:nightly@2026-03-28T01:30:00Z": 600 });
    expect(await sweepAt("2026-03-28T01:21:00Z")).toEqual({});
    const { schedules } = await awsOperations(engine.deps).schedules(3);
    expect(schedules).toEqual([
      expect.objectContaining({
        name: "nightly",
        process: "report",
        origin: "config",
        fields: { region: "eu" },
        // 02:30 CET, then 03:30 CEST (02:30 does not exist on the 29th), then 02:30 CEST.
        next: [at("2026-03-28T01:30:00Z"), at("2026-03-29T01:30:00Z"), at("2026-03-30T00:30:00Z")],
      }),
    ]);
  });

  it("launches a fire once though it is delivered three times, twice after a restart", async () => {
    const fire = armedFire("nightly", "2026-03-28T01:30:00Z");
    await deliverAt("2026-03-28T01:30:01Z", fire, fire);
    engine = start();
    expect(await sweepAt("2026-03-28T01:31:00Z")).toEqual({});
    await deliverAt("2026-03-28T01:31:02Z", fire);
    expect(await instances("nightly@")).toEqual([["nightly@2026-03-28T01:30:00Z", "completed"]]);
    const shown = await awsOperations(engine.deps).show("nightly@2026-03-28T01:30:00Z");
    expect(shown.context).toMatchObject({ region: "eu", ran: true });
  });

  it("launches once a day across spring-forward: 03:30 summer time on the day 02:30 does not exist", async () => {
    expect(await sweepAt("2026-03-29T01:20:00Z")).toEqual({ "schedule:nightly@2026-03-29T01:30:00Z": 600 });
    await deliverAt("2026-03-29T01:30:00Z", armedFire("nightly", "2026-03-29T01:30:00Z"));
    engine = start();
    expect(await sweepAt("2026-03-30T00:20:00Z")).toEqual({ "schedule:nightly@2026-03-30T00:30:00Z": 600 });
    await deliverAt("2026-03-30T00:30:00Z", armedFire("nightly", "2026-03-30T00:30:00Z"));
    expect(await instances("nightly@")).toEqual([
      ["nightly@2026-03-28T01:30:00Z", "completed"],
      ["nightly@2026-03-29T01:30:00Z", "completed"],
      ["nightly@2026-03-30T00:30:00Z", "completed"],
    ]);
  });

  it("skips a definition's fire while its last launch runs, and launches once after downtime", async () => {
    await engine.deps.definitions.register(
      "poll.yaml",
      "schedule: { rate: PT10M }\ndo:\n  - action: worker\n",
    );
    expect(await sweepAt("2026-03-30T06:00:00Z")).toEqual({ "schedule:poll@2026-03-30T06:10:00Z": 600 });
    await deliverAt("2026-03-30T06:10:01Z", armedFire("poll", "2026-03-30T06:10:00Z"));
    // Armed by the sweep the functions ran meanwhile; poll@06:10 still runs at 06:20.
    await deliverAt("2026-03-30T06:20:01Z", armedFire("poll", "2026-03-30T06:20:00Z"));
    const poll = async () =>
      (await awsOperations(engine.deps).schedules(1)).schedules.find((s) => s.name === "poll");
    expect((await poll())?.last).toMatchObject({
      fire: at("2026-03-30T06:20:00Z"),
      result: "skipped",
      reason: "poll@2026-03-30T06:10:00Z still runs (overlap skip)",
    });
    await engine.deps.dispatcher.enqueue("poll@2026-03-30T06:10:00Z", { type: "operator", action: "cancel" });
    await engine.runner.settle();
    await admin.sqs.send(new PurgeQueueCommand({ QueueUrl: resources.queues.timers }));

    // Down from 06:20 to 09:07: one launch, for the latest missed fire (09:00), which is due, so it
    // goes through the timer queue itself (no delay) to the relay.
    engine = start();
    clock = at("2026-03-30T09:07:00Z");
    await engine.runner.settle();
    expect(await instances("poll@")).toEqual([
      ["poll@2026-03-30T06:10:00Z", "canceled"],
      ["poll@2026-03-30T09:00:00Z", "running"],
    ]);
    expect((await poll())?.next).toEqual([at("2026-03-30T09:10:00Z")]);
  });
});

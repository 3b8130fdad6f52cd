/**
 * The construct's `schedules`: checked at synth (a bad cron or time zone fails it, named), given to
 * the sweep alone, and read back by the functions as docket.config.yaml's are.
 */
import { describe, expect, it } from "vitest";
import { resourcesFromEnv } from "../../lib/aws/deps.js";
import { engineStack, resourcesOf, templateOf } from "./helpers.js";

const NIGHTLY = {
  process: "report",
  cron: "30 2 * * *",
  timezone: "Europe/Berlin",
  fields: { region: "eu" },
};

describe("the construct's schedules", () => {
  it("go to the sweep function alone, as DOCKET_SCHEDULES, which reads back into the schedules", () => {
    const functions = resourcesOf(
      templateOf(engineStack({ schedules: { nightly: NIGHTLY } })),
      "AWS::Lambda::Function",
    );
    const environments = Object.values(functions).map(
      (f) =>
        (f.Properties?.Environment as { Variables?: Record<string, string> } | undefined)?.Variables ?? {},
    );
    const withSchedules = environments.filter((env) => env.DOCKET_SCHEDULES !== undefined);
    expect(withSchedules.map((env) => env.DOCKET_FUNCTION)).toEqual(["sweep"]);
    const read = resourcesFromEnv({
      DOCKET_TABLE: "t",
      DOCKET_BUS: "b",
      DOCKET_INBOX_URL: "i",
      DOCKET_TIMERS_URL: "t",
      DOCKET_TASKS_URL: "k",
      DOCKET_SCHEDULES: withSchedules[0]?.DOCKET_SCHEDULES,
    });
    expect(read.schedules).toEqual([
      {
        name: "nightly",
        process: "report",
        cron: "30 2 * * *",
        timezone: "Europe/Berlin",
        fields: { region: "eu" },
        overlap: "skip",
        catchup: "once",
        origin: "config",
      },
    ]);
  });

  it("fail synth naming the schedule and field: a bad cron, an unknown time zone, a missing process", () => {
    expect(() => engineStack({ schedules: { nightly: { ...NIGHTLY, cron: "30 25 * * *" } } })).toThrow(
      /DocketEngine: schedules\.nightly\.cron: cron "30 25 \* \* \*" is not valid/,
    );
    expect(() =>
      engineStack({ schedules: { nightly: { ...NIGHTLY, timezone: "Europe/Atlantis" } } }),
    ).toThrow(/schedules\.nightly\.timezone: unknown time zone "Europe\/Atlantis"/);
    expect(() => engineStack({ schedules: { often: { process: "", rate: "rate(1 minute)" } } })).toThrow(
      /schedules\.often\.process must name the process to launch/,
    );
  });

  it("too many for the sweep's 4 KB environment fail synth, naming DOCKET_SCHEDULES and where else to declare them", () => {
    const schedules = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [
        `nightly-report-${i}`,
        { ...NIGHTLY, fields: { region: `eu-${i}` } },
      ]),
    );
    expect(() => templateOf(engineStack({ schedules }))).toThrow(
      /the environment of function Test\/Docket\/Sweep can reach \d{4,} bytes.*Largest: DOCKET_SCHEDULES \d+ bytes.*in their processes' definitions \(`schedule:`\)/s,
    );
    const few = Object.fromEntries(Object.entries(schedules).slice(0, 5));
    expect(() => templateOf(engineStack({ schedules: few }))).not.toThrow();
  });
});

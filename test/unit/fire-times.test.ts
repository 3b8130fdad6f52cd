/**
 * A schedule's fire times on the virtual clock: daylight-saving changes in Europe/Berlin and
 * America/New_York (a 02:30 cron the day 02:30 does not exist and the day it happens twice), the
 * same fires whatever instant the enumeration starts from, rates aligned on the epoch.
 */
import { describe, expect, it } from "vitest";
import { firesBetween, fireTimeText, lastFire, nextFire } from "../../lib/language/fire-times.js";

const at = (iso: string) => Date.parse(iso);
const texts = (times: number[]) => times.map(fireTimeText);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe("fire times", () => {
  const berlin = { cron: "30 2 * * *", timezone: "Europe/Berlin" };
  const newYork = { cron: "30 2 * * *", timezone: "America/New_York" };

  it("fire a 02:30 cron once a day across spring-forward: the skipped 02:30 is 03:30 summer time", () => {
    expect(texts(firesBetween(berlin, at("2026-03-27T00:00:00Z"), at("2026-03-31T00:00:00Z")))).toEqual([
      "2026-03-27T01:30:00Z", // 02:30 CET
      "2026-03-28T01:30:00Z",
      "2026-03-29T01:30:00Z", // 02:30 does not exist: 03:30 CEST
      "2026-03-30T00:30:00Z", // 02:30 CEST
    ]);
    expect(texts(firesBetween(newYork, at("2026-03-07T00:00:00Z"), at("2026-03-10T00:00:00Z")))).toEqual([
      "2026-03-07T07:30:00Z", // 02:30 EST
      "2026-03-08T07:30:00Z", // 03:30 EDT
      "2026-03-09T06:30:00Z", // 02:30 EDT
    ]);
  });

  it("fire a 02:30 cron once a day across fall-back: the repeated 02:30 at its first occurrence", () => {
    expect(texts(firesBetween(berlin, at("2026-10-24T00:00:00Z"), at("2026-10-27T00:00:00Z")))).toEqual([
      "2026-10-24T00:30:00Z", // 02:30 CEST
      "2026-10-25T00:30:00Z", // the first 02:30 (CEST); 01:30Z, 02:30 CET, is not a fire
      "2026-10-26T01:30:00Z", // 02:30 CET
    ]);
    const ny = { cron: "30 1 * * *", timezone: "America/New_York" };
    expect(texts(firesBetween(ny, at("2026-10-31T12:00:00Z"), at("2026-11-02T12:00:00Z")))).toEqual([
      "2026-11-01T05:30:00Z", // the first 01:30 (EDT); 06:30Z, 01:30 EST, is not a fire
      "2026-11-02T06:30:00Z",
    ]);
  });

  it("are the same fires whatever instant the enumeration starts from", () => {
    for (const [zone, from] of [
      ["Europe/Berlin", "2026-03-28T12:00:00Z"],
      ["Europe/Berlin", "2026-10-24T12:00:00Z"],
      ["America/New_York", "2026-03-07T12:00:00Z"],
      ["America/New_York", "2026-10-31T12:00:00Z"],
    ] as const) {
      for (const cron of ["30 2 * * *", "*/20 1-3 * * *", "0 * * * *"]) {
        const s = { cron, timezone: zone };
        const start = at(from);
        const canonical = new Set(firesBetween(s, start - 48 * HOUR, start + 48 * HOUR, 1000));
        // The twelve hours around the change (at 01:00 UTC in Berlin, 06:00 or 07:00 in New York).
        for (let t = start + 12 * HOUR; t < start + 24 * HOUR; t += 7 * MINUTE) {
          expect(canonical.has(nextFire(s, t)), `${cron} ${zone} next after ${fireTimeText(t)}`).toBe(true);
          expect(canonical.has(lastFire(s, t)), `${cron} ${zone} last at ${fireTimeText(t)}`).toBe(true);
          expect(nextFire(s, t)).toBeGreaterThan(t);
          expect(lastFire(s, t)).toBeLessThanOrEqual(t);
        }
      }
    }
  }, 60_000);

  it("fire an hourly cron on each wall-clock hour: 23 on the spring day, 24 on the autumn day", () => {
    const hourly = { cron: "0 * * * *", timezone: "Europe/Berlin" };
    // Berlin's days: 2026-03-29 is 23 hours long, 2026-10-25 is 25.
    expect(firesBetween(hourly, at("2026-03-28T22:59:00Z"), at("2026-03-29T21:59:00Z"))).toHaveLength(23);
    expect(firesBetween(hourly, at("2026-10-24T21:59:00Z"), at("2026-10-25T22:59:00Z"))).toHaveLength(24);
  });

  it("fire a rate at every multiple of its period since the epoch, whatever the zone", () => {
    const rate = { rate: 300, timezone: "UTC" };
    expect(texts(firesBetween(rate, at("2026-03-29T01:02:03Z"), at("2026-03-29T01:16:00Z")))).toEqual([
      "2026-03-29T01:05:00Z",
      "2026-03-29T01:10:00Z",
      "2026-03-29T01:15:00Z",
    ]);
    expect(fireTimeText(lastFire(rate, at("2026-03-29T01:05:00Z")))).toBe("2026-03-29T01:05:00Z");
  });
});

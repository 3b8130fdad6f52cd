/**
 * The rules that keep routing an event within one invocation and in order: pages shrink with the
 * event's size, and batches sent one after another stop at the first that fails.
 */
import { describe, expect, it } from "vitest";
import { forEachLimited } from "../../lib/aws/calls.js";
import { ROUTE_PAGE, routePageFor } from "../../lib/aws/subscriptions.js";

const event = (data: unknown) => ({ id: "e", name: "n", data: data as never, at: 0 });

describe("routing pages", () => {
  it("a small event routes a full page; a large one fewer awaits a page, never none", () => {
    expect(routePageFor(event({ ok: true }), ROUTE_PAGE)).toBe(ROUTE_PAGE);
    expect(routePageFor(event("x".repeat(1024 * 1024)), ROUTE_PAGE)).toBe(9);
    expect(routePageFor(event("x".repeat(64 * 1024)), ROUTE_PAGE)).toBe(158);
    expect(routePageFor(event("x".repeat(20 * 1024 * 1024)), ROUTE_PAGE)).toBe(1);
  });

  it("one at a time, nothing after a failed item runs, so a group's later message never overtakes it", async () => {
    const ran: number[] = [];
    const failing = forEachLimited([1, 2, 3, 4], 1, async (n) => {
      ran.push(n);
      if (n === 2) throw new Error("batch 2 failed");
    });
    await expect(failing).rejects.toThrow("batch 2 failed");
    expect(ran).toEqual([1, 2]);
  });

  it("in parallel, every item runs once when none fails, at most `limit` at a time", async () => {
    let inFlight = 0;
    let most = 0;
    const ran: number[] = [];
    await forEachLimited([...Array(20).keys()], 4, async (n) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      ran.push(n);
      inFlight -= 1;
    });
    expect(ran.sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    expect(most).toBe(4);
  });
});

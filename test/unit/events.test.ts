import { describe, expect, it } from "vitest";
import { publishedEvent } from "../../lib/runtime/events.js";

describe("publishedEvent: an event's name, key and data, the one way on both hosts", () => {
  it("takes docket's shape: data when given, else the other fields, else null", () => {
    expect(publishedEvent({ name: "paid", key: "R1", data: { amount: 5 } })).toEqual({
      name: "paid",
      key: "R1",
      data: { amount: 5 },
    });
    expect(publishedEvent({ name: "paid", key: 7, amount: 5, id: "e-1" })).toEqual({
      name: "paid",
      key: "7",
      data: { amount: 5 },
      id: "e-1",
    });
    expect(publishedEvent({ name: "paid" })).toEqual({ name: "paid", data: null });
  });

  it("on the bus, the detail-type names it, and a `name` field is data", () => {
    expect(publishedEvent({ key: "R1", amount: 5, name: "Ann" }, "paid")).toEqual({
      name: "paid",
      key: "R1",
      data: { amount: 5, name: "Ann" },
    });
    expect(publishedEvent({ key: "R1", data: [1, 2] }, "paid")).toEqual({
      name: "paid",
      key: "R1",
      data: [1, 2],
    });
  });

  it("takes bureaucrat's shape: every field but event and key is data, `data` and `id` included", () => {
    expect(publishedEvent({ event: "paid", key: "R1", data: 1, id: "x" }, "bureaucrat.event")).toEqual({
      name: "paid",
      key: "R1",
      data: { data: 1, id: "x" },
    });
  });

  it("refuses a key that is not a text or a number, and an event with no name", () => {
    expect(() => publishedEvent({ name: "paid", key: { a: 1 } })).toThrow(
      /key: must be a string or a number/,
    );
    expect(() => publishedEvent({ key: "k" })).toThrow(/name: must name the event/);
  });
});

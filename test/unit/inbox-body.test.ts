import { describe, expect, it } from "vitest";
import { parseInboxBody } from "../../lib/aws/handlers.js";

const task = { id: "i-1/0.0/1", instance: "i-1", node: "0.0", attempt: 1 };

describe("an inbox body on AWS", () => {
  it("takes a participant's reply (no type) as a reply message", () => {
    const body = JSON.stringify({ task, status: "error", error: { code: "Busy", message: "later" } });
    expect(parseInboxBody(body)).toEqual({
      message: { task, status: "error", error: { code: "Busy", message: "later" }, type: "reply" },
    });
  });

  it("sets aside a reply whose error code or message is not a text, naming the field", () => {
    const body = JSON.stringify({ task, status: "critical", error: { code: 5, message: ["x"] } });
    expect(parseInboxBody(body)).toEqual({
      problem: 'error.code: must be a text, got 5; error.message: must be a text, got ["x"]',
    });
  });
});

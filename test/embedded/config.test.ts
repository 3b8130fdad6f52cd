import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { awsParticipants, loadConfig } from "../../lib/embedded/config.js";

function configFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "docket-config-"));
  const file = join(dir, "docket.config.yaml");
  writeFileSync(file, text);
  return file;
}

describe("docket.config.yaml", () => {
  it("reads every participant kind, and maps them to the AWS engine's queues and targets", () => {
    const file = configFile(`participants:
  approve: { external: true }
  quote: { http: "https://prices.example/quote" }
  stock: { http: "https://stock.example/reserve", inputs: { sku: string }, outputs: { reserved: boolean } }
  score: { lambda: scorer }
  ship: { sfn: "arn:aws:states:eu-west-1:123456789012:stateMachine:ship" }
  mail: { command: "cat" }
`);
    const config = loadConfig(file);
    expect(config.participants.score).toEqual({ kind: "aws", target: "lambda:scorer" });
    // A command runs in the config's folder, as the config's paths are relative to it.
    expect(config.participants.mail).toMatchObject({ kind: "command", command: "cat", cwd: dirname(file) });
    expect(awsParticipants(config)).toEqual({
      participants: ["approve"],
      targets: {
        quote: "http:https://prices.example/quote",
        // The field contract goes with it: on AWS too only the declared fields go and come back.
        stock: {
          http: "https://stock.example/reserve",
          inputs: { sku: "string" },
          outputs: { reserved: "boolean" },
        },
        score: "lambda:scorer",
        ship: "sfn:arn:aws:states:eu-west-1:123456789012:stateMachine:ship",
      },
    });
  });

  it.each([
    ["participants: [a]", /participants must be a map of names to kinds/],
    ["participants: { a: 1 }", /participants\.a must be a map/],
    ["participants: { a: { lambda: 3 } }", /participants\.a\.lambda must be a function name or ARN/],
    ["participants: { a: { sfn: '' } }", /participants\.a\.sfn must be a state machine ARN/],
    [
      "participants: { a: { ftp: x } }",
      /participants\.a needs one of module, command, http, lambda, sfn or external: true/,
    ],
    [
      "participants: { a: { http: 'ftp://x' } }",
      /participants\.a\.http: "ftp:\/\/x" is not an http\(s\) URL/,
    ],
    ["colour: blue", /colour/],
  ])("refuses %j naming the file and the field", (text, message) => {
    const file = configFile(text);
    expect(() => loadConfig(file)).toThrow(message);
    expect(() => loadConfig(file)).toThrow(file);
  });
});

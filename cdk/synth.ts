/**
 * The DocketEngine's CloudFormation template, synthesized in-process without bundling the
 * functions: what the emulator runner creates its resources from (lib/aws/provision.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import type { AwsClients } from "../lib/aws/deps.js";
import { type Provisioned, provisionTemplate } from "../lib/aws/provision.js";
import type { DocketEngineProps } from "./engine.js";
import { DocketStack } from "./stack.js";

export type CloudFormationTemplate = { readonly Resources: Record<string, unknown> };

export function synthesizeEngineTemplate(props: DocketEngineProps = {}): CloudFormationTemplate {
  const outdir = mkdtempSync(join(tmpdir(), "docket-synth-"));
  try {
    // Bundling is for deployment; the runner runs the handlers from source.
    const app = new App({ outdir, context: { "aws:cdk:bundling-stacks": [] } });
    const stack = new DocketStack(app, "Docket", { engine: props });
    return app.synth().getStackByName(stack.stackName).template as CloudFormationTemplate;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** The engine's resources created on an emulator endpoint from its template (see lib/aws/provision.ts). */
export function provisionEngine(
  clients: AwsClients,
  prefix: string,
  props: DocketEngineProps = {},
): Promise<Provisioned> {
  return provisionTemplate(clients, synthesizeEngineTemplate(props), prefix);
}

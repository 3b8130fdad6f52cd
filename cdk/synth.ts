/**
 * The DocketEngine's CloudFormation template, synthesized in-process without bundling the
 * functions: what the emulator runner creates its resources from (emulator/provision.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App } from "aws-cdk-lib";
import { type ProvisionClients, type Provisioned, provisionTemplate } from "../emulator/provision.js";
import { participantQueueUrl } from "../lib/aws/dispatcher.js";
import type { DocketEngineProps } from "./engine.js";
import { DocketStack } from "./stack.js";

export type CloudFormationTemplate = { readonly Resources: Record<string, unknown> };

export function synthesizeEngineTemplate(
  props: DocketEngineProps = {},
  stackName = "Docket",
): CloudFormationTemplate {
  const outdir = mkdtempSync(join(tmpdir(), "docket-synth-"));
  try {
    // Bundling is for deployment; the runner runs the handlers from source.
    const app = new App({ outdir, context: { "aws:cdk:bundling-stacks": [] } });
    const stack = new DocketStack(app, stackName, { engine: props });
    return app.synth().getStackByName(stack.stackName).template as CloudFormationTemplate;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * The engine's resources created on an emulator endpoint from its template (see
 * emulator/provision.ts). The stack is named after `prefix`, as participant queues are named after
 * the stack: two engines provisioned with different prefixes share no queue. The participants'
 * queues are listed in `queues.participants` (the functions find them by name instead).
 */
export async function provisionEngine(
  clients: ProvisionClients,
  prefix: string,
  props: DocketEngineProps = {},
): Promise<Provisioned> {
  const stackName = `Docket-${prefix}`.replace(/[^A-Za-z0-9-]/g, "-").slice(0, 128);
  const provisioned = await provisionTemplate(clients, synthesizeEngineTemplate(props, stackName), prefix);
  const participants: Record<string, string> = {};
  for (const name of props.participants ?? []) {
    const url = participantQueueUrl(provisioned.queues, name);
    if (url) participants[name] = url;
  }
  return { ...provisioned, queues: { ...provisioned.queues, participants } };
}

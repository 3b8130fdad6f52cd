/** Stacks for the template tests: synthesized without bundling (test/cdk/bundling.test.ts bundles). */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type { DocketEngineProps } from "../../cdk/engine.js";
import { DocketStack } from "../../cdk/stack.js";

export const unbundledApp = () => new App({ context: { "aws:cdk:bundling-stacks": [] } });

export function engineStack(props: DocketEngineProps = {}, id = "Test"): DocketStack {
  return new DocketStack(unbundledApp(), id, { engine: props });
}

export type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

export function resourcesOf(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}

export const templateOf = (stack: DocketStack) => Template.fromStack(stack);

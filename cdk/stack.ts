/** DocketStack: a stack holding one DocketEngine, with participants from docket.config.yaml when present. */
import { Stack, type StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import { DocketEngine, type DocketEngineProps } from "./engine.js";

export interface DocketStackProps extends StackProps {
  readonly engine?: DocketEngineProps;
}

export class DocketStack extends Stack {
  readonly engine: DocketEngine;

  constructor(scope: Construct, id: string, props: DocketStackProps = {}) {
    super(scope, id, props);
    this.engine = new DocketEngine(this, "Docket", props.engine);
  }
}

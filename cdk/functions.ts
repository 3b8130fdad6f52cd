/** docket's Lambda functions as NodejsFunctions, and the targets read at synth time and granted. */
import { fileURLToPath } from "node:url";
import { ArnFormat, type Duration, type RemovalPolicy, Stack } from "aws-cdk-lib";
import { Rule } from "aws-cdk-lib/aws-events";
import { SqsQueue } from "aws-cdk-lib/aws-events-targets";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import { Architecture, Runtime, Tracing } from "aws-cdk-lib/aws-lambda";
import { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import { parseTarget, type Target, type TargetSpec } from "../lib/aws/targets.js";

const FUNCTIONS = new URL("../functions/", import.meta.url);

/**
 * docket's own package folder: the functions are bundled from here, wherever `cdk synth` runs (a
 * user's project has docket under node_modules). NodejsFunction asks for a lock file, only to pick
 * the package manager; npm publishes none with a package, so docket's package.json stands in
 * (any other name is read as npm's), the same in this checkout and in a user's node_modules.
 */
const PACKAGE_ROOT = fileURLToPath(new URL("../", import.meta.url));
const PACKAGE_JSON = fileURLToPath(new URL("../package.json", import.meta.url));

/** Each target read as the engine will read it, so a typo fails `cdk synth`, not a task in production. */
export function parseTargets(specs: Readonly<Record<string, TargetSpec>>): Record<string, Target> {
  const targets: Record<string, Target> = {};
  for (const [name, spec] of Object.entries(specs)) {
    try {
      targets[name] = parseTarget(name, spec);
    } catch (error) {
      throw new Error(`DocketEngine: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return targets;
}

/** Every function's memory and architecture (what a step's Lambda time is billed at: emulator/metering.ts). */
export const FUNCTION_MEMORY_MB = 512;
export const FUNCTION_ARCHITECTURE = Architecture.ARM_64;

/** One of docket's functions, bundled from docket's own package wherever `cdk synth` runs. */
export function docketFunction(
  scope: Construct,
  name: string,
  file: string,
  options: {
    environment: Record<string, string>;
    timeout: Duration;
    removalPolicy: RemovalPolicy;
    logRetention?: RetentionDays;
  },
): NodejsFunction {
  return new NodejsFunction(scope, name, {
    entry: fileURLToPath(new URL(file, FUNCTIONS)),
    handler: "handler",
    runtime: Runtime.NODEJS_24_X,
    architecture: FUNCTION_ARCHITECTURE,
    memorySize: FUNCTION_MEMORY_MB,
    timeout: options.timeout,
    tracing: Tracing.ACTIVE,
    logGroup: new LogGroup(scope, `${name}Logs`, {
      retention: options.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: options.removalPolicy,
    }),
    // DOCKET_FUNCTION tells the emulator runner which handler a function is.
    environment: { ...options.environment, DOCKET_FUNCTION: file.replace(/\.ts$/, "") },
    projectRoot: PACKAGE_ROOT,
    depsLockFilePath: PACKAGE_JSON,
    bundling: { minify: true, sourceMap: true, forceDockerBundling: false },
  });
}

/**
 * The invoke function may call exactly the targets: invoke the named functions, start executions
 * of the named state machines and poll them; their executions' ends reach the ingest queue.
 */
export function grantTargetCalls(
  scope: Construct,
  invoker: NodejsFunction,
  targets: Readonly<Record<string, Target>>,
  q: { invoke: Queue; ingest: Queue },
): void {
  const all = Object.values(targets);
  const functions = all.flatMap((t) => (t.kind === "lambda" ? [t.function] : []));
  const machines = all.flatMap((t) => (t.kind === "sfn" ? [t.stateMachine] : []));
  if (functions.length)
    invoker.addToRolePolicy(
      new PolicyStatement({
        actions: ["lambda:InvokeFunction"],
        resources: functions.map((f) =>
          f.startsWith("arn:")
            ? f
            : Stack.of(scope).formatArn({
                service: "lambda",
                resource: "function",
                resourceName: f,
                arnFormat: ArnFormat.COLON_RESOURCE_NAME,
              }),
        ),
      }),
    );
  if (!machines.length) return;
  invoker.addToRolePolicy(new PolicyStatement({ actions: ["states:StartExecution"], resources: machines }));
  // It polls their executions (arn:…:execution:<machine>:<name>) on its own queue: their
  // status-change events are best effort.
  invoker.addToRolePolicy(
    new PolicyStatement({
      actions: ["states:DescribeExecution"],
      resources: machines.map((m) => `${m.replace(":stateMachine:", ":execution:")}:*`),
    }),
  );
  q.invoke.grantSendMessages(invoker);
  // Their executions' ends come on the default bus (a shortcut): the ingest function turns them into replies.
  new Rule(scope, "ExecutionEnds", {
    eventPattern: {
      source: ["aws.states"],
      detailType: ["Step Functions Execution Status Change"],
      detail: { stateMachineArn: machines, status: ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"] },
    },
  }).addTarget(new SqsQueue(q.ingest));
}

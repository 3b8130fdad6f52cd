/**
 * Lambda refuses a function whose environment variables total more than 4 KB (Lambda Developer
 * Guide, "Lambda quotas": "Total size of all environment variables … 4 KB"), and only when
 * CloudFormation deploys it. This guard measures each function's environment at synth time so
 * `cdk synth` fails first, naming the function and the variables that take the room.
 *
 * Names CloudFormation makes at deploy time (a queue URL, a table name) are unresolved tokens at
 * synth time: each counts as the longest value AWS allows for it, so a template that passes here
 * passes in every account, region and stack name.
 */
import { CfnResource, Stack } from "aws-cdk-lib";
import type { CfnFunction, Function as LambdaFunction } from "aws-cdk-lib/aws-lambda";
import type { IConstruct } from "constructs";

export const LAMBDA_ENVIRONMENT_LIMIT = 4096;

/** The longest value a Ref gives, by resource type (unknown types: 256). */
const LONGEST_REF: Readonly<Record<string, number>> = {
  // https://sqs.<region>.amazonaws.com[.cn]/<account>/<name of at most 80>
  "AWS::SQS::Queue": 150,
  "AWS::S3::Bucket": 63,
  "AWS::DynamoDB::Table": 255,
  "AWS::Events::EventBus": 256,
  // arn:<partition>:secretsmanager:<region>:<account>:secret:<generated name>-XXXXXX
  "AWS::SecretsManager::Secret": 256,
};

const LONGEST_PSEUDO: Readonly<Record<string, number>> = {
  "AWS::Region": 20,
  "AWS::AccountId": 12,
  "AWS::Partition": 10,
  "AWS::URLSuffix": 20,
  "AWS::StackName": 128,
};

const UNKNOWN = 256;
const bytes = (text: string) => Buffer.byteLength(text, "utf8");

/** The longest length a resolved CloudFormation value can take once deployed. */
function longest(value: unknown, typeOf: (logicalId: string) => string | undefined): number {
  if (typeof value === "string") return bytes(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value).length;
  if (value === null || typeof value !== "object") return UNKNOWN;
  const v = value as Record<string, unknown>;
  if (typeof v.Ref === "string") {
    const type = typeOf(v.Ref);
    return LONGEST_PSEUDO[v.Ref] ?? (type ? (LONGEST_REF[type] ?? UNKNOWN) : UNKNOWN);
  }
  if (Array.isArray(v["Fn::GetAtt"])) {
    const [id, attribute] = v["Fn::GetAtt"] as [string, string];
    if (attribute === "QueueUrl" || attribute === "QueueName")
      return LONGEST_REF["AWS::SQS::Queue"] ?? UNKNOWN;
    return typeOf(id) === "AWS::S3::Bucket" && attribute !== "Arn" ? 63 : UNKNOWN;
  }
  if (Array.isArray(v["Fn::Join"])) {
    const [separator, parts] = v["Fn::Join"] as [string, unknown[]];
    return parts.reduce<number>((n, p) => n + longest(p, typeOf), 0) + bytes(separator) * (parts.length - 1);
  }
  return UNKNOWN;
}

export interface EnvironmentSize {
  readonly total: number;
  /** Each variable's size (name and longest value), largest first. */
  readonly variables: readonly { readonly name: string; readonly bytes: number }[];
}

/**
 * A function's environment size, counted as Lambda's limit is commonly measured and a little
 * over: the variables as a JSON object (names, values, quotes and separators).
 */
export function environmentSize(fn: LambdaFunction): EnvironmentSize {
  const stack = Stack.of(fn);
  const types = new Map<string, string>();
  for (const child of stack.node.findAll())
    if (CfnResource.isCfnResource(child)) types.set(stack.resolve(child.logicalId), child.cfnResourceType);
  const cfn = fn.node.defaultChild as CfnFunction;
  const environment = stack.resolve(cfn.environment) as { variables?: Record<string, unknown> } | undefined;
  const variables = Object.entries(environment?.variables ?? {})
    .map(([name, value]) => ({
      name,
      // "name":"value", with the value escaped as JSON escapes it (a JSON value's quotes double up).
      bytes:
        bytes(JSON.stringify(name)) +
        (typeof value === "string"
          ? bytes(JSON.stringify(value))
          : longest(value, (id) => types.get(id)) + 2) +
        2,
    }))
    .sort((a, b) => b.bytes - a.bytes);
  return { total: 2 + variables.reduce((n, v) => n + v.bytes, 0), variables };
}

/** What to do, by the variables that take the most room. */
const ADVICE: Readonly<Record<string, string>> = {
  DOCKET_TARGETS:
    "Give this engine fewer or shorter targets (split them across two DocketEngines), or shorten what you added with addEnvironment.",
  DOCKET_TARGET_PARTICIPANTS:
    "Give this engine fewer targets, or shorter names (split them across two DocketEngines).",
  DOCKET_SCHEDULES:
    "Declare the schedules in their processes' definitions (`schedule:`), which have no such limit, instead of the construct's `schedules`.",
};

/** Fails `cdk synth` when one of the functions' environments could pass Lambda's 4 KB. */
export function guardEnvironmentSizes(scope: IConstruct, functions: () => readonly LambdaFunction[]): void {
  scope.node.addValidation({
    validate: () =>
      functions().flatMap((fn) => {
        const size = environmentSize(fn);
        if (size.total <= LAMBDA_ENVIRONMENT_LIMIT) return [];
        const top = size.variables.slice(0, 3);
        const largest = top.map((v) => `${v.name} ${v.bytes} bytes`).join(", ");
        const advice = top.flatMap((v) => (ADVICE[v.name] ? [ADVICE[v.name]] : []));
        return [
          `DocketEngine: the environment of function ${fn.node.path} can reach ${size.total} bytes, over Lambda's limit of ${LAMBDA_ENVIRONMENT_LIMIT} bytes (4 KB) for a function's environment variables (names CloudFormation makes counted at their longest). Largest: ${largest}. ${advice.length ? advice.join(" ") : "Shorten or remove the largest of them (what you added with addEnvironment)."}`,
        ];
      }),
  });
}

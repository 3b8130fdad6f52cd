/**
 * The template's IAM part on an emulator: each AWS::IAM::Role with its AWS::IAM::Policy documents
 * (ARNs resolved to what provision.ts created), and SDK clients that act as one function's role by
 * assuming it, as Lambda does for the function it runs. With IAM enforced (tools/moto-server.py
 * --iam), a grant the template lacks then fails the handler's call as it would in an account.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  GetRoleCommand,
  type IAMClient,
  PutRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SQSClient } from "@aws-sdk/client-sqs";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@aws-sdk/types";
import type { AwsClients, AwsResources } from "../lib/aws/deps.js";
import { EngineError } from "../lib/errors.js";

/** Each function the template defines, as its DOCKET_FUNCTION names it. */
export type FunctionName = "advance" | "ingest" | "register" | "timer-relay" | "invoke" | "sweep" | "api";

interface Resource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

/** How the runner's own SDK clients reach the endpoint (the administrator's credentials). */
export interface ClientConfig {
  readonly endpoint?: string;
  readonly region: string;
  readonly credentials: AwsCredentialIdentity;
}

/**
 * Who may assume the roles on the emulator. The template's trust policy names the Lambda service,
 * which only Lambda can act as (and which moto cannot evaluate); the runner stands in for Lambda,
 * so the emulator's copies trust any identity of the account. Emulator only, never deployed.
 */
const RUNNER_TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { AWS: "*" }, Action: "sts:AssumeRole" }],
});

/**
 * Creates the template's roles and puts their policies; returns what each role's Ref and
 * Fn::GetAtt Arn answer. `resolve` must already know every resource the policies name.
 */
export async function createRoles(
  iam: IAMClient,
  resources: readonly [string, Resource][],
  resolve: (value: unknown) => unknown,
  prefix: string,
): Promise<Map<string, { ref: string; arn: string }>> {
  const roles = new Map<string, { ref: string; arn: string }>();
  for (const [id, r] of resources) {
    if (r.Type !== "AWS::IAM::Role") continue;
    const name = `${prefix}-${id}`.slice(0, 64);
    const arn = await createRole(iam, name);
    roles.set(id, { ref: name, arn });
    for (const managed of (r.Properties?.ManagedPolicyArns as unknown[] | undefined) ?? [])
      await attachManaged(iam, name, String(resolve(managed)));
  }
  for (const [, r] of resources) {
    if (r.Type !== "AWS::IAM::Policy") continue;
    const p = r.Properties ?? {};
    for (const role of (p.Roles as { Ref?: string }[] | undefined) ?? []) {
      const made = roles.get(role.Ref ?? "");
      if (!made) continue; // a role from outside the template
      await iam.send(
        new PutRolePolicyCommand({
          RoleName: made.ref,
          PolicyName: String(p.PolicyName),
          PolicyDocument: JSON.stringify(forEmulator(resolve(p.PolicyDocument) as PolicyDocument)),
        }),
      );
    }
  }
  return roles;
}

interface PolicyDocument {
  readonly Statement?: readonly { readonly Action?: unknown; readonly Resource?: unknown }[];
}

/**
 * A policy as moto can evaluate it. moto authorizes a multi-object delete (DeleteObjects) as
 * s3:DeleteObject on the bucket's ARN, where AWS checks each key: a statement allowing
 * s3:DeleteObject on some of a bucket's keys also names the bucket here, so the call reaches moto's
 * delete (which then checks no key against identity policies). Emulator only, never deployed.
 */
function forEmulator(document: PolicyDocument): PolicyDocument {
  const statements = (document.Statement ?? []).map((statement) => {
    const actions = [statement.Action].flat();
    if (!actions.includes("s3:DeleteObject")) return statement;
    const resources = [statement.Resource].flat().map(String);
    const buckets = resources.flatMap((r) =>
      /^arn:aws:s3:::[^/]+\//.test(r) ? [r.split("/")[0] as string] : [],
    );
    return { ...statement, Resource: [...new Set([...resources, ...buckets])] };
  });
  return { ...document, Statement: statements };
}

async function createRole(iam: IAMClient, name: string): Promise<string> {
  try {
    const { Role } = await iam.send(
      new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: RUNNER_TRUST }),
    );
    return Role?.Arn as string;
  } catch (error) {
    if ((error as Error).name !== "EntityAlreadyExistsException") throw error;
    const { Role } = await iam.send(new GetRoleCommand({ RoleName: name }));
    return Role?.Arn as string;
  }
}

/**
 * AWS managed policies (the basic execution role: CloudWatch Logs) cover what Lambda itself does
 * for the function, outside the handler; an emulator that does not know them is no loss here.
 */
async function attachManaged(iam: IAMClient, role: string, policyArn: string): Promise<void> {
  await iam
    .send(new AttachRolePolicyCommand({ RoleName: role, PolicyArn: policyArn }))
    .catch((error: Error) => {
      if (!/NoSuchEntity|NotFound/.test(error.name)) throw error;
    });
}

/** Each function's role ARN, from the template's functions (their DOCKET_FUNCTION and Role). */
export function functionRoles(
  resources: readonly [string, Resource][],
  resolve: (value: unknown) => unknown,
): Partial<Record<FunctionName, string>> {
  const roles: Partial<Record<FunctionName, string>> = {};
  for (const [, r] of resources) {
    if (r.Type !== "AWS::Lambda::Function") continue;
    const env = (r.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables;
    const name = env?.DOCKET_FUNCTION;
    if (typeof name === "string" && r.Properties?.Role)
      roles[name as FunctionName] = String(resolve(r.Properties.Role));
  }
  return roles;
}

/**
 * Temporary credentials of a role, assumed with the administrator's and renewed before they
 * expire (the SDK asks again within five minutes of the expiration); one AssumeRole per role.
 */
export function assumedRole(
  config: ClientConfig,
  roleArn: string,
  session: string,
): AwsCredentialIdentityProvider {
  const sts = new STSClient(config);
  let current: Promise<AwsCredentialIdentity> | undefined;
  let expires = 0;
  return () => {
    if (!current || Date.now() > expires - 10 * 60_000) {
      current = sts
        .send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: session, DurationSeconds: 3600 }))
        .then(({ Credentials: c }) => {
          if (!c?.AccessKeyId || !c.SecretAccessKey)
            throw new EngineError("Configuration", `assuming ${roleArn} returned no credentials`);
          expires = c.Expiration?.getTime() ?? Date.now() + 3600_000;
          return {
            accessKeyId: c.AccessKeyId,
            secretAccessKey: c.SecretAccessKey,
            sessionToken: c.SessionToken,
            expiration: c.Expiration,
          };
        });
      current.catch(() => {
        current = undefined;
      });
    }
    return current;
  };
}

/** Every client a handler uses, signing as `roleArn` (see assumedRole). */
export function roleClients(config: ClientConfig, roleArn: string, session: string): AwsClients {
  const signed = {
    endpoint: config.endpoint,
    region: config.region,
    credentials: assumedRole(config, roleArn, session),
  };
  return {
    dynamo: new DynamoDBClient(signed),
    sqs: new SQSClient(signed),
    events: new EventBridgeClient(signed),
    s3: new S3Client(signed),
    secrets: new SecretsManagerClient(signed),
    lambda: new LambdaClient(signed),
    sfn: new SFNClient(signed),
  };
}

/**
 * One set of deps per function, each built by `make` from clients signing as that function's
 * role and from the function's own resources; a function the template gives no role to is an
 * error, not the administrator.
 */
export function depsPerRole<D>(
  config: ClientConfig,
  provisioned: {
    readonly roles: Partial<Record<FunctionName, string>>;
    readonly functions: Partial<Record<FunctionName, AwsResources>>;
  },
  make: (clients: AwsClients, resources: AwsResources) => D,
): (fn: FunctionName) => D {
  const made = new Map<FunctionName, D>();
  return (fn) => {
    let deps = made.get(fn);
    if (!deps) {
      const role = provisioned.roles[fn];
      const resources = provisioned.functions[fn];
      if (!role || !resources)
        throw new EngineError(
          "Configuration",
          `the template gives the ${fn} function no role or no environment`,
        );
      deps = make(roleClients(config, role, `docket-${fn}`), resources);
      made.set(fn, deps);
    }
    return deps;
  };
}

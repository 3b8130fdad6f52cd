/**
 * The operations API on AWS: an HTTP API whose every route IAM authorizes, the api function granted
 * exactly what the operations do, `grantRead` (GET only) and `grantOperate` (every method), and
 * the URL in the stack's `ApiUrl` output.
 */
import { Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import type { IConstruct } from "constructs";
import { beforeAll, describe, expect, it } from "vitest";
import { DocketEngine } from "../../cdk/engine.js";
import { engineStack, resourcesOf, unbundledApp } from "./helpers.js";

let stack: Stack;
let engine: DocketEngine;
let template: Template;

const role = (id: string) => new Role(stack, id, { assumedBy: new ServicePrincipal("ec2.amazonaws.com") });

beforeAll(() => {
  stack = new Stack(unbundledApp(), "Api");
  engine = new DocketEngine(stack, "Docket", { participants: ["approve"] });
  engine.grantRead(role("Auditor"));
  engine.grantOperate(role("Operator"));
  template = Template.fromStack(stack);
}, 120_000);

const idOf = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as never);
const arnOf = (construct: IConstruct) => ({ "Fn::GetAtt": [idOf(construct), "Arn"] });

/** The statements of the inline policies attached to a role, as in the template. */
function statementsOf(roleId: string): Record<string, unknown>[] {
  return Object.values(resourcesOf(template, "AWS::IAM::Policy"))
    .filter((p) => JSON.stringify(p.Properties?.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap(
      (p) =>
        (p.Properties?.PolicyDocument as { Statement: Record<string, unknown>[] } | undefined)?.Statement ??
        [],
    );
}

describe("the api function", () => {
  it("may do exactly what the operations do, on exactly the engine's resources", () => {
    const fn = engine.functions.api;
    const serviceRole = stack.getLogicalId(fn.role?.node.defaultChild as never);
    const table = arnOf(engine.table);
    const ingestQueue = engine.node.findChild("IngestQueue");
    const payloads = (key: string) => ({ "Fn::Join": ["", [arnOf(engine.payloadBucket), `/${key}`]] });
    const statements = statementsOf(serviceRole).filter(
      (s) => !String(s.Action).startsWith("xray:"), // X-Ray tracing, as every function
    );
    expect(statements).toEqual([
      {
        Action: ["dynamodb:GetItem", "dynamodb:Query"],
        Effect: "Allow",
        Resource: [
          table,
          { "Fn::Join": ["", [table, "/index/byStatus"]] },
          { "Fn::Join": ["", [table, "/index/byDefinition"]] },
        ],
      },
      // Rollback and version deletion: transactions on definitions' items only.
      {
        Action: ["dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"],
        Condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["P#*", "CATALOGUE", "D#*"] } },
        Effect: "Allow",
        Resource: table,
      },
      // Batch writes reach only an instance's items (delete) and buffered events (publish).
      {
        Action: "dynamodb:BatchWriteItem",
        Condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["I#*", "E#*"] } },
        Effect: "Allow",
        Resource: table,
      },
      // The inbox, and the ingest queue where a publish's routing continues past one page.
      { Action: "sqs:SendMessage", Effect: "Allow", Resource: [arnOf(engine.inbox), arnOf(ingestQueue)] },
      { Action: "secretsmanager:GetSecretValue", Effect: "Allow", Resource: { Ref: idOf(engine.inboxKey) } },
      {
        Action: "s3:GetObject",
        Effect: "Allow",
        Resource: [payloads("instances/*"), payloads("definitions/*")],
      },
      { Action: "s3:PutObject", Effect: "Allow", Resource: payloads("transient/*") },
      {
        Action: "s3:ListBucket",
        Condition: { StringLike: { "s3:prefix": "instances/*" } },
        Effect: "Allow",
        Resource: arnOf(engine.payloadBucket),
      },
      { Action: "s3:DeleteObject", Effect: "Allow", Resource: payloads("instances/*") },
    ]);
  });

  it("is configured from the engine's resources like the other functions, and stays under Lambda's 4 KB", () => {
    template.hasResourceProperties("AWS::Lambda::Function", {
      Environment: {
        Variables: Match.objectLike({
          DOCKET_FUNCTION: "api",
          DOCKET_TABLE: { Ref: idOf(engine.table) },
          DOCKET_INBOX_URL: { Ref: idOf(engine.inbox) },
          DOCKET_INBOX_KEY_SECRET: { Ref: idOf(engine.inboxKey) },
          DOCKET_PAYLOAD_BUCKET: { Ref: idOf(engine.payloadBucket) },
        }),
      },
    });
    const crowded = engineStack({}, "Crowded");
    crowded.engine.functions.api.addEnvironment("PADDING", "x".repeat(4096));
    expect(() => Template.fromStack(crowded)).toThrow(
      /the environment of function Crowded\/Docket\/Api can reach \d+ bytes/,
    );
  }, 60_000);
});

describe("the HTTP API", () => {
  it("sends every path and method to the api function, payload format 2.0, each route IAM-authorized", () => {
    const routes = Object.values(resourcesOf(template, "AWS::ApiGatewayV2::Route"));
    expect(routes.map((r) => r.Properties?.RouteKey).sort()).toEqual(["ANY /", "ANY /{proxy+}"]);
    for (const route of routes) expect(route.Properties?.AuthorizationType).toBe("AWS_IAM");
    const integrations = Object.values(resourcesOf(template, "AWS::ApiGatewayV2::Integration"));
    expect(integrations.map((i) => i.Properties)).toEqual([
      expect.objectContaining({
        IntegrationType: "AWS_PROXY",
        PayloadFormatVersion: "2.0",
        IntegrationUri: arnOf(engine.functions.api),
      }),
    ]);
  });

  it("serves one auto-deployed $default stage, its access logged", () => {
    template.resourceCountIs("AWS::ApiGatewayV2::Stage", 1);
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      StageName: "$default",
      AutoDeploy: true,
      AccessLogSettings: {
        DestinationArn: Match.anyValue(),
        // HTTP APIs' own variables (CDK's default format names REST APIs' $context.resourcePath).
        Format: Match.stringLikeRegexp('"caller":"\\$context.identity.userArn"'),
      },
    });
  });

  it("outputs its URL as ApiUrl", () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs)).toEqual(["ApiUrl"]);
    const api = idOf(engine.api.httpApi);
    expect(JSON.stringify(outputs.ApiUrl?.Value)).toContain(`{"Ref":"${api}"}`);
    expect(JSON.stringify(outputs.ApiUrl?.Value)).toContain(".execute-api.");
  });
});

describe("engine.grantRead and engine.grantOperate", () => {
  /** The execute-api resources a role may invoke, each as `<stage>/<method>/<path>` after the API id. */
  function invokable(name: string): string[] {
    const statements = statementsOf(idOf(stack.node.findChild(name)));
    expect(statements.map((s) => s.Action)).toEqual(["execute-api:Invoke"]);
    const api = idOf(engine.api.httpApi);
    return statements.map((s) => {
      const [, parts] = (s.Resource as { "Fn::Join": [string, unknown[]] })["Fn::Join"];
      expect(parts).toContainEqual({ Ref: api });
      return String(parts[parts.length - 1]);
    });
  }

  it("grantRead: GET on every path of the $default stage, nothing else", () => {
    expect(invokable("Auditor")).toEqual(["/$default/GET/*"]);
  });

  it("grantOperate: every method on every path of the $default stage", () => {
    expect(invokable("Operator")).toEqual(["/$default/*/*"]);
  });
});

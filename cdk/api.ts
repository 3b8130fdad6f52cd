/**
 * The operations API on AWS: an API Gateway HTTP API whose every route is IAM-authorized, in front
 * of the `api` function (lib/aws/api.ts), and that function's grants: exactly what the operations
 * do (lib/runtime/operations.ts over lib/aws/operations.ts).
 *
 * Why an HTTP API with IAM and not a function URL: an execute-api:Invoke grant names the method and
 * the path, so IAM itself tells reading (GET) from operating (POST, DELETE): `grantRead` and
 * `grantOperate`. Callers sign their requests with SigV4 as any AWS call; no token to keep.
 */
import { CfnOutput, type RemovalPolicy, Stack } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import {
  HttpApi,
  HttpMethod,
  type HttpStage,
  LogGroupLogDestination,
  PayloadFormatVersion,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpIamAuthorizer } from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import type { Table } from "aws-cdk-lib/aws-dynamodb";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Bucket } from "aws-cdk-lib/aws-s3";
import type { ISecret } from "aws-cdk-lib/aws-secretsmanager";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { STATUS_INDEX } from "../lib/aws/listing.js";
import { DEFINITION_INDEX } from "../lib/aws/table.js";

/** The stack output naming the API's URL (what `docket` clients look up). */
export const API_URL_OUTPUT = "ApiUrl";

/** The only stage: `$default`, served at the API's own URL with no stage in the path. */
const STAGE = "$default";

/**
 * One JSON line per request, from HTTP APIs' own variables (CDK's default, the Common Log Format,
 * names REST APIs' $context.resourcePath): who signed it, what it asked, what it got.
 */
const ACCESS_LOG = AccessLogFormat.custom(
  JSON.stringify({
    requestId: "$context.requestId",
    time: "$context.requestTime",
    ip: "$context.identity.sourceIp",
    caller: "$context.identity.userArn",
    method: "$context.httpMethod",
    path: "$context.path",
    status: "$context.status",
    bytes: "$context.responseLength",
    error: "$context.error.message",
    integrationError: "$context.integrationErrorMessage",
  }),
);

export interface DocketApiProps {
  /** The function that answers every request (functions/api.ts). */
  readonly handler: NodejsFunction;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention?: RetentionDays;
}

export class DocketApi extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  /** The API's URL, ending in a slash. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: DocketApiProps) {
    super(scope, id);
    const integration = new HttpLambdaIntegration("Operations", props.handler, {
      payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
    });
    this.httpApi = new HttpApi(this, "Http", {
      description: "docket: the operations API (IAM-authorized)",
      defaultAuthorizer: new HttpIamAuthorizer(),
      // A stage of its own below, to log its access.
      createDefaultStage: false,
    });
    this.httpApi.addRoutes({ path: "/{proxy+}", methods: [HttpMethod.ANY], integration });
    this.httpApi.addRoutes({ path: "/", methods: [HttpMethod.ANY], integration });
    // Who called what, with which status: an operator's command is worth an access log line.
    const accessLogs = new LogGroup(this, "AccessLogs", {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy,
    });
    this.stage = this.httpApi.addStage("DefaultStage", {
      stageName: STAGE,
      autoDeploy: true,
      accessLogSettings: { destination: new LogGroupLogDestination(accessLogs), format: ACCESS_LOG },
    });
    this.url = this.stage.url;
    const output = new CfnOutput(this, "Url", {
      value: this.url,
      description: "docket's operations API (sign requests with SigV4, service execute-api)",
    });
    // `ApiUrl` in the stack's outputs, unless another engine of the stack has taken the key.
    const stack = Stack.of(this);
    const taken = stack.node
      .findAll()
      .some((c) => c instanceof CfnOutput && c !== output && stack.resolve(c.logicalId) === API_URL_OUTPUT);
    if (!taken) output.overrideLogicalId(API_URL_OUTPUT);
  }

  /** Lets a principal call every route with every method: read, launch, publish, operate, delete. */
  grantOperate(principal: IGrantable): void {
    this.grantInvoke(principal, "*");
  }

  /** Lets a principal only read: GET on every route (instances, history, diagrams, definitions). */
  grantRead(principal: IGrantable): void {
    this.grantInvoke(principal, "GET");
  }

  private grantInvoke(principal: IGrantable, method: string): void {
    principal.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["execute-api:Invoke"],
        resources: [this.httpApi.arnForExecuteApi(method, "/*", STAGE)],
      }),
    );
  }
}

/**
 * The partition keys the api function may batch-write (lib/aws/table.ts): a deleted instance's
 * items, and publish's buffered events (lib/aws/subscriptions.ts record).
 */
export const API_BATCH_WRITE_KEYS: readonly string[] = ["I#*", "E#*"];

/**
 * The partition keys of the definitions' items the api function may update, delete or check in a
 * transaction (lib/aws/versions.ts): a process's `latest` and versions (`P#…`), its catalogue
 * entry (`CATALOGUE`), and a deleted version's source (`D#…`).
 */
export const API_DEFINITION_WRITE_KEYS: readonly string[] = ["P#*", "CATALOGUE", "D#*"];

/** A condition allowing a write only when every item's partition key is like one of `patterns`. */
const partitions = (patterns: readonly string[]) => ({
  "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [...patterns] },
});

/** What the api function is given: the engine's parts it reads or writes. */
export interface ApiResources {
  readonly table: Table;
  readonly inbox: Queue;
  /** The ingest function's queue, where routing an event to many awaits continues. */
  readonly ingest: Queue;
  readonly inboxKey: ISecret;
  readonly payloadBucket: Bucket;
}

/**
 * The api function's grants, each for an operation:
 * - GetItem and Query on the table, the status index and the definition index: show, history,
 *   diagram, list, definitions (with the instances pinned to each version);
 * - UpdateItem, DeleteItem and ConditionCheckItem only on definitions' keys (`P#…`, `CATALOGUE`,
 *   `D#…`): moving a process's latest version back, deleting a version (transactions);
 * - BatchWriteItem on the table, only on instance keys (`I#…`) and event buffer keys (`E#…`):
 *   delete removes an instance's items in batches, its steps, notes, markers, subscription
 *   pointers and head (lib/aws/store.ts remove); publish buffers the event (subscriptions.ts record);
 * - SendMessage on the inbox: launch, publish and the operator commands queue their messages;
 * - SendMessage on the ingest queue: a publish waking more awaits than one page continues there;
 * - GetSecretValue on the inbox key: those messages are signed;
 * - on the payload bucket: GetObject of instances' and definitions' offloaded parts, PutObject of
 *   large inbox messages (transient/), and ListBucket and DeleteObject of a deleted instance's.
 */
export function grantApiFunction(fn: NodejsFunction, r: ApiResources): void {
  const statement = (actions: string[], resources: string[], conditions?: Record<string, unknown>) =>
    fn.addToRolePolicy(new PolicyStatement({ actions, resources, conditions }));
  const table = r.table.tableArn;
  statement(
    ["dynamodb:GetItem", "dynamodb:Query"],
    [table, `${table}/index/${STATUS_INDEX}`, `${table}/index/${DEFINITION_INDEX}`],
  );
  statement(
    ["dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"],
    [table],
    partitions(API_DEFINITION_WRITE_KEYS),
  );
  // dynamodb:LeadingKeys is the partition key of every item a call writes: the batches reach only
  // instances' items and the event buffer (no definition, timer or await subscription). A batch may
  // put as well as delete (IAM cannot tell its requests apart).
  statement(["dynamodb:BatchWriteItem"], [table], partitions(API_BATCH_WRITE_KEYS));
  statement(["sqs:SendMessage"], [r.inbox.queueArn, r.ingest.queueArn]);
  statement(["secretsmanager:GetSecretValue"], [r.inboxKey.secretArn]);
  const payloads = r.payloadBucket;
  statement(
    ["s3:GetObject"],
    [payloads.arnForObjects("instances/*"), payloads.arnForObjects("definitions/*")],
  );
  statement(["s3:PutObject"], [payloads.arnForObjects("transient/*")]);
  statement(["s3:ListBucket"], [payloads.bucketArn], { StringLike: { "s3:prefix": "instances/*" } });
  statement(["s3:DeleteObject"], [payloads.arnForObjects("instances/*")]);
}

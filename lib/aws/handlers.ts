/**
 * What each Lambda does, with its dependencies passed in (`makeXHandler(deps)`), so tests run the
 * very handlers against an emulator. functions/*.ts only bind them to the default dependencies.
 */
import { LambdaClient } from "@aws-sdk/client-lambda";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { DeleteCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { checkMessage } from "../engine/index.js";
import type { Message } from "../engine/types.js";
import { DocketError, formatProblem, InfrastructureError } from "../errors.js";
import type { Json, JsonObject } from "../language/model.js";
import type { WireTask } from "../runtime/wire.js";
import type { AwsDeps } from "./deps.js";
import { MAX_SQS_DELAY_S, timerKey } from "./dispatcher.js";
import type { OffloadedBody } from "./payloads.js";
import { SIGNATURE_ATTRIBUTE } from "./signing.js";
import {
  callTarget,
  type ExecutionStatusChange,
  executionReply,
  parseTarget,
  type TargetClients,
} from "./targets.js";

export interface SqsRecord {
  readonly messageId: string;
  readonly body: string;
  readonly attributes?: { readonly MessageGroupId?: string };
  /** As Lambda hands them over: `{ name: { stringValue, dataType } }`. */
  readonly messageAttributes?: Readonly<Record<string, { readonly stringValue?: string }>>;
}

export interface SqsBatch {
  readonly Records: readonly SqsRecord[];
}

export interface BatchResult {
  readonly batchItemFailures: { readonly itemIdentifier: string }[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** An inbox body: a docket message (with `type`), or a participant's reply (task + status). */
export function parseInboxBody(body: string): { message?: Message; problem?: string } {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { problem: `not JSON: ${body.slice(0, 80)}` };
  }
  if (isObject(value) && value.type === undefined && value.task !== undefined)
    value = { ...value, type: "reply" };
  const problems = checkMessage(value);
  return problems.length
    ? { problem: problems.map(formatProblem).join("; ") }
    : { message: value as Message };
}

/** The body itself, or the offloaded message it points to. */
async function inboxBody(deps: AwsDeps, body: string): Promise<string> {
  if (!body.startsWith('{"docket_payload":')) return body;
  const { docket_payload } = JSON.parse(body) as OffloadedBody;
  return deps.payloads.get(docket_payload);
}

/** Whether a message carries docket's signature (always, when no signing key is configured). */
async function signedByDocket(deps: AwsDeps, record: SqsRecord): Promise<boolean> {
  if (!deps.signer) return true;
  return deps.signer.verify(record.body, record.messageAttributes?.[SIGNATURE_ATTRIBUTE]?.stringValue);
}

async function deadLetter(deps: AwsDeps, record: SqsRecord, reason: string): Promise<void> {
  console.error(
    JSON.stringify({ level: "error", message: "dead-lettered", reason, messageId: record.messageId }),
  );
  const queue = deps.resources.queues.deadLetters;
  if (queue)
    await deps.clients.sqs.send(
      new SendMessageCommand({ QueueUrl: queue, MessageBody: JSON.stringify({ reason, body: record.body }) }),
    );
}

/** The inbox (FIFO, grouped by instance): applies each message; a failure fails the rest of its group, as FIFO requires. */
export function makeAdvanceHandler(deps: AwsDeps) {
  return async (event: SqsBatch): Promise<BatchResult> => {
    const failures: { itemIdentifier: string }[] = [];
    const failedGroups = new Set<string>();
    for (const record of event.Records) {
      const group = record.attributes?.MessageGroupId ?? "";
      if (failedGroups.has(group)) {
        failures.push({ itemIdentifier: record.messageId });
        continue;
      }
      const { message, problem } = parseInboxBody(await inboxBody(deps, record.body));
      if (!message) {
        await deadLetter(deps, record, problem ?? "unreadable");
        continue;
      }
      if (message.type !== "reply" && !(await signedByDocket(deps, record))) {
        await deadLetter(
          deps,
          record,
          `an unsigned ${message.type} message: only docket's functions may send one`,
        );
        continue;
      }
      const instance = message.type === "reply" ? (message.task.instance ?? group) : group;
      try {
        await deps.runtime.apply(instance, message, record.messageId);
      } catch (error) {
        if (
          error instanceof DocketError &&
          !(error instanceof InfrastructureError) &&
          error.code !== "Conflict"
        ) {
          await deadLetter(deps, record, error.message);
          continue;
        }
        console.error(JSON.stringify({ level: "warn", message: "retrying", instance, error: String(error) }));
        failedGroups.add(group);
        failures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
}

interface BusEvent {
  readonly "detail-type"?: string;
  readonly detail?: Record<string, unknown>;
  readonly id?: string;
}

const STEP_FUNCTIONS_STATUS = "Step Functions Execution Status Change";

/**
 * Events from the bus (through a queue): `docket.launch` starts an instance; a Step Functions
 * execution's end answers the `sfn:` task it ran; any other event may wake awaits.
 */
export function makeIngestHandler(deps: AwsDeps) {
  return async (event: SqsBatch): Promise<BatchResult> => {
    const failures: { itemIdentifier: string }[] = [];
    for (const record of event.Records) {
      try {
        const bus = JSON.parse(record.body) as BusEvent;
        const detail = bus.detail ?? {};
        if (bus["detail-type"] === STEP_FUNCTIONS_STATUS) {
          const reply = executionReply(detail as ExecutionStatusChange);
          if (reply) await deps.runtime.reply(reply);
        } else if (bus["detail-type"] === "docket.launch") {
          const process = typeof detail.process === "string" ? detail.process : "";
          const [name, version] = process.split("@");
          await deps.runtime.launch({
            process: name ?? "",
            version,
            fields: isObject(detail.fields) ? (detail.fields as JsonObject) : {},
            id: typeof detail.id === "string" ? detail.id : undefined,
          });
        } else if (bus["detail-type"]) {
          // bureaucrat's events carry the name in `event`; docket's in detail-type.
          const name = typeof detail.event === "string" ? detail.event : bus["detail-type"];
          const key = detail.key === undefined ? undefined : String(detail.key);
          await deps.runtime.publish({ name, key, data: (detail.data ?? detail) as Json, id: bus.id });
        }
      } catch (error) {
        if (error instanceof DocketError && !(error instanceof InfrastructureError)) {
          await deadLetter(deps, record, error.message);
          continue;
        }
        failures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
}

/** The bucket and key of an S3 object-created event: EventBridge's shape, or S3's own notification. */
function objectOf(body: unknown, fallbackBucket: string): { bucket: string; key?: string } {
  const detail = (body as BusEvent).detail;
  const record = (body as { Records?: { s3?: { bucket?: { name?: string }; object?: { key?: string } } }[] })
    .Records?.[0]?.s3;
  const bucket =
    (detail?.bucket as { name?: string } | undefined)?.name ?? record?.bucket?.name ?? fallbackBucket;
  const raw = (detail?.object as { key?: string } | undefined)?.key ?? record?.object?.key;
  return { bucket, key: raw === undefined ? undefined : decodeURIComponent(raw.replaceAll("+", " ")) };
}

/** S3 object-created events (via the bus and a queue): register the definition, or publish its rejection. */
export function makeRegisterHandler(deps: AwsDeps) {
  return async (event: SqsBatch): Promise<BatchResult> => {
    const failures: { itemIdentifier: string }[] = [];
    for (const record of event.Records) {
      try {
        const { bucket, key } = objectOf(JSON.parse(record.body), deps.resources.bucket);
        if (!key || !/\.(xml|ya?ml|json)$/i.test(key)) continue;
        const object = await deps.clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const source = (await object.Body?.transformToString("utf8")) ?? "";
        const registration = await deps.definitions.register(key, source);
        if (!registration.ok)
          await deps.dispatcher.publish("docket.definition.rejected", {
            bucket,
            key,
            process: registration.name,
            problems: [...registration.problems],
          });
        else
          await deps.dispatcher.publish("docket.definition.registered", {
            bucket,
            key,
            process: registration.name,
            version: registration.hash,
          });
      } catch (error) {
        console.error(JSON.stringify({ level: "warn", message: "register failed", error: String(error) }));
        failures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
}

/** Fired timers (the timer queue's delayed messages) become timer messages in the instance's inbox. */
export function makeTimerRelayHandler(deps: AwsDeps) {
  return async (event: SqsBatch): Promise<BatchResult> => {
    const failures: { itemIdentifier: string }[] = [];
    for (const record of event.Records) {
      try {
        const timer = JSON.parse(record.body) as {
          timer: string;
          instance: string;
          node: string;
          due: number;
        };
        const left = Math.ceil((timer.due - deps.now()) / 1000);
        if (left > 0) await deps.dispatcher.sendTimer(timer, left);
        else
          await deps.dispatcher.enqueue(timer.instance, {
            type: "timer",
            node: timer.node,
            timer: timer.timer,
          });
      } catch {
        failures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
}

/** The rate(1 minute) sweep: timers due within SQS's 15-minute reach go to the timer queue with the exact delay. */
export function makeSweepHandler(deps: AwsDeps) {
  return async (): Promise<{ handed: number }> => {
    const { table } = deps;
    const horizon = deps.now() + MAX_SQS_DELAY_S * 1000;
    const { Items = [] } = await table.client.send(
      new QueryCommand({
        TableName: table.name,
        KeyConditionExpression: "pk = :pk AND sk <= :to",
        ExpressionAttributeValues: { ":pk": "TIMERS", ":to": timerKey(horizon, "~") },
      }),
    );
    for (const item of Items) {
      const timer = {
        timer: String(item.timer),
        instance: String(item.instance),
        node: String(item.node),
        due: Number(item.due),
      };
      await deps.dispatcher.sendTimer(timer, Math.max(0, Math.ceil((timer.due - deps.now()) / 1000)));
      await table.client.send(
        new DeleteCommand({ TableName: table.name, Key: { pk: "TIMERS", sk: String(item.sk) } }),
      );
      await table.client.send(
        new DeleteCommand({ TableName: table.name, Key: { pk: `T#${timer.timer}`, sk: "TIMER" } }),
      );
    }
    return { handed: Items.length };
  };
}

/** A task whose fields were offloaded, with its fields back. */
async function withFields(
  deps: AwsDeps,
  task: WireTask & { fields_ref?: { key: string } },
): Promise<WireTask> {
  if (!task.fields_ref) return task;
  const { fields_ref, ...rest } = task;
  return { ...rest, fields: JSON.parse(await deps.payloads.get(`s3ref:${fields_ref.key}`)) };
}

/** Tasks of participants the engine calls itself: run each on its target and queue the reply. */
export function makeInvokeHandler(deps: AwsDeps) {
  let clients: TargetClients | undefined;
  return async (event: SqsBatch): Promise<BatchResult> => {
    clients ??= {
      lambda: deps.clients.lambda ?? new LambdaClient({}),
      sfn: deps.clients.sfn ?? new SFNClient({}),
    };
    const failures: { itemIdentifier: string }[] = [];
    for (const record of event.Records) {
      try {
        const task = await withFields(
          deps,
          JSON.parse(record.body) as WireTask & { fields_ref?: { key: string } },
        );
        const participant = task.task?.participant;
        const spec = deps.resources.targets?.[participant];
        if (!spec) {
          await deadLetter(deps, record, `participant ${participant} has no target`);
          continue;
        }
        const reply = await callTarget(clients, parseTarget(participant, spec), task);
        if (reply) await deps.runtime.reply(reply);
      } catch (error) {
        if (error instanceof DocketError && !(error instanceof InfrastructureError)) {
          await deadLetter(deps, record, error.message);
          continue;
        }
        console.error(JSON.stringify({ level: "warn", message: "invoke failed", error: String(error) }));
        failures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
}

/**
 * What each Lambda does, with its dependencies passed in (`makeXHandler(deps)`), so tests run the
 * very handlers against an emulator. functions/*.ts only bind them to the default dependencies.
 * Each queue-fed handler handles one record at a time through lib/aws/edge.ts: whatever fails for
 * a record (its body, an offloaded payload, the signing key, the call it makes) fails that record
 * only, and SQS delivers it again; what can never be applied is set aside in the dead-letter queue.
 */
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { unknownTask } from "../engine/check.js";
import type { Message, ReplyMessage } from "../engine/types.js";
import { EngineError, formatProblem } from "../errors.js";
import type { JsonObject } from "../language/model.js";
import { publishedEvent } from "../runtime/events.js";
import { unusedName } from "../runtime/registration.js";
import { incomingProblems } from "../runtime/runtime.js";
import type { AwsDeps } from "./deps.js";
import type { RouteContinuation } from "./dispatcher.js";
import {
  type BatchResult,
  cannotApply,
  deadLetter,
  edgeLogger,
  isObject,
  type LambdaContext,
  parsed,
  processBatch,
  type SqsBatch,
  type SqsRecord,
} from "./edge.js";
import type { OffloadedBody } from "./payloads.js";
import { sweepSchedules } from "./schedules.js";
import { SIGNATURE_ATTRIBUTE } from "./signing.js";
import { type SweepResult, sweepTimers } from "./sweep.js";
import { aws } from "./table.js";
import { type ExecutionStatusChange, executionReply } from "./targets.js";

export type { BatchResult, SqsBatch, SqsRecord } from "./edge.js";
export { makeInvokeHandler } from "./invoke.js";
export { makeTimerRelayHandler } from "./timer-relay.js";

/** An inbox body: a docket message (with `type`), or a participant's reply (task + status). */
export function parseInboxBody(body: string): { message?: Message; problem?: string } {
  let value = parsed(body);
  if (value === undefined) return { problem: `not JSON: ${body.slice(0, 80)}` };
  if (isObject(value) && value.type === undefined && value.task !== undefined)
    value = { ...value, type: "reply" };
  const problems = incomingProblems(value);
  return problems.length
    ? { problem: problems.map(formatProblem).join("; ") }
    : { message: value as Message };
}

/** The body itself, or the offloaded message it points to (a failed read throws: retried). */
async function inboxBody(deps: AwsDeps, body: string): Promise<string> {
  if (!body.startsWith('{"docket_payload":')) return body;
  const pointer = parsed(body) as Partial<OffloadedBody> | undefined;
  return typeof pointer?.docket_payload === "string" ? deps.payloads.get(pointer.docket_payload) : body;
}

/** Whether a message carries docket's signature (always, when no signing key is configured). */
async function signedByDocket(deps: AwsDeps, record: SqsRecord): Promise<boolean> {
  if (!deps.signer) return true;
  return deps.signer.verify(record.body, record.messageAttributes?.[SIGNATURE_ATTRIBUTE]?.stringValue);
}

/** The log keys a message gives: its instance, and the process and version a launch names. */
function messageKeys(instance: string, message: Message): Record<string, string> {
  const keys: Record<string, string> = { instance, messageType: message.type };
  if (message.type === "launch") Object.assign(keys, { process: message.process, version: message.version });
  if (message.type === "reply") Object.assign(keys, { task: message.task.id, node: message.task.node });
  else if ("node" in message && typeof message.node === "string") keys.node = message.node;
  return keys;
}

/** One inbox message: set aside when it can never be applied, applied, or thrown back to be retried. */
async function advanceRecord(deps: AwsDeps, record: SqsRecord, log: ReturnType<typeof edgeLogger>) {
  const group = record.attributes?.MessageGroupId ?? "";
  const { message, problem } = parseInboxBody(await inboxBody(deps, record.body));
  if (!message) return deadLetter(deps, record, problem ?? "unreadable", log);
  if (message.type !== "reply" && !(await signedByDocket(deps, record)))
    return deadLetter(
      deps,
      record,
      `an unsigned ${message.type} message: only docket's functions may send one`,
      log,
    );
  const instance = message.type === "reply" ? (message.task.instance ?? group) : group;
  // A reply outside its instance's group would run beside that group's messages, out of their order.
  if (group && instance !== group)
    return deadLetter(
      deps,
      record,
      `a reply for instance ${instance} sent in message group ${group}: send it with MessageGroupId = task.reply_group`,
      log,
    );
  log.appendKeys(messageKeys(instance, message));
  let outcome: Awaited<ReturnType<AwsDeps["runtime"]["apply"]>>;
  try {
    outcome = await deps.runtime.apply(instance, message, record.messageId);
  } catch (error) {
    if (cannotApply(error)) return deadLetter(deps, record, error.message, log);
    throw error;
  }
  if (message.type === "reply") {
    const reason = await unansweredReason(deps, instance, message, outcome);
    if (reason) return deadLetter(deps, record, reason, log);
  }
  // Not acknowledged: SQS gives it again, and after the inbox's maxReceiveCount sets it aside.
  if (outcome === "no-instance" && message.type !== "launch")
    throw new EngineError("NoInstance", `no instance ${instance} for this ${message.type} message (yet)`);
}

/**
 * Why a reply can never be applied, or undefined. A worker's reply comes after its task, so one
 * that finds no instance never will (the instance was deleted, or never was); one whose task the
 * instance never issued (engine/check.ts unknownTask) never will either. Both are set aside with
 * the reason rather than retried. A reply the interpreter ignored is checked with the state it
 * met: the store read it for apply, so this load reads only steps written since.
 */
async function unansweredReason(
  deps: AwsDeps,
  instance: string,
  reply: ReplyMessage,
  outcome: Awaited<ReturnType<AwsDeps["runtime"]["apply"]>>,
): Promise<string | undefined> {
  if (outcome === "no-instance") return `no instance ${instance} for the reply to task ${reply.task.id}`;
  if (outcome !== "ignored") return undefined;
  const stored = await deps.runtime.deps.store.load(instance);
  const definition = stored && (await deps.definitions.byHash(stored.definition));
  return stored && definition ? unknownTask(definition, stored.snapshot, reply.task) : undefined;
}

/** The inbox (FIFO, grouped by instance): applies each message; a failure stops its group, as FIFO requires. */
export function makeAdvanceHandler(deps: AwsDeps) {
  const log = edgeLogger("advance");
  return (event: SqsBatch, context?: LambdaContext): Promise<BatchResult> =>
    processBatch(event, log, (record, recordLog) => advanceRecord(deps, record, recordLog), {
      fifo: true,
      context,
      metrics: deps.metrics,
    });
}

interface BusEvent {
  readonly "detail-type"?: string;
  readonly detail?: Record<string, unknown>;
  readonly id?: string;
}

const STEP_FUNCTIONS_STATUS = "Step Functions Execution Status Change";

/** One bus event: an execution's end, a launch, or an event for awaits. */
async function ingestEvent(deps: AwsDeps, bus: BusEvent, log: ReturnType<typeof edgeLogger>) {
  const detail = bus.detail ?? {};
  const type = bus["detail-type"];
  if (type === STEP_FUNCTIONS_STATUS) {
    const reply = executionReply(detail as ExecutionStatusChange);
    if (reply) log.appendKeys({ instance: reply.task.instance, task: reply.task.id });
    if (reply) await deps.runtime.reply(reply);
  } else if (type === "docket.launch") {
    const [name, version] = (typeof detail.process === "string" ? detail.process : "").split("@");
    // Without an id of its own, the bus event's: a redelivered launch starts nothing new.
    const id = typeof detail.id === "string" ? detail.id : bus.id;
    log.appendKeys({ instance: id, process: name, ...(version ? { version } : {}) });
    await deps.runtime.launch({
      process: name ?? "",
      version,
      fields: isObject(detail.fields) ? (detail.fields as JsonObject) : {},
      id,
    });
  } else if (type) {
    const request = publishedEvent(detail, type);
    log.appendKeys({ event: request.name, ...(request.key === undefined ? {} : { key: request.key }) });
    await deps.runtime.publish({ ...request, id: request.id ?? bus.id });
  }
}

/** The rest of an event's routing, handed over by the function that routed its first pages. */
async function continueRouting(deps: AwsDeps, record: SqsRecord, log: ReturnType<typeof edgeLogger>) {
  // Checked before anything is read: only docket's own functions may send one (or offload one).
  if (!(await signedByDocket(deps, record)))
    return deadLetter(deps, record, "an unsigned routing message: only docket's functions may send one", log);
  const body = parsed(await inboxBody(deps, record.body)) as Partial<RouteContinuation> | undefined;
  if (!body?.docket_route) return deadLetter(deps, record, "not a routing message", log);
  const { event, cursor } = body.docket_route;
  log.appendKeys({ event: event.name, ...(event.key === undefined ? {} : { key: event.key }), cursor });
  await deps.runtime.route(event, cursor);
}

/**
 * Events from the bus (through a queue): `docket.launch` starts an instance; a Step Functions
 * execution's end answers the `sfn:` task it ran; any other event may wake awaits.
 */
export function makeIngestHandler(deps: AwsDeps) {
  const log = edgeLogger("ingest");
  const handle = async (record: SqsRecord, recordLog: ReturnType<typeof edgeLogger>) => {
    const bus = parsed(record.body);
    if (!isObject(bus)) return deadLetter(deps, record, "not a bus event", recordLog);
    try {
      if ("docket_route" in bus || "docket_payload" in bus) await continueRouting(deps, record, recordLog);
      else await ingestEvent(deps, bus as BusEvent, recordLog);
    } catch (error) {
      if (cannotApply(error)) return deadLetter(deps, record, error.message, recordLog);
      throw error;
    }
  };
  return (event: SqsBatch, context?: LambdaContext): Promise<BatchResult> =>
    processBatch(event, log, handle, { context, metrics: deps.metrics });
}

/** The bucket and key of an S3 object-created event: EventBridge's shape, or S3's own notification. */
function objectOf(body: unknown, fallbackBucket: string): { bucket: string; key?: string } {
  const detail = (body as BusEvent | undefined)?.detail;
  const record = (body as { Records?: { s3?: { bucket?: { name?: string }; object?: { key?: string } } }[] })
    ?.Records?.[0]?.s3;
  const bucket =
    (detail?.bucket as { name?: string } | undefined)?.name ?? record?.bucket?.name ?? fallbackBucket;
  const raw = (detail?.object as { key?: string } | undefined)?.key ?? record?.object?.key;
  return { bucket, key: raw === undefined ? undefined : decodeURIComponent(raw.replaceAll("+", " ")) };
}

/** One object-created event: registers the definition, or publishes its rejection. */
async function registerObject(deps: AwsDeps, record: SqsRecord, log: ReturnType<typeof edgeLogger>) {
  const { bucket, key } = objectOf(parsed(record.body), deps.resources.bucket);
  if (!key || !/\.(xml|ya?ml|json)$/i.test(key)) return;
  log.appendKeys({ bucket, key });
  const object = await aws(`reading s3://${bucket}/${key}`, () =>
    deps.clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })),
  );
  const source = (await object.Body?.transformToString("utf8")) ?? "";
  const registration = await deps.definitions.register(key, source);
  if (!registration.ok) {
    log.warn("definition rejected", { process: registration.name, problems: registration.problems });
    await deps.dispatcher.publish("docket.definition.rejected", {
      bucket,
      key,
      process: registration.name,
      problems: [...registration.problems],
    });
  } else {
    if (registration.declared !== undefined)
      log.warn(`definition registered as ${registration.name}${unusedName(registration.declared)}`);
    await deps.dispatcher.publish("docket.definition.registered", {
      bucket,
      key,
      process: registration.name,
      version: registration.hash,
    });
  }
}

/** S3 object-created events (via the bus and a queue): register the definition, or publish its rejection. */
export function makeRegisterHandler(deps: AwsDeps) {
  const log = edgeLogger("register");
  // In order: two versions of one definition in a batch become `latest` in the order they came.
  return (event: SqsBatch, context?: LambdaContext): Promise<BatchResult> =>
    processBatch(event, log, (record, recordLog) => registerObject(deps, record, recordLog), {
      inOrder: true,
      context,
      metrics: deps.metrics,
    });
}

/**
 * The rate(1 minute) sweep (sweep.ts): long timers that came within SQS's 15-minute reach go to the
 * timer queue with the exact delay; it stops in time when the invocation's time runs low. First
 * the schedules' fires of the next fifteen minutes are armed (schedules.ts: a few calls, whatever
 * the timers' backlog), counted with the timers; their failure fails the sweep after the timers.
 */
export function makeSweepHandler(deps: AwsDeps) {
  const log = edgeLogger("sweep");
  return async (
    _event?: unknown,
    context?: Pick<LambdaContext, "getRemainingTimeInMillis">,
  ): Promise<SweepResult> => {
    let armed = 0;
    let failure: unknown;
    try {
      armed = await sweepSchedules(deps, (line) => log.info(line));
    } catch (error) {
      failure = error;
    }
    const swept = await sweepTimers(
      { table: deps.table, sqs: deps.clients.sqs, timerQueue: deps.resources.queues.timers, now: deps.now },
      context ? { timeLeftMs: () => context.getRemainingTimeInMillis() } : {},
    );
    if (failure) throw failure;
    return { ...swept, handed: swept.handed + armed };
  };
}

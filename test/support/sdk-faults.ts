/**
 * Makes an emulator misbehave as AWS may, at the SDK clients' call sites (a middleware on each
 * client, so the adapters run unchanged): throttling errors, and batch calls that succeed only in
 * part (BatchWriteItem's UnprocessedItems, SendMessageBatch's and DeleteMessageBatch's `Failed`,
 * PutEvents' FailedEntryCount). The part reported failed is really not done; the rest really is.
 * Seeded, so a run is reproducible; it counts what it injected.
 */
import { ProvisionedThroughputExceededException } from "@aws-sdk/client-dynamodb";
import { ThrottlingException } from "@aws-sdk/client-eventbridge";
import { RequestThrottled } from "@aws-sdk/client-sqs";
import { ConfiguredRetryStrategy } from "@smithy/core/retry";
import type { AwsClients } from "../../lib/aws/deps.js";

export type SdkFault = "throttle" | "unprocessed" | "partial";

export interface SdkFaultPlan {
  readonly seed: number;
  /** The chance of each fault at each call it applies to. */
  readonly rates?: Partial<Record<SdkFault, number>>;
  /** Or exact calls: the `call`th call (from 1) that `fault` applies to gets it. */
  readonly schedule?: readonly { readonly call: number; readonly fault: SdkFault }[];
}

/** A middleware-carrying client of any AWS service (the SDK's types differ per client). */
interface SdkClient {
  // biome-ignore lint/suspicious/noExplicitAny: each client's stack is typed by its own inputs and outputs.
  readonly middlewareStack: { add(middleware: any, options: any): void };
}

type Input = Record<string, unknown>;
type Output = Record<string, unknown>;
type Next = (args: { input: Input }) => Promise<{ output: Output; response: unknown }>;
interface Context {
  readonly clientName?: string;
  readonly commandName?: string;
}

const INJECTED = "injected by sdk-faults";

/** mulberry32: a small seeded generator, so a plan replays the same faults on the same calls. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The throttling error each service really answers with: the SDK's retry classifies it by name. */
function throttle(client: string | undefined, command: string | undefined): Error {
  const options = { message: `${command} throttled (${INJECTED})`, $metadata: { httpStatusCode: 400 } };
  if (client === "DynamoDBClient") return new ProvisionedThroughputExceededException(options);
  if (client === "SQSClient") return new RequestThrottled(options);
  return new ThrottlingException(options);
}

export class SdkFaults {
  private readonly random: () => number;
  private readonly seen: Record<SdkFault, number> = { throttle: 0, unprocessed: 0, partial: 0 };
  /** Calls that got each fault. */
  readonly injected: Record<SdkFault, number> = { throttle: 0, unprocessed: 0, partial: 0 };
  /** Batch entries (items, messages, events) reported failed and not done. */
  withheld = 0;
  /** Throttled calls the SDK's own retry sent again (so it took them for throttles). */
  retriedBySdk = 0;
  private readonly throttled = new WeakSet<object>();

  constructor(private readonly plan: SdkFaultPlan) {
    this.random = seeded(plan.seed);
  }

  /** Whether this call (the next one `fault` applies to) gets it. */
  private draw(fault: SdkFault): boolean {
    const call = ++this.seen[fault];
    const scheduled = this.plan.schedule?.some((s) => s.fault === fault && s.call === call) ?? false;
    const hit = scheduled || this.random() < (this.plan.rates?.[fault] ?? 0);
    if (hit) this.injected[fault] += 1;
    return hit;
  }

  /** Splits a batch: a non-empty part withheld (all of a single entry), the rest kept. */
  private split<T>(entries: readonly T[]): { kept: T[]; withheld: T[] } {
    const kept: T[] = [];
    const withheld: T[] = [];
    for (const entry of entries) (this.random() < 0.5 ? withheld : kept).push(entry);
    if (!withheld.length) withheld.push(kept.pop() as T);
    if (!kept.length && withheld.length > 1) kept.push(withheld.shift() as T);
    this.withheld += withheld.length;
    return { kept, withheld };
  }

  /** Adds the middlewares to a DynamoDB, SQS or EventBridge client (a document client shares its client's stack). */
  attach(client: SdkClient, faults: readonly SdkFault[] = ["throttle", "unprocessed", "partial"]): void {
    if (faults.includes("throttle"))
      // Inside the SDK's retry (finalizeRequest, high), so a throttle is retried as AWS's would be.
      client.middlewareStack.add(
        (next: Next, context: Context) => (args: { input: Input }) => {
          if (this.throttled.has(args.input)) this.retriedBySdk += 1;
          if (!this.draw("throttle")) return next(args);
          this.throttled.add(args.input);
          return Promise.reject(throttle(context.clientName, context.commandName));
        },
        { step: "finalizeRequest", priority: "low", name: "sdkFaultsThrottle" },
      );
    if (faults.includes("unprocessed") || faults.includes("partial"))
      // Before serialization (and before a document client's marshalling), so the request sent is the part kept.
      client.middlewareStack.add(
        (next: Next, context: Context) => (args: { input: Input }) =>
          this.partial(next, context, args, faults),
        { step: "initialize", priority: "low", name: "sdkFaultsPartial" },
      );
  }

  private partial(next: Next, context: Context, args: { input: Input }, faults: readonly SdkFault[]) {
    const command = context.commandName ?? "";
    if (/^BatchWrite(Item)?Command$/.test(command) && faults.includes("unprocessed"))
      return this.draw("unprocessed") ? this.unprocessed(next, args) : next(args);
    if (
      /^(SendMessageBatch|DeleteMessageBatch|PutEvents)Command$/.test(command) &&
      faults.includes("partial")
    )
      return this.draw("partial")
        ? command === "PutEventsCommand"
          ? this.failEvents(next, args)
          : this.failMessages(next, args)
        : next(args);
    return next(args);
  }

  private async unprocessed(next: Next, args: { input: Input }) {
    const requests = Object.entries(args.input.RequestItems as Record<string, unknown[]>).flatMap(
      ([table, list]) => list.map((request) => ({ table, request })),
    );
    const { kept, withheld } = this.split(requests);
    const byTable = (list: typeof requests) => {
      const out: Record<string, unknown[]> = {};
      for (const { table, request } of list) out[table] = [...(out[table] ?? []), request];
      return out;
    };
    const result = kept.length
      ? await next({ ...args, input: { ...args.input, RequestItems: byTable(kept) } })
      : { output: { $metadata: {} }, response: { statusCode: 200, headers: {} } };
    const left = byTable(withheld);
    const already = (result.output.UnprocessedItems ?? {}) as Record<string, unknown[]>;
    for (const [table, list] of Object.entries(already)) left[table] = [...(left[table] ?? []), ...list];
    return { ...result, output: { ...result.output, UnprocessedItems: left } };
  }

  private async failMessages(next: Next, args: { input: Input }) {
    const { kept, withheld } = this.split(args.input.Entries as { Id: string }[]);
    const result = kept.length
      ? await next({ ...args, input: { ...args.input, Entries: kept } })
      : { output: { $metadata: {}, Successful: [] }, response: { statusCode: 200, headers: {} } };
    const failed = withheld.map(({ Id }) => ({
      Id,
      SenderFault: false,
      Code: "InternalError",
      Message: INJECTED,
    }));
    const before = (result.output.Failed ?? []) as unknown[];
    return { ...result, output: { ...result.output, Failed: [...before, ...failed] } };
  }

  private async failEvents(next: Next, args: { input: Input }) {
    const entries = args.input.Entries as unknown[];
    const { kept, withheld } = this.split(entries.map((entry, index) => ({ entry, index })));
    const result = kept.length
      ? await next({ ...args, input: { ...args.input, Entries: kept.map((k) => k.entry) } })
      : {
          output: { $metadata: {}, FailedEntryCount: 0, Entries: [] },
          response: { statusCode: 200, headers: {} },
        };
    // The result entries answer the request's, index for index.
    const answered = (result.output.Entries ?? []) as unknown[];
    const results: unknown[] = new Array(entries.length);
    kept.forEach((k, i) => {
      results[k.index] = answered[i];
    });
    for (const w of withheld) results[w.index] = { ErrorCode: "InternalFailure", ErrorMessage: INJECTED };
    const failedBefore = Number(result.output.FailedEntryCount ?? 0);
    return {
      ...result,
      output: { ...result.output, Entries: results, FailedEntryCount: failedBefore + withheld.length },
    };
  }
}

/** Clients that retry a throttle as AWS's SDK does, with short delays so a test under many faults stays quick. */
export function quickRetries(maxAttempts = 6) {
  return { retryStrategy: new ConfiguredRetryStrategy(maxAttempts, (attempt: number) => 5 * 2 ** attempt) };
}

/** Attaches the faults to the clients the adapters write through (DynamoDB, SQS, EventBridge). */
export function withSdkFaults(clients: AwsClients, faults: SdkFaults): AwsClients {
  faults.attach(clients.dynamo);
  faults.attach(clients.sqs);
  faults.attach(clients.events);
  return clients;
}

/**
 * Lambda's requests and billed duration, measured while LocalRunner runs the very handlers.
 *
 * An invocation is what Lambda's event source mapping hands a function: it starts when the
 * runner's poller receives a non-empty batch and ends at the poller's next call (the batch's
 * delete) or at `close()`. Its billed duration is modelled as
 *
 *   the handler's own CPU time, scaled to the CPU share Lambda gives the configured memory
 *   (1,769 MB is one vCPU: Lambda Developer Guide, "Configure Lambda function memory"),
 *   + an assumed AWS round trip per call it makes (CALL_LATENCY_MS): calls that overlap (a batch's
 *     records in parallel) wait once, for the slowest of them,
 *
 * rounded up to the millisecond. The handler's own time is the process's CPU time while none of
 * its calls is in flight, so neither the emulator's speed nor a busy machine's waiting counts, and
 * the SDK's own work for a call (and the meter's reads) falls within the call's assumed round trip.
 * The poller's requests (a non-empty receive and its delete) are SQS requests the mapping makes on
 * the function's behalf: counted here; its empty long polls are a fixed cost, not a step's.
 */
import type { Ledger } from "./metering.js";
import { sqsRequests } from "./metering.js";

export type Service = "dynamodb" | "sqs" | "s3" | "events" | "secrets";

/**
 * Assumed round trip of one call from a warm Lambda in the same region (connection reused), in
 * milliseconds: DynamoDB's single-digit latency, SQS's and EventBridge's some 10 ms, S3's small
 * objects some 20 ms. An assumption, stated in the README next to the figures it gives.
 */
export const CALL_LATENCY_MS: Readonly<Record<Service, number>> = {
  dynamodb: 5,
  sqs: 10,
  events: 10,
  s3: 20,
  secrets: 20,
};

/** 1,769 MB of memory has one vCPU's worth of CPU time per second. */
const ONE_VCPU_MB = 1769;

type Handler = (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>;
interface StackClient {
  middlewareStack: {
    add(
      middleware: (next: Handler, context: { commandName?: string }) => Handler,
      options: { step: "initialize"; name: string; priority?: "high" },
    ): void;
  };
}

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

interface Invocation {
  /** CPU time of the handler's own so far (while none of its calls was in flight). */
  ownMs: number;
  /** The CPU clock when the last call ended (or the invocation began). */
  idleSince: number;
  inFlight: number;
  /** The slowest assumed round trip among the calls now overlapping. */
  wave: number;
  awsMs: number;
}

export class InvocationMeter {
  private current?: Invocation;
  /** Sums over the invocations closed: the handlers' own CPU time (unscaled) and the assumed waits. */
  readonly totals = { ownMs: 0, awsMs: 0 };

  constructor(
    private readonly ledger: Ledger,
    private readonly memoryMb: number,
    private readonly latency: Readonly<Record<Service, number>> = CALL_LATENCY_MS,
  ) {}

  /** The event source mapping's client: a non-empty receive starts an invocation, its next call ends it. */
  watchPoller(poller: unknown): void {
    (poller as StackClient).middlewareStack.add(
      (next, context) => async (args) => {
        this.close();
        const result = await next(args);
        const received = context.commandName === "ReceiveMessageCommand";
        const handed = ((result.output.Messages as unknown[] | undefined) ?? []).length > 0;
        // An empty poll is the mapping's fixed cost; a batch's receive and delete are its steps'.
        if (handed || !received) {
          const count = sqsRequests(context.commandName, args.input, result.output);
          if (String(args.input.QueueUrl ?? "").endsWith(".fifo")) this.ledger.sqsFifo += count;
          else this.ledger.sqsStandard += count;
        }
        if (received && handed) this.open();
        return result;
      },
      { step: "initialize", name: "docketInvocations", priority: "high" },
    );
  }

  /** A client the functions call `service` with: its calls are waits, not the handler's own time. */
  watchCalls(client: unknown, service: Service): void {
    (client as StackClient).middlewareStack.add(
      (next) => async (args) => {
        const invocation = this.current;
        if (!invocation) return next(args);
        if (invocation.inFlight++ === 0) {
          invocation.ownMs += cpuMs() - invocation.idleSince;
          invocation.wave = 0;
        }
        invocation.wave = Math.max(invocation.wave, this.latency[service]);
        try {
          return await next(args);
        } finally {
          if (--invocation.inFlight === 0) {
            invocation.awsMs += invocation.wave;
            invocation.idleSince = cpuMs();
          }
        }
      },
      { step: "initialize", name: "docketInvocationCalls", priority: "high" },
    );
  }

  private open(): void {
    this.current = { ownMs: 0, idleSince: cpuMs(), inFlight: 0, wave: 0, awsMs: 0 };
  }

  /** Ends the invocation running, if any, and bills it. */
  close(): void {
    const invocation = this.current;
    if (!invocation) return;
    this.current = undefined;
    const own = invocation.ownMs + (invocation.inFlight ? 0 : cpuMs() - invocation.idleSince);
    const scale = Math.max(1, ONE_VCPU_MB / this.memoryMb);
    this.ledger.invocations += 1;
    this.ledger.lambdaMs += Math.ceil(own * scale + invocation.awsMs);
    this.totals.ownMs += own;
    this.totals.awsMs += invocation.awsMs;
  }

  reset(): void {
    this.current = undefined;
    this.totals.ownMs = 0;
    this.totals.awsMs = 0;
  }
}

/**
 * Time spent waiting on AWS, from an SDK middleware on each client of a set: the requests each
 * service got, and the wall time during which at least one request of the set was on the wire. The
 * middleware sits innermost (the deserialize step, after the SDK's deserializer), so serializing,
 * signing and parsing stay in the caller's own time, as they would on Lambda; only the HTTP
 * exchange with the emulator (and the wait for the event loop to take its answer) is counted.
 */
import { performance } from "node:perf_hooks";

export const SERVICES = ["dynamodb", "sqs", "events", "s3", "secrets"] as const;
export type Service = (typeof SERVICES)[number];

type Counts = Record<Service, number>;
const zero = (): Counts => ({ dynamodb: 0, sqs: 0, events: 0, s3: 0, secrets: 0 });

/**
 * One set of clients' requests. A round trip is a request sent while none of the set's was in
 * flight: requests sent together (a Promise.all) cost one latency, not several, so the round trips
 * rather than the requests are what AWS's latency multiplies. Each is named after the service of the
 * request that opened it.
 */
export class CallTimer {
  requests = zero();
  roundTrips = zero();
  /** Requests by the SDK command's name (GetItemCommand, SendMessageCommand…). */
  commands: Record<string, number> = {};
  /** Milliseconds with at least one request in flight. */
  awsMs = 0;
  private inFlight = 0;
  private since = 0;

  reset(): void {
    this.requests = zero();
    this.roundTrips = zero();
    this.commands = {};
    this.awsMs = 0;
  }

  /** Adds the timing middleware to `client` (any SDK v3 client; a document client shares its stack). */
  watch(client: unknown, service: Service): void {
    (client as StackClient).middlewareStack.add(
      (next, context) => async (args) => {
        this.requests[service] += 1;
        const command = context.commandName ?? "?";
        this.commands[command] = (this.commands[command] ?? 0) + 1;
        if (this.inFlight++ === 0) {
          this.since = performance.now();
          this.roundTrips[service] += 1;
        }
        try {
          return await next(args);
        } finally {
          if (--this.inFlight === 0) this.awsMs += performance.now() - this.since;
        }
      },
      { step: "deserialize", priority: "low", name: "benchCallTimer" },
    );
  }

  total(counts: Counts = this.requests): number {
    return SERVICES.reduce((sum, s) => sum + counts[s], 0);
  }
}

type Next = (args: unknown) => Promise<unknown>;
interface StackClient {
  middlewareStack: {
    add(
      middleware: (next: Next, context: { commandName?: string }) => Next,
      options: { step: "deserialize"; priority: "low"; name: string },
    ): void;
  };
}

/**
 * Assumed latency of one round trip on AWS from a Lambda in the same region, in milliseconds: an
 * assumption for the estimate, not a measurement (DynamoDB's single-digit milliseconds, SQS and
 * EventBridge a little over ten, S3 and Secrets Manager some tens).
 */
export const ASSUMED_LATENCY_MS: Counts = { dynamodb: 5, sqs: 10, events: 15, s3: 20, secrets: 20 };

/** Lambda duration per step on AWS, estimated: own compute plus each round trip at its assumed latency. */
export function estimatedDurationMs(computeMsPerStep: number, roundTripsPerStep: Counts): number {
  return SERVICES.reduce((ms, s) => ms + roundTripsPerStep[s] * ASSUMED_LATENCY_MS[s], computeMsPerStep);
}

export function perStep(counts: Counts, steps: number): Counts {
  const out = zero();
  for (const s of SERVICES) out[s] = counts[s] / Math.max(1, steps);
  return out;
}

export function addCounts(into: Counts, from: Counts): void {
  for (const s of SERVICES) into[s] += from[s];
}

export type { Counts };
export { zero as zeroCounts };

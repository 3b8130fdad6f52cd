/**
 * `docket worker <module> --participant p (--queue URL | --url URL)`: runs a participant's handler
 * (the module's default export, or its `handler`) as a worker on either host until SIGINT or
 * SIGTERM, then finishes or gives back the tasks it holds.
 */
import { resolve } from "node:path";
import { moduleFunction } from "../embedded/participants.js";
import { DocketError } from "../errors.js";
import { createWorker, type Handler, httpConnection, sqsConnection } from "../worker/index.js";

export interface WorkerCommandOptions {
  readonly participant: string;
  readonly queue?: string;
  readonly url?: string;
  readonly concurrency: string;
  readonly lease: string;
  readonly grace: string;
  readonly poll: string;
}

async function handlerOf(module: string): Promise<Handler> {
  let handler: unknown;
  try {
    handler = await moduleFunction(resolve(module));
  } catch (error) {
    throw new DocketError("UsageError", `cannot load ${module}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!handler) throw new DocketError("UsageError", `${module} exports no function (default or handler)`);
  return handler as Handler;
}

export async function workerCommand(module: string, options: WorkerCommandOptions): Promise<number> {
  if (Boolean(options.queue) === Boolean(options.url))
    throw new DocketError(
      "UsageError",
      "give --queue (an SQS queue URL, on AWS) or --url (docket serve), one of them",
    );
  const handler = await handlerOf(module);
  const leaseSeconds = Number(options.lease);
  const waitSeconds = Number(options.poll);
  const { participant } = options;
  const connection = options.queue
    ? sqsConnection({ queue: options.queue, participant, leaseSeconds, waitSeconds })
    : httpConnection({
        url: options.url as string,
        participant,
        leaseSeconds,
        waitSeconds,
        token: process.env.DOCKET_API_TOKEN,
      });
  const log = (line: string) => console.error(`${new Date().toISOString()} ${line}`);
  const worker = createWorker({
    participant,
    handler,
    connection,
    concurrency: Number(options.concurrency),
    log,
  });
  log(`docket worker ${participant}: ${options.queue ?? options.url}, up to ${options.concurrency} at once`);
  await new Promise<void>((stop) => {
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  log(`docket worker ${participant}: stopping (up to ${options.grace} s for the tasks it holds)`);
  await worker.stop(Number(options.grace) * 1000);
  return 0;
}

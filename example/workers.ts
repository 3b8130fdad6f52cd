/**
 * The example's participants as workers (the worker SDK): each module in participants/ is a
 * handler, and this runs one worker per module, against `docket serve` (DOCKET_URL, by default
 * http://127.0.0.1:7070) or, with QUEUE_URL set, on AWS (the default task queue; a participant with
 * a queue of its own: QUEUE_URL_<NAME>, e.g. QUEUE_URL_APPROVE). Stops on SIGTERM or SIGINT,
 * finishing the tasks it holds.
 *
 *   docket serve --config example/serve.config.yaml &   # the participants as external workers
 *   npx tsx example/workers.ts
 */
import { readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { createWorker, type Handler, httpConnection, sqsConnection } from "docket/worker";

const folder = join(import.meta.dirname, "participants");

function connection(participant: string) {
  const queue = process.env[`QUEUE_URL_${participant.toUpperCase()}`] ?? process.env.QUEUE_URL;
  // Polls of 5 s: a stop waits for the poll in progress (20 s by default) before it exits.
  if (queue) return sqsConnection({ queue, participant, waitSeconds: 5 });
  const url = process.env.DOCKET_URL ?? "http://127.0.0.1:7070";
  return httpConnection({ url, participant, token: process.env.DOCKET_API_TOKEN, waitSeconds: 5 });
}

const workers = await Promise.all(
  readdirSync(folder)
    .filter((file) => file.endsWith(".ts"))
    .map(async (file) => {
      const participant = basename(file, ".ts");
      const handler = (await import(join(folder, file))).default as Handler;
      return createWorker({ participant, handler, connection: connection(participant), concurrency: 4 });
    }),
);
console.error(`example workers: ${workers.length} participants`);

for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.once(signal, () => {
    Promise.all(workers.map((worker) => worker.stop())).then(() => process.exit(0));
  });

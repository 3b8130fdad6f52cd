/** Running the Lambda handlers in the background of a request, as AWS runs them beside the API. */
import type { LocalRunner } from "../../emulator/local.js";

/**
 * Ticks the runner until `pending` settles: an operator command is answered once the advance
 * function has applied it, so a test's request needs the functions running meanwhile.
 */
export async function whileRunning<T>(runner: LocalRunner, pending: Promise<T>): Promise<T> {
  let settled = false;
  const answer = pending.finally(() => {
    settled = true;
  });
  while (!settled) if ((await runner.tick()) === 0) await new Promise((r) => setTimeout(r, 20));
  return answer;
}

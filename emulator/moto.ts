/**
 * moto's server for the integration tests and the AWS bench: started on a free port from
 * tools/moto-server.py (Step Functions executions on, the speed-ups for queues and tables holding
 * thousands), with IAM enforced when asked.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** Whether anything answers HTTP at `url` within `timeoutMs`. */
export async function reachable(url: string, timeoutMs = 5000): Promise<boolean> {
  try {
    // A refused connection fails at once; the time limit is for an emulator that hangs. It is a few
    // seconds, not one: Node runs due timers before it reads sockets, so a caller's event loop busy
    // for a second (vitest starting up) would time out an answer that had come.
    await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return false;
  }
}

/** Starts moto's server and waits (up to a minute: it takes seconds to import on a busy machine). */
export async function startMoto(options: { iam?: boolean } = {}): Promise<{
  endpoint: string;
  moto: ChildProcess;
}> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const script = fileURLToPath(new URL("../tools/moto-server.py", import.meta.url));
  const args = [script, ...(options.iam ? ["--iam"] : []), "-H", "127.0.0.1", "-p", String(port)];
  const moto = spawn("python3", args, {
    stdio: "ignore",
    env: { ...process.env, MOTO_ACCOUNT_ID: "000000000000" },
  });
  for (let i = 0; i < 600 && !(await reachable(`${endpoint}/moto-api/`)); i++)
    await new Promise((r) => setTimeout(r, 100));
  return { endpoint, moto };
}

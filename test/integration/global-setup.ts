/**
 * The emulator for the integration tests: AWS_ENDPOINT_URL when set, else moto's server started
 * here on a free port. Never skipped: with no emulator the tests fail and say why.
 * DOCKET_TEST_IAM=1 (`npm run test:iam`): always a moto of its own with IAM enforced
 * (tools/moto-server.py --iam), whatever AWS_ENDPOINT_URL says; see test/integration/roles.ts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    endpoint: string;
    /** Whether the emulator enforces IAM: the handlers then run as their functions' roles. */
    iam: boolean;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

async function reachable(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

let moto: ChildProcess | undefined;

export default async function setup(project: TestProject): Promise<() => void> {
  const iam = process.env.DOCKET_TEST_IAM === "1";
  let endpoint = iam ? undefined : process.env.AWS_ENDPOINT_URL;
  if (!endpoint) {
    const port = await freePort();
    endpoint = `http://127.0.0.1:${port}`;
    // tools/moto-server.py: moto's server with Step Functions executions on (for `sfn:` participants).
    const script = fileURLToPath(new URL("../../tools/moto-server.py", import.meta.url));
    const args = [script, ...(iam ? ["--iam"] : []), "-H", "127.0.0.1", "-p", String(port)];
    moto = spawn("python3", args, {
      stdio: "ignore",
      env: { ...process.env, MOTO_ACCOUNT_ID: "000000000000" },
    });
    // Up to a minute: moto takes seconds to import on a busy machine.
    for (let i = 0; i < 600 && !(await reachable(`${endpoint}/moto-api/`)); i++)
      await new Promise((r) => setTimeout(r, 100));
  }
  if (!(await reachable(endpoint))) {
    throw new Error(
      `no AWS emulator answers at ${endpoint}: start moto's server (python3 tools/moto-server.py) or set AWS_ENDPOINT_URL`,
    );
  }
  project.provide("endpoint", endpoint);
  project.provide("iam", iam);
  return () => moto?.kill();
}

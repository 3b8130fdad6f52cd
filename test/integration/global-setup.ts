/**
 * The emulator for the integration tests: AWS_ENDPOINT_URL when set, else moto's server started
 * here on a free port. Never skipped: with no emulator the tests fail and say why.
 * DOCKET_TEST_IAM=1 (`npm run test:iam`): always a moto of its own with IAM enforced
 * (tools/moto-server.py --iam), whatever AWS_ENDPOINT_URL says; see test/integration/roles.ts.
 */
import type { ChildProcess } from "node:child_process";
import type { TestProject } from "vitest/node";
import { reachable, startMoto } from "../../emulator/moto.js";

declare module "vitest" {
  export interface ProvidedContext {
    endpoint: string;
    /** Whether the emulator enforces IAM: the handlers then run as their functions' roles. */
    iam: boolean;
  }
}

let moto: ChildProcess | undefined;

export default async function setup(project: TestProject): Promise<() => void> {
  const iam = process.env.DOCKET_TEST_IAM === "1";
  let endpoint = iam ? undefined : process.env.AWS_ENDPOINT_URL;
  if (!endpoint) {
    // tools/moto-server.py: moto's server with Step Functions executions on (for `sfn:` participants).
    ({ endpoint, moto } = await startMoto({ iam }));
  }
  // Three tries: an emulator just started may be busy importing its first service.
  let answers = false;
  for (let attempt = 0; attempt < 3 && !answers; attempt++) answers = await reachable(endpoint);
  if (!answers) {
    throw new Error(
      `no AWS emulator answers at ${endpoint}: start moto's server (python3 tools/moto-server.py) or set AWS_ENDPOINT_URL`,
    );
  }
  project.provide("endpoint", endpoint);
  project.provide("iam", iam);
  return () => moto?.kill();
}

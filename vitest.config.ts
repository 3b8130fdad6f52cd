import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    allowOnly: false,
    testTimeout: 30_000,
    // Integration set-ups synthesize the CDK template (a few seconds, more on a busy machine).
    hookTimeout: 120_000,
    reporters: ["default", "./test/summary-reporter.ts"],
    globalSetup: ["./test/integration/global-setup.ts"],
  },
});

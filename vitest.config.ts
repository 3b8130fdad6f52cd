import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    allowOnly: false,
    testTimeout: 30_000,
    // Two files at a time even on two CPUs (vitest's default there is one): the integration files
    // spend most of their time waiting on the emulator, so two overlap well (the suite in 413 s
    // instead of 729 s of test time, measured on this two-CPU machine).
    maxWorkers: 2,
    // Integration set-ups synthesize the CDK template (a few seconds, more on a busy machine).
    hookTimeout: 120_000,
    reporters: ["default", "./test/summary-reporter.ts"],
    globalSetup: ["./test/integration/global-setup.ts"],
  },
});

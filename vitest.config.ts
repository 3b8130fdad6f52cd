import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    allowOnly: false,
    testTimeout: 30_000,
    reporters: ["default", "./test/summary-reporter.ts"],
    globalSetup: ["./test/integration/global-setup.ts"],
  },
});

import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * The reliability suite (issue 7): `npm run test:reliability`. Separate from `npm test` — it builds
 * the Worker and puts a real local deployment under load and faults for about two minutes.
 */
export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  test: {
    name: "reliability",
    include: ["test/reliability/**/*.test.ts"],
    // One deployment, one file, cases in order.
    fileParallelism: false,
    testTimeout: 200_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
  },
});

import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { workerTestBindings } from "./test/worker/bindings.js";

export default defineConfig({
  test: {
    // Logs of passing tests are noise in CI; a failing test still shows everything it printed.
    silent: "passed-only",
    projects: [
      {
        // Gateways, the Bot API double and the Node scripts, tested in Node.
        test: { name: "node", include: ["test/node/**/*.test.ts"], testTimeout: 20_000 },
      },
      {
        // The Worker itself, inside workerd, against the gateways started by the global setup.
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings: workerTestBindings(inject) },
          })),
        ],
        test: {
          name: "worker",
          include: ["test/worker/**/*.test.ts"],
          globalSetup: ["./test/worker/global-setup.ts"],
          // One Bot API double and one Redis are shared, so files run one after another.
          fileParallelism: false,
          testTimeout: 20_000,
        },
      },
    ],
  },
});

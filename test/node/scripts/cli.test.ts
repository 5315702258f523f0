// scripts/lib/cli.ts: what an error line may show.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { printError } from "../../../scripts/lib/cli.js";
import { parseWorkerConfig, secretsOf } from "../../../src/config.js";

const ENV = {
  TELEGRAM_BOT_TOKEN: "7000000001:AAcli-test-token",
  TELEGRAM_WEBHOOK_SECRET: "cli_test_webhook_secret",
  UPSTASH_REDIS_REST_URL: "https://example.upstash.io",
  UPSTASH_REDIS_REST_TOKEN: "cli-test-upstash-token",
  DATABASE_URL: "postgres://bot:Pa55-w0rd_x@ep-example.neon.tech/neondb",
  BOT_INTERNAL_API_TOKEN: "cli-test-internal-api-token-0123456789",
};

let printed: string[];

beforeEach(() => {
  for (const [name, value] of Object.entries(ENV)) vi.stubEnv(name, value);
  printed = [];
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    printed.push(String(chunk));
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe("printError", () => {
  it("replaces the password inside DATABASE_URL", () => {
    printError(`cannot reach ${ENV.DATABASE_URL}`);
    expect(printed).toEqual(["error: cannot reach postgres://bot:[redacted]@ep-example.neon.tech/neondb\n"]);
  });

  it("replaces every value the Worker itself keeps out of its logs", () => {
    const secrets = secretsOf(parseWorkerConfig(ENV));
    expect(secrets).toHaveLength(5);

    printError(secrets.join(" | "));
    expect(printed).toEqual([`error: ${secrets.map(() => "[redacted]").join(" | ")}\n`]);
  });

  it("leaves a connection string without a password as it is", () => {
    vi.stubEnv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test");
    printError("cannot reach postgres://postgres@127.0.0.1:5432/test");
    expect(printed).toEqual(["error: cannot reach postgres://postgres@127.0.0.1:5432/test\n"]);
  });
});

// `--help` of every script (bench/run.ts included): exit 0 and usage on stdout, with no variables set at all.
import { afterAll, describe, expect, it } from "vitest";
import { cleanUp, runScript } from "./run-script.js";

afterAll(cleanUp);

describe("--help", () => {
  it.each([
    ["webhook.ts", [], "Usage: webhook [options] [command]", ["set [options]", "info [options]", "delete [options]"]],
    ["webhook.ts", ["set"], "Usage: webhook set [options]", ["--max-connections <n>", "--keep-pending"]],
    ["webhook.ts", ["info"], "Usage: webhook info [options]", ["--json"]],
    ["webhook.ts", ["delete"], "Usage: webhook delete [options]", ["--drop-pending"]],
    ["polling.ts", [], "Usage: polling [options]", ["--force", "--bot-api-port <port>"]],
    ["failed.ts", [], "Usage: failed [options] [command]", ["list", "show <update_id>", "replay <update_id>", "drop <update_id>", "--redis-url <url>"]],
    ["failed.ts", ["replay"], "Usage: failed replay [options] <update_id>", ["TELEGRAM_WEBHOOK_URL"]],
    ["migrate.ts", [], "Usage: db:migrate [options]", ["--database-url <url>"]],
    ["dev.ts", [], "Usage: dev [options]", ["--port <port>", "--bot-api-port <port>", "--redis-url <url>", "--postgres-url <url>"]],
    ["../bench/run.ts", [], "Usage: bench [options]", ["--duration <seconds>", "--rounds <n>", "--connections <n>", "env: BENCH_ROUNDS"]],
    ["local/start.ts", [], "Usage: local:services [options]", ["--redis-port <port>", "--bot-token <token>", "--json"]],
  ])("%s %j --help prints usage and exits 0", async (script, args, usage, options) => {
    // No variables at all: --help must not need (or read) any.
    const result = await runScript(script, [...args, "--help"], { env: {} });

    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout.startsWith(`${usage}\n`)).toBe(true);
    for (const option of [...options, "-h, --help"]) expect(result.stdout).toContain(option);
  });

  it.each([
    ["dev.ts", ["--port", "http"], /^error: option '--port <port>' argument 'http' is invalid\. expected a whole number from 1 to 65535\n$/],
    ["../bench/run.ts", ["--rounds", "0"], /^error: option '--rounds <n>' argument '0' is invalid\. expected a whole number of at least 1\n$/],
    ["../bench/run.ts", ["--duration", "-1"], /^error: option '--duration <seconds>' argument '-1' is invalid\. expected a number greater than 0\n$/],
  ])("%s %j is one line and exit 1, before anything starts", async (script, args, message) => {
    const result = await runScript(script, args, { env: {} });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe("");
  });

  it("a bad BENCH_* variable is one line naming it, exit 1", async () => {
    const result = await runScript("../bench/run.ts", [], { env: { BENCH_CONNECTIONS: "many" } });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("error: option '--connections <n>' value 'many' from env 'BENCH_CONNECTIONS' is invalid. expected a whole number of at least 1\n");
    expect(result.stdout).toBe("");
  });

  it.each([["show", "x"], ["replay", "-1"], ["drop", "1.5"]])("failed.ts %s %s is one line and exit 1, before reading anything", async (command, id) => {
    const result = await runScript("failed.ts", [command, id], { env: {} });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`error: command-argument value '${id}' is invalid for argument 'update_id'. expected a whole number of at least 0\n`);
    expect(result.stdout).toBe("");
  });

  it("an unknown option is one line and exit 1", async () => {
    const result = await runScript("polling.ts", ["--bogus"], { env: {} });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("error: unknown option '--bogus'\n");
    expect(result.stdout).toBe("");
  });
});

// scripts/dev.ts (npm run dev): with .dev.vars copied from .dev.vars.example, a fully local Worker in wrangler dev; and its expected failures.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, readdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LOCAL_SECRETS } from "../../../scripts/lib/local-services.js";
import { translate } from "../../../src/bot/i18n/index.js";
import {
  expectNoLeak,
  expectOneLineFailure,
  freePort,
  REPO_ROOT,
  runScript,
  scratchDir,
  scratchStorage,
  SAMPLES,
  startScript,
  waitFor,
} from "./run-script.js";

const DATABASE = `mtt_bot_dev_test_${process.pid}`;
/** A Redis database of its own, so the developer's data in database 0 is left alone. */
const REDIS_URL = "redis://127.0.0.1:6379/9";
const CHAT_ID = 123456789;
/** Given in --postgres-url and --redis-url: it must never be printed. */
const PASSWORD = "DevTestPa55word";

/** The process ids below `pid`, from the process table. */
function descendants(pid: number): number[] {
  const rows = execFileSync("ps", ["-e", "-o", "pid=,ppid="], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  for (let parents = [pid]; parents.length > 0; ) {
    parents = rows.filter(([, ppid]) => parents.includes(ppid)).map(([child]) => child);
    found.push(...parents);
  }
  return found;
}

/**
 * Those of `pids` still running. A zombie has ended (it only waits to be reaped, and a container's
 * init may never do that), so it does not count.
 */
function running(pids: number[]): number[] {
  let table = "";
  try {
    table = execFileSync("ps", ["-o", "pid=,stat=", "-p", pids.join(",")], { encoding: "utf8" });
  } catch {
    return []; // ps exits 1 when none of them exists
  }
  return table
    .trim()
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter(([, stat]) => !stat?.startsWith("Z"))
    .map(([pid]) => Number(pid));
}

async function answers(url: string): Promise<boolean> {
  try {
    await (await fetch(url, { signal: AbortSignal.timeout(2000) })).arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

const databaseUrl = scratchStorage(DATABASE, REDIS_URL);

/** Every file under `dir` whose content contains one of `values`. */
async function filesContaining(dir: string, values: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const content = await readFile(path, "latin1").catch(() => "");
    if (values.some((value) => content.includes(value))) found.push(path);
  }
  return found;
}

it("with .dev.vars.example as .dev.vars: the chat page first, /bot/health, an update answered through the local double; Ctrl-C to the whole group stops everything and leaves no secret behind", { timeout: 120_000 }, async () => {
  const cwd = await scratchDir();
  const tmp = await scratchDir();
  await copyFile(join(REPO_ROOT, ".dev.vars.example"), join(cwd, ".dev.vars"));
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  // Trust authentication takes any password: this one only has to stay out of everything printed.
  const postgresUrl = databaseUrl().replace("postgres@", `postgres:${PASSWORD}@`);
  const args = ["--port", String(port), "--bot-api-port", "0", "--redis-url", REDIS_URL, "--postgres-url", postgresUrl];
  const dev = await startScript("dev.ts", args, { cwd, env: { TMPDIR: tmp }, viaTsxCli: true });

  await waitFor(() => dev.stdout.includes("dev: the local Bot API double delivers to"), "the double's webhook to be set", 60_000);
  const health = await fetch(`${origin}/bot/health`);
  expect([health.status, await health.json()]).toEqual([200, { status: "ok" }]);

  const [first, second] = dev.stdout.split("\n");
  expect(first).toMatch(/^dev: chat with the bot at http:\/\/127\.0\.0\.1:\d+\/$/);
  // Every stand-in was started: the example leaves nothing set, the bot token included.
  const started = /^dev: no Upstash\/Neon\/Telegram values in \.dev\.vars; started Upstash gateway \S+ → \S+; Neon gateway \S+ → postgres:\/\/postgres:\[redacted\]@127\.0\.0\.1:5432\/\w+; Bot API double (http:\/\/127\.0\.0\.1:\d+)$/.exec(
    second ?? "",
  );
  expect(started, dev.stdout).not.toBeNull();
  const double = started?.[1] ?? "";
  expect(dev.stdout).toContain(`dev: the local Bot API double delivers to ${origin}/bot/webhook/\n`);

  const update = await readFile(new URL("message_start.json", SAMPLES), "utf8");
  const webhook = await fetch(`${origin}/bot/webhook/`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": LOCAL_SECRETS.TELEGRAM_WEBHOOK_SECRET },
    body: update,
  });
  const answer = await webhook.text();
  expect(webhook.status, answer).toBe(200);
  // The greeting rides on the answer, for Telegram to send.
  expect(JSON.parse(answer)).toEqual({ method: "sendMessage", chat_id: CHAT_ID, text: translate("ru", "start_greeting", { name: "Aziz" }) });
  expect(existsSync(join(cwd, ".dev-session.json"))).toBe(true);

  const processes = descendants(dev.child.pid ?? 0);
  expect(processes.length).toBeGreaterThan(2);
  expect(running(processes)).toHaveLength(processes.length);
  // What a terminal's Ctrl-C does: SIGINT to every process of the group (tsx relays it once more).
  process.kill(-(dev.child.pid ?? 0), "SIGINT");
  const result = await dev.exited;

  expect(result.code, result.stderr).toBe(0);
  expect(result.signal).toBeNull();
  expect(running(processes)).toEqual([]);
  expect(await answers(`${origin}/bot/health`)).toBe(false);
  expect(await answers(`${double}/__control/calls`)).toBe(false);
  expectNoLeak(result, [...Object.values(LOCAL_SECRETS), PASSWORD]);
  // No env file with secrets, in the temporary directory or anywhere under it (tsx's cache of compiled
  // sources is there too: it holds the made-up local tokens as the source code does, so it is not searched for those).
  expect(await filesContaining(tmp, [PASSWORD])).toEqual([]);
  expect((await readdir(tmp)).filter((name) => name.startsWith("mtt-bot-dev-"))).toEqual([]);
  expect(existsSync(join(cwd, ".dev-session.json"))).toBe(false);
  // Offline, wrangler neither fetches Request.cf (and prints its stack trace) nor sends metrics.
  expect(result.stdout + result.stderr).not.toMatch(/Request\.cf|workers\.cloudflare\.com|EAI_AGAIN|ENOTFOUND|metrics/i);
  expect(await readFile(join(REPO_ROOT, "wrangler.toml"), "utf8")).toMatch(/^send_metrics = false$/m);
});

describe("expected failures are one line, before anything starts", () => {
  it("a PostgreSQL that refuses; a flag .dev.vars overrides is warned about; no password printed", async () => {
    const cwd = await scratchDir();
    await writeFile(join(cwd, ".dev.vars"), "UPSTASH_REDIS_REST_URL=https://example.upstash.io\nUPSTASH_REDIS_REST_TOKEN=some-token\n");
    const args = ["--port", String(await freePort()), "--bot-api-port", "0", "--redis-url", `redis://:${PASSWORD}@127.0.0.1:6379/9`];
    const result = await runScript("dev.ts", [...args, "--postgres-url", `postgres://postgres:${PASSWORD}@127.0.0.1:1/test`], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "dev: warning: --redis-url is ignored: .dev.vars sets UPSTASH_REDIS_REST_URL, so that service is not started\n" +
        "error: PostgreSQL at postgres://postgres:[redacted]@127.0.0.1:1/test refused (--postgres-url): connect ECONNREFUSED 127.0.0.1:1\n",
    );
    expectNoLeak(result, [PASSWORD]);
  });

  it("a Redis that does not answer", async () => {
    const result = await runScript("dev.ts", ["--port", String(await freePort()), "--bot-api-port", "0", "--redis-url", "redis://127.0.0.1:1"]);
    expectOneLineFailure(result, /^error: Redis at redis:\/\/127\.0\.0\.1:1 does not answer \(--redis-url\): connect ECONNREFUSED 127\.0\.0\.1:1\n$/);
  });

  it.each([
    ["--port", /^error: port (\d+) is in use \(another `npm run dev`\?\); stop it or pick another with --port\n$/],
    ["--bot-api-port", /^error: port (\d+) is in use \(another `npm run dev`, `npm run polling` or `npm run local:services`\?\); stop it or pick another port with --bot-api-port\n$/],
  ])("a port in use (%s)", async (flag, message) => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const busy = String((taken.address() as { port: number }).port);
    try {
      const ports = { "--port": String(await freePort()), "--bot-api-port": "0", [flag]: busy };
      const args = [...Object.entries(ports).flat(), "--redis-url", REDIS_URL, "--postgres-url", databaseUrl()];
      const result = await runScript("dev.ts", args);
      expectOneLineFailure(result, message);
      expect(message.exec(result.stderr)?.[1]).toBe(busy);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

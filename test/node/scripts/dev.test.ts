// scripts/dev.ts (npm run dev) with .dev.vars copied from .dev.vars.example: a fully local Worker in wrangler dev.
import { execFileSync } from "node:child_process";
import { copyFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { expect, it } from "vitest";
import { LOCAL_SECRETS } from "../../../scripts/lib/local-services.js";
import { translate } from "../../../src/bot/i18n/index.js";
import { freePort, REPO_ROOT, scratchDir, scratchStorage, SAMPLES, startScript, waitFor } from "./run-script.js";

const DATABASE = `mtt_bot_dev_test_${process.pid}`;
/** A Redis database of its own, so the developer's data in database 0 is left alone. */
const REDIS_URL = "redis://127.0.0.1:6379/9";
const CHAT_ID = 123456789;

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

it("with .dev.vars.example as .dev.vars, serves /bot/health within 30 s, answers an update through the local double, and stops cleanly on SIGTERM", { timeout: 90_000 }, async () => {
  const cwd = await scratchDir();
  await copyFile(join(REPO_ROOT, ".dev.vars.example"), join(cwd, ".dev.vars"));
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const dev = await startScript("dev.ts", ["--port", String(port), "--redis-url", REDIS_URL, "--postgres-url", databaseUrl()], { cwd });

  await waitFor(
    async () => {
      try {
        const response = await fetch(`${origin}/bot/health`);
        return response.status === 200 && JSON.stringify(await response.json()) === '{"status":"ok"}';
      } catch {
        return false;
      }
    },
    "GET /bot/health → 200 {\"status\":\"ok\"}",
    30_000,
  );

  // Every stand-in was started: the example leaves nothing set, the bot token included.
  const started = /^dev: no Upstash\/Neon\/Telegram values in \.dev\.vars; started Upstash gateway \S+ → \S+; Neon gateway \S+ → \S+; Bot API double (http:\/\/127\.0\.0\.1:\d+)$/m.exec(
    dev.stdout,
  );
  expect(started, dev.stdout).not.toBeNull();
  const double = started?.[1] ?? "";

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

  const processes = descendants(dev.child.pid ?? 0);
  expect(processes.length).toBeGreaterThan(0);
  expect(running(processes)).toHaveLength(processes.length);
  dev.child.kill("SIGTERM");
  const result = await dev.exited;

  expect(result.code, result.stderr).toBe(0);
  expect(result.signal).toBeNull();
  expect(running(processes)).toEqual([]);
  expect(await answers(`${origin}/bot/health`)).toBe(false);
  expect(await answers(`${double}/__control/calls`)).toBe(false);
  expect(result.stdout + result.stderr).not.toContain(LOCAL_SECRETS.TELEGRAM_WEBHOOK_SECRET);
});

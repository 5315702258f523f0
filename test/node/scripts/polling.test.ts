// scripts/polling.ts (npm run polling) end to end: the local gateways over real Redis and PostgreSQL, the Bot API double.
import { readFile } from "node:fs/promises";
import { Api } from "grammy";
import type { Update } from "grammy/types";
import { Redis as IORedis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startBotApiDouble, type RecordedCall } from "../../../scripts/local/bot-api-double.js";
import { startLocalServices, type LocalServices } from "../../../scripts/lib/local-services.js";
import { ALLOWED_UPDATES } from "../../../src/bot/allowed-updates.js";
import { COMMANDS } from "../../../src/bot/commands.js";
import { translate } from "../../../src/bot/i18n/index.js";
import {
  cleanUp,
  createDatabase,
  dropDatabase,
  expectNoLeak,
  expectOneLineFailure,
  query,
  SAMPLES,
  startScript,
  TOKEN,
  waitFor,
  type RunningScript,
} from "./run-script.js";

const DATABASE = `mtt_bot_polling_test_${process.pid}`;
/** A Redis database of its own (the worker tests use 15, development 0). */
const REDIS_URL = "redis://127.0.0.1:6379/11";
const UPSTASH_TOKEN = "polling-test-upstash-token";
const WEBHOOK_URL = "https://mtt-pro-api.xlog.uz/bot/webhook/";
const CHAT_ID = 123456789;
const RUNNING = "polling: @mtt_pro_bot is running; Ctrl-C stops after the update in flight\n";

let local: LocalServices;
let databaseUrl: string;
let api: Api;
let startUpdate: Update;
let helpUpdate: Update;

const vars = (): Record<string, string | undefined> => {
  const names = [
    "UPSTASH_REDIS_REST_URL",
    "UPSTASH_REDIS_REST_TOKEN",
    "DATABASE_URL",
    "NEON_HTTP_ENDPOINT",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_ROOT",
    "TELEGRAM_BOT_INFO",
  ];
  return Object.fromEntries(names.map((name) => [name, local.vars[name]]));
};

async function control(path: string, method: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${local.vars.TELEGRAM_API_ROOT}/__control/${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
  });
  expect(response.status, path).toBe(200);
  return response.json();
}

const calls = async (method?: string): Promise<RecordedCall[]> =>
  (await control(`calls${method === undefined ? "" : `?method=${method}`}`, "GET")) as RecordedCall[];
const params = async (method: string): Promise<Record<string, unknown>[]> => (await calls(method)).map((call) => call.params);

async function polling(args: string[] = [], env: Record<string, string | undefined> = {}): Promise<RunningScript> {
  return startScript("polling.ts", args, { env: { ...vars(), ...env } });
}

async function stop(script: RunningScript) {
  script.child.kill("SIGTERM");
  return script.exited;
}

const withId = (update: Update, update_id: number): Update => ({ ...update, update_id });

const startGreeting = translate("ru", "start_greeting", { name: "Aziz" });
const helpText = translate("ru", "help", {
  commands: COMMANDS.map(({ command, description }) => `/${command} — ${translate("ru", description)}`).join("\n"),
});

beforeAll(async () => {
  const sample = async (name: string) => JSON.parse(await readFile(new URL(`${name}.json`, SAMPLES), "utf8")) as Update;
  [startUpdate, helpUpdate] = await Promise.all([sample("message_start"), sample("message_help")]);
  databaseUrl = await createDatabase(DATABASE);
  local = await startLocalServices(
    {},
    { redisUrl: REDIS_URL, postgresUrl: databaseUrl, upstashToken: UPSTASH_TOKEN, botToken: TOKEN, ports: { redis: 0, neon: 0, botApi: 0 } },
  );
  api = new Api(TOKEN, { apiRoot: local.vars.TELEGRAM_API_ROOT });
});

beforeEach(async () => {
  const redis = new IORedis(REDIS_URL);
  await redis.flushdb();
  await redis.quit();
  await control("reset", "POST");
});

afterAll(async () => {
  await cleanUp();
  await local?.close();
  await dropDatabase(DATABASE);
});

describe("polling.ts", () => {
  it("answers queued updates, records the account, and on SIGTERM confirms them and exits 0", async () => {
    expect([startUpdate.update_id, helpUpdate.update_id]).toEqual([910000001, 910000003]);
    await control("updates", "POST", [startUpdate, helpUpdate]);
    const script = await polling();

    await waitFor(async () => (await calls("sendMessage")).length >= 2, "both replies");
    expect(await params("sendMessage")).toEqual([
      { chat_id: CHAT_ID, text: startGreeting },
      { chat_id: CHAT_ID, text: helpText },
    ]);
    const [firstPoll] = await params("getUpdates");
    expect(firstPoll?.allowed_updates).toEqual([...ALLOWED_UPDATES]);
    expect(await query(databaseUrl, "SELECT chat_id, username, first_name, language_code FROM telegram_accounts WHERE telegram_user_id = $1", [CHAT_ID])).toEqual([
      { chat_id: String(CHAT_ID), username: "aziz_k", first_name: "Aziz", language_code: "ru" },
    ]);
    // The next long poll is waiting: stopping now must confirm with a getUpdates of its own.
    await waitFor(async () => (await calls("getUpdates")).length >= 2, "the next long poll");

    const result = await stop(script);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${RUNNING}polling: stopped\n`);
    expect(result.stderr).toBe("");
    const polls = await params("getUpdates");
    expect(polls.at(-1)).toEqual({ offset: 910000004, limit: 1 });
    expect(polls).toHaveLength(3);
    expect((await api.getWebhookInfo()).pending_update_count).toBe(0);
    expectNoLeak(result, [TOKEN, UPSTASH_TOKEN]);
  });

  it("on SIGTERM during an update, finishes it, confirms it and exits 0", async () => {
    await control("updates", "POST", [withId(startUpdate, 920000001)]);
    await control("faults", "POST", { method: "sendMessage", delay_ms: 1000, times: 1 });
    const script = await polling();

    await waitFor(async () => (await calls("sendMessage")).length === 1, "the reply to be under way");
    const result = await stop(script);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${RUNNING}polling: stopped\n`);
    // Nothing but the stop confirmed the update: the first poll fetched it, the last one confirmed it.
    expect(await params("getUpdates")).toEqual([
      { offset: 1, timeout: 30, allowed_updates: [...ALLOWED_UPDATES] },
      { offset: 920000002, limit: 1 },
    ]);
    expect((await api.getWebhookInfo()).pending_update_count).toBe(0);
  });

  it("with no bot token, prints its own double's chat page first, and what is typed there reaches the bot through getUpdates", async () => {
    const script = await polling(["--bot-api-port", "0"], { TELEGRAM_BOT_TOKEN: undefined, TELEGRAM_API_ROOT: undefined, TELEGRAM_BOT_INFO: undefined });
    await waitFor(() => script.stdout.includes("is running"), "polling to start");
    const pageUrl = /^polling: chat with the bot at (http:\/\/127\.0\.0\.1:\d+\/)\n/.exec(script.stdout)?.[1];
    expect(pageUrl, script.stdout).toBeDefined();
    const post = async (path: string, body: unknown) => {
      const response = await fetch(`${pageUrl}__chat/${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      expect(response.status, path).toBe(200);
    };
    await post("users", { id: CHAT_ID, first_name: "Aziz", language_code: "ru" });
    await post("messages", { user_id: CHAT_ID, chat_id: CHAT_ID, text: "/start" });
    const log = async () => (await (await fetch(`${pageUrl}__chat/chats/${CHAT_ID}/log`)).json()) as { side: string; message?: { text?: string }; delivery?: { state: string } }[];
    await waitFor(async () => (await log()).some((entry) => entry.side === "bot"), "the bot's answer on the page");
    const entries = await log();
    expect(entries.map((entry) => [entry.side, entry.message?.text])).toEqual([
      ["user", "/start"],
      ["bot", startGreeting],
    ]);
    expect(entries[0]?.delivery?.state).toBe("fetched");
    const result = await stop(script);
    expect(result.code, result.stderr).toBe(0);
  });

  it("refuses to run while a webhook is set, and leaves it alone", async () => {
    await api.setWebhook(WEBHOOK_URL, { secret_token: "s3cret" });
    await control("calls", "DELETE");

    const result = await (await polling()).exited;
    expectOneLineFailure(result, /^error: a webhook is set \(mtt-pro-api\.xlog\.uz\); polling would take it over\. Use --force to delete it\n$/);
    expect((await calls()).map((call) => call.method)).toEqual(["getWebhookInfo"]);
    expect((await api.getWebhookInfo()).url).toBe(WEBHOOK_URL);
  });

  it("--force deletes the webhook, keeping pending updates, and runs", async () => {
    await api.setWebhook(WEBHOOK_URL, { secret_token: "s3cret" });
    await control("updates", "POST", [withId(helpUpdate, 930000001)]);
    await control("calls", "DELETE");
    const script = await polling(["--force"]);

    await waitFor(async () => (await calls("sendMessage")).length === 1, "the reply to the pending update");
    expect(await params("sendMessage")).toEqual([{ chat_id: CHAT_ID, text: helpText }]);
    const methods = (await calls()).map((call) => call.method);
    expect(methods.slice(0, 2)).toEqual(["getWebhookInfo", "deleteWebhook"]);
    expect((await params("deleteWebhook"))[0]).toEqual({ drop_pending_updates: false });
    expect((await api.getWebhookInfo()).url).toBe("");

    const result = await stop(script);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(
      "polling: --force: webhook deleted; pending updates kept. Restore it with `npm run set-webhook`\n" +
        `${RUNNING}polling: stopped\n`,
    );
  });

  it("stopping while Telegram is unreachable is one line, exit 1, no token", async () => {
    const double = await startBotApiDouble({ tokens: [TOKEN], botInfo: JSON.parse(local.vars.TELEGRAM_BOT_INFO ?? "") });
    const script = await startScript("polling.ts", [], { env: { ...vars(), TELEGRAM_API_ROOT: double.url } });
    await waitFor(() => double.calls("getUpdates").length === 1, "the first long poll");
    await double.close();
    await new Promise((resolve) => setTimeout(resolve, 200));

    const result = await stop(script);
    expectOneLineFailure(result, /^error: Telegram is unreachable: Network request for 'getUpdates' failed!\n$/);
    expect(result.stdout).toBe(RUNNING);
  });

  it("an unknown token (401) is one line, exit 1, without printing it", async () => {
    const unknownToken = "7000000002:AAunknown-token";
    const result = await (await polling([], { TELEGRAM_BOT_TOKEN: unknownToken })).exited;

    expectOneLineFailure(result, /^error: Telegram refused getWebhookInfo: 401 Unauthorized\n$/);
    expectNoLeak(result, [unknownToken, TOKEN]);
    expect((await calls()).map((call) => call.method)).toEqual(["getWebhookInfo"]);
  });

  it("a token revoked while polling (401 on getUpdates) stops it with one line, exit 1", async () => {
    await control("faults", "POST", { method: "getUpdates", error_code: 401 });
    const result = await (await polling()).exited;

    expectOneLineFailure(result, /^error: Telegram refused getUpdates: 401 Unauthorized\n$/);
    expect(result.stdout).toBe(RUNNING);
  });

  it("waits out a short 429 at start (getWebhookInfo, retry_after 1) once and runs", async () => {
    await control("faults", "POST", { method: "getWebhookInfo", error_code: 429, retry_after: 1, times: 1 });
    await control("updates", "POST", [withId(helpUpdate, 940000001)]);
    const script = await polling();

    await waitFor(async () => (await calls("sendMessage")).length === 1, "the reply");
    const [first, second] = await calls("getWebhookInfo");
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(990);
    const result = await stop(script);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${RUNNING}polling: stopped\n`);
    expect(result.stderr).toBe("");
  });

  it("a long 429 at start (retry_after 30) is one line, exit 1, at once", async () => {
    await control("faults", "POST", { method: "getWebhookInfo", error_code: 429, retry_after: 30 });
    const result = await (await polling()).exited;

    expectOneLineFailure(result, /^error: Telegram refused getWebhookInfo: 429 Too Many Requests: retry after 30\n$/);
    expect(await calls("getWebhookInfo")).toHaveLength(1);
  });

  it("a 429 on getUpdates past the one short wait: says so in one line, waits retry_after, then answers", async () => {
    await control("faults", "POST", { method: "getUpdates", error_code: 429, retry_after: 1, times: 2 });
    await control("updates", "POST", [withId(helpUpdate, 950000001)]);
    const script = await polling();

    await waitFor(async () => (await calls("sendMessage")).length === 1, "the reply");
    const polls = await calls("getUpdates");
    // The first 429 is waited out by the script, the second by grammY's loop: 1 s each.
    expect((polls[1]?.at ?? 0) - (polls[0]?.at ?? 0)).toBeGreaterThanOrEqual(990);
    expect((polls[2]?.at ?? 0) - (polls[1]?.at ?? 0)).toBeGreaterThanOrEqual(990);
    const result = await stop(script);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(
      `${RUNNING}polling: Telegram asked to wait 1 s (429 on getUpdates); polling resumes after that\npolling: stopped\n`,
    );
    expect(result.stderr).toBe("");
  });

  it("SIGTERM during the wait for a 429 stops at once, exit 0", async () => {
    await control("faults", "POST", { method: "getUpdates", error_code: 429, retry_after: 5, times: 1 });
    const script = await polling();
    await waitFor(async () => (await calls("getUpdates")).length === 1, "the 429");

    const stopped = Date.now();
    const result = await stop(script);
    expect(result.code, result.stderr).toBe(0);
    expect(Date.now() - stopped).toBeLessThan(3000);
    expect(result.stdout).toBe(`${RUNNING}polling: stopped\n`);
  });
});

// `npm run dev` as a developer uses it, nothing configured: the real Worker in wrangler dev with the local
// gateways, its Bot API double's chat page driven in headless Chromium, and the webhook and failed-update
// scripts run beside it in the same directory with no variables at all.
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { Redis as IORedis } from "ioredis";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_DEFAULTS, LOCAL_SECRETS } from "../../../scripts/lib/local-services.js";
import { flushRedisDatabase } from "../../../scripts/lib/local-storage.js";
import { translate } from "../../../src/bot/i18n/index.js";
import { failedUpdateKey, FAILED_UPDATE_IDS_KEY } from "../../../src/webhook/failed-updates.js";
import {
  cleanUp,
  createDatabase,
  dropDatabase,
  expectNoLeak,
  expectOneLineFailure,
  freePort,
  query,
  REPO_ROOT,
  runScript,
  scratchDir,
  startScript,
  waitFor,
  type RunningScript,
} from "./run-script.js";

const DATABASE = `mtt_bot_local_dev_test_${process.pid}`;
/** A Redis database of its own (dev-notifications 7, dev 9, parity 10, polling 11, reliability 12, worker 15). */
const REDIS_URL = "redis://127.0.0.1:6379/8";
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** `UPDATE_SCREENSHOT=1` (npm run screenshot) writes the README's picture; otherwise it goes to a scratch directory. */
const SCREENSHOT = process.env.UPDATE_SCREENSHOT === "1" ? join(REPO_ROOT, "docs/chat.png") : undefined;
const USER_ID = 730000001;
const WEB_USER_ID = 4242;
/** Values the local stand-ins accept: made up, but still never printed by a script. */
const LOCAL_CREDENTIALS = [LOCAL_SECRETS.TELEGRAM_WEBHOOK_SECRET, LOCAL_SECRETS.BOT_INTERNAL_API_TOKEN, LOCAL_DEFAULTS.upstashToken, LOCAL_DEFAULTS.botToken];
/** Generous: wrangler dev and Chromium share two cores with the rest of the suite. */
const SLOW = 30_000;

let dev: RunningScript;
let cwd: string;
let worker: string;
let pageUrl: string;
let databaseUrl: string;
let redis: IORedis;
let browser: BrowserContext;
let page: Page;
const pageErrors: string[] = [];

/** The bot's message containing `text`, as the page shows it. */
const botMessage = (text: string) => page.locator("#log .entry.bot", { hasText: text });

async function type(text: string): Promise<void> {
  await page.getByRole("textbox", { name: "Message" }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

async function internal(path: string, body: unknown): Promise<any> {
  const response = await fetch(`${worker}/bot/internal/${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${LOCAL_SECRETS.BOT_INTERNAL_API_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(response.status, path).toBeLessThan(300);
  return response.json();
}

async function account(): Promise<{ web_user_id: string | null; is_blocked: boolean } | undefined> {
  const rows = await query<{ web_user_id: string | null; is_blocked: boolean }>(
    databaseUrl,
    "SELECT web_user_id, is_blocked FROM telegram_accounts WHERE telegram_user_id = $1",
    [USER_ID],
  );
  return rows[0];
}

/** A script run beside `npm run dev`, in its directory, with no variables at all. */
const beside = (script: string, args: string[]) => runScript(script, args, { cwd, env: {} });

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH`);
  databaseUrl = await createDatabase(DATABASE);
  await flushRedisDatabase(REDIS_URL);
  redis = new IORedis(REDIS_URL);
  cwd = await scratchDir();
  const port = await freePort();
  worker = `http://127.0.0.1:${port}`;
  dev = await startScript("dev.ts", ["--port", String(port), "--bot-api-port", "0", "--redis-url", REDIS_URL, "--postgres-url", databaseUrl], { cwd });
  await waitFor(() => dev.stdout.includes("dev: the local Bot API double delivers to") || dev.child.exitCode !== null, "npm run dev to set up", 120_000);
  expect(dev.stdout, dev.stderr).toContain(`dev: the local Bot API double delivers to ${worker}/bot/webhook/`);
  pageUrl = /^dev: chat with the bot at (\S+)$/m.exec(dev.stdout)?.[1] ?? "";

  browser = await chromium.launchPersistentContext(await scratchDir(), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 800 },
  });
  page = await browser.newPage();
  page.setDefaultTimeout(SLOW);
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(pageUrl);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (dev !== undefined && dev.child.exitCode === null) {
    dev.child.kill("SIGTERM");
    const result = await dev.exited;
    expect(result.code, result.stderr).toBe(0);
    expectNoLeak(result, LOCAL_CREDENTIALS);
    expect(existsSync(join(cwd, ".dev-session.json"))).toBe(false);
  }
  redis?.disconnect();
  await cleanUp();
  await flushRedisDatabase(REDIS_URL);
  await dropDatabase(DATABASE);
}, 60_000);

describe("npm run dev", () => {
  it("prints the chat page's address first", () => {
    expect(dev.stdout.split("\n")[0]).toMatch(/^dev: chat with the bot at http:\/\/127\.0\.0\.1:\d+\/$/);
  });
});

describe("the chat page, in Chromium, against the Worker", () => {
  it("a new user's /start shows the greeting, delivered to the webhook", { timeout: 60_000 }, async () => {
    await page.getByLabel("User id").fill(String(USER_ID));
    await page.getByLabel("First name").fill("Aziz");
    await page.getByLabel("Username").fill("aziz_dev");
    await page.getByRole("combobox", { name: /^Language/ }).selectOption("en");
    await page.getByRole("button", { name: "Create user" }).click();
    await type("/start");
    await botMessage(translate("en", "start_greeting", { name: "Aziz" })).waitFor();
    await page.locator("#log .entry.user", { hasText: "/start" }).locator(".delivery.delivered", { hasText: "delivered: 200" }).waitFor();
  });

  it("/language, then a button press: the message is edited in place and the toast shows", { timeout: 60_000 }, async () => {
    await type("/language");
    const choose = botMessage(translate("en", "language_choose"));
    await choose.waitFor();
    const messageId = await choose.getAttribute("data-message-id");
    await choose.getByRole("button", { name: "Русский" }).click();
    const confirmation = translate("ru", "language_set");
    await page.locator("#toasts .toast", { hasText: confirmation }).waitFor();
    const edited = page.locator(`#log .entry.bot[data-message-id="${messageId}"]`);
    await edited.locator(".text", { hasText: confirmation }).waitFor();
    expect(await edited.locator(".keyboard").count()).toBe(0);
    expect(await edited.locator(".edited").count()).toBe(1);
    expect(await page.locator("#log .entry.event", { hasText: "Aziz pressed “Русский”" }).locator(".delivery").textContent()).toMatch(/^delivered: 200 in \d+ ms · webhook reply \w+$/);
  });

  it("a deep link with a token from the internal API links the account", { timeout: 60_000 }, async () => {
    const issued = await internal("link-tokens", { user_id: WEB_USER_ID });
    expect(issued.url).toMatch(/^https:\/\/t\.me\/mtt_pro_bot\?start=link_/);
    await page.getByLabel("Deep link").fill(issued.url);
    await page.getByRole("button", { name: "Open" }).click();
    await botMessage(translate("ru", "link_success")).waitFor();
    expect(await account()).toMatchObject({ web_user_id: String(WEB_USER_ID), is_blocked: false });
  });

  it("a bot message with markup or script in it shows as text", { timeout: 60_000 }, async () => {
    const plain = `<script>window.__injected = true</script><img src=x onerror="window.__injected = true"> & <b>not bold</b>`;
    expect((await internal("notify", { user_id: WEB_USER_ID, text: plain })).delivered).toBe(1);
    const html = '<b>bold</b> &lt;script&gt;alert(1)&lt;/script&gt; <a href="https://example.com/x">link</a>';
    expect((await internal("notify", { user_id: WEB_USER_ID, text: html, parse_mode: "HTML" })).delivered).toBe(1);
    const markdown = "*MarkdownV2 bold* and `<i>code</i>`";
    expect((await internal("notify", { user_id: WEB_USER_ID, text: markdown, parse_mode: "MarkdownV2" })).delivered).toBe(1);

    const shown = botMessage("window.__injected").locator(".text");
    await shown.waitFor();
    expect(await shown.textContent()).toBe(plain);
    const formatted = botMessage("alert(1)").locator(".text");
    await formatted.waitFor();
    expect(await formatted.textContent()).toBe("bold <script>alert(1)</script> link");
    expect(await formatted.locator("b").textContent()).toBe("bold");
    expect(await formatted.locator("a").getAttribute("href")).toBe("https://example.com/x");
    const fromMarkdown = botMessage("MarkdownV2 bold").locator(".text");
    await fromMarkdown.waitFor();
    expect(await fromMarkdown.locator("b").textContent()).toBe("MarkdownV2 bold");
    expect(await fromMarkdown.locator("code").textContent()).toBe("<i>code</i>");

    expect(await page.locator("#log script, #log img, #log i").count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __injected?: boolean }).__injected)).toBeUndefined();
    expect(pageErrors).toEqual([]);
  });

  it("saves the screenshot the README shows", async () => {
    const path = SCREENSHOT ?? join(await scratchDir(), "chat.png");
    await page.screenshot({ path });
    expect(statSync(path).size).toBeGreaterThan(10_000);
  });

  it("blocking the bot marks the account blocked in Postgres (notifications skip it); unblocking clears it", { timeout: 60_000 }, async () => {
    await page.getByRole("button", { name: "Block bot" }).click();
    await page.locator("#log .entry.event", { hasText: "Aziz blocked the bot" }).locator(".delivery.delivered").waitFor();
    await waitFor(async () => (await account())?.is_blocked === true, "is_blocked = true", SLOW);
    expect(await page.getByRole("textbox", { name: "Message" }).isDisabled()).toBe(true);
    expect(await internal("notify", { user_id: WEB_USER_ID, text: "are you there?" })).toMatchObject({ delivered: 0, results: [] });

    await page.getByRole("button", { name: "Unblock bot" }).click();
    await page.locator("#log .entry.event", { hasText: "Aziz unblocked the bot" }).locator(".delivery.delivered").waitFor();
    await waitFor(async () => (await account())?.is_blocked === false, "is_blocked = false", SLOW);
  });
});

describe("npm run failed, beside npm run dev", () => {
  const FAILING_CHAT = 730000099;
  const UPDATE_ID = 730000500;
  const update = {
    update_id: UPDATE_ID,
    message: {
      message_id: 1,
      date: Math.floor(Date.now() / 1000),
      chat: { id: FAILING_CHAT, type: "private", first_name: "Fail" },
      from: { id: FAILING_CHAT, is_bot: false, first_name: "Fail", language_code: "en" },
      text: "/help",
      entities: [{ type: "bot_command", offset: 0, length: 5 }],
    },
  };
  const sentToFailingChat = async (): Promise<number> => {
    const calls = (await (await fetch(`${pageUrl}__control/calls?method=sendMessage`)).json()) as { params: { chat_id: number } }[];
    return calls.filter((call) => call.params.chat_id === FAILING_CHAT).length;
  };

  it("list shows an update that failed: id, type, age and error", { timeout: 60_000 }, async () => {
    // Bad data in the chat's session key is a failure a redelivery cannot fix: the Worker keeps the update.
    await redis.lpush(`bot:session:${FAILING_CHAT}`, "not a session");
    const response = await fetch(`${worker}/bot/webhook/`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": LOCAL_SECRETS.TELEGRAM_WEBHOOK_SECRET },
      body: JSON.stringify(update),
    });
    expect(response.status).toBe(200);

    const listed = await beside("failed.ts", ["list"]);
    expect(listed.code, listed.stderr).toBe(0);
    const [header, row] = listed.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^update_id\s+type\s+age\s+error$/);
    expect(row).toMatch(new RegExp(`^${UPDATE_ID}\\s+message\\s+\\d+s\\s+RedisReplyError: redis: WRONGTYPE`));
    expectNoLeak(listed, LOCAL_CREDENTIALS);
  });

  it("show prints the record, the update in it", async () => {
    const shown = await beside("failed.ts", ["show", String(UPDATE_ID)]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ update_id: UPDATE_ID, update_type: "message", error_name: "RedisReplyError", update });
  });

  it("replay says so in one line when the update fails again, and keeps it", { timeout: 60_000 }, async () => {
    const replayed = await beside("failed.ts", ["replay", String(UPDATE_ID)]);
    expectOneLineFailure(replayed, new RegExp(`^error: update ${UPDATE_ID} failed again: RedisReplyError: redis: WRONGTYPE`));
    expect(await redis.zscore(FAILED_UPDATE_IDS_KEY, String(UPDATE_ID))).not.toBeNull();
    expect(await sentToFailingChat()).toBe(0);
  });

  it("replay, once the cause is mended, runs the update through the Worker's webhook again and drops the record", { timeout: 60_000 }, async () => {
    await redis.del(`bot:session:${FAILING_CHAT}`);
    expect(await redis.get(`bot:update:${UPDATE_ID}`)).toBe("done");
    const replayed = await beside("failed.ts", ["replay", String(UPDATE_ID)]);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toBe(
      `update ${UPDATE_ID} replayed to ${worker}/bot/webhook/: handled (200); its webhook reply (sendMessage) sent to the Bot API; its failed-update record is dropped\n`,
    );
    expect(await sentToFailingChat()).toBe(1);
    expect((await beside("failed.ts", ["list"])).stdout).toBe("no failed updates\n");
    expectNoLeak(replayed, LOCAL_CREDENTIALS);
  });

  it("a record with only an excerpt cannot be replayed, says so in one line; drop removes it", async () => {
    const id = 730000501;
    const record = { update_id: id, update_type: "message", error_name: "Error", error_message: "boom", failed_at: new Date().toISOString(), update_excerpt: '{"update_id":730000501,' };
    await redis.set(failedUpdateKey(id), JSON.stringify(record));
    await redis.zadd(FAILED_UPDATE_IDS_KEY, Date.now(), String(id));
    expect((await beside("failed.ts", ["list"])).stdout).toContain("[excerpt only: cannot be replayed]");
    expectOneLineFailure(await beside("failed.ts", ["replay", String(id)]), /^error: update 730000501 cannot be replayed: its JSON was over 8 KiB/);
    const dropped = await beside("failed.ts", ["drop", String(id)]);
    expect(dropped.stdout).toBe(`dropped failed update ${id}\n`);
    expect(await redis.exists(failedUpdateKey(id))).toBe(0);
    expectOneLineFailure(await beside("failed.ts", ["drop", String(id)]), /^error: no failed update 730000501\n$/);
  });
});

describe("npm run failed elsewhere, with nothing configured", () => {
  it("reads the local Redis through a gateway of its own; replay then has nowhere to go, and says so", async () => {
    const id = 730000502;
    const record = { update_id: id, update_type: "message", error_name: "TypeError", error_message: "x is undefined", failed_at: new Date().toISOString(), update: { update_id: id } };
    await redis.set(failedUpdateKey(id), JSON.stringify(record));
    await redis.zadd(FAILED_UPDATE_IDS_KEY, Date.now(), String(id));
    const elsewhere = await scratchDir();
    const run = (args: string[]) => runScript("failed.ts", ["--redis-url", REDIS_URL, ...args], { cwd: elsewhere, env: {} });
    expect((await run(["list"])).stdout).toMatch(new RegExp(`^update_id\\s+type\\s+age\\s+error\\n${id}\\s+message\\s+\\d+s\\s+TypeError: x is undefined\\n$`));
    expectOneLineFailure(await run(["replay", String(id)]), /^error: TELEGRAM_WEBHOOK_URL is not set and no `npm run dev` runs in this directory: nowhere to replay to\n$/);
    expect((await run(["drop", String(id)])).stdout).toBe(`dropped failed update ${id}\n`);
  });
});

describe("the webhook scripts, beside npm run dev, with no variables", () => {
  it("webhook:info shows the double's webhook to the local Worker", async () => {
    const info = await beside("webhook.ts", ["info"]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toContain(`url:                  ${worker}/bot/webhook/\n`);
    expectNoLeak(info, LOCAL_CREDENTIALS);
  });

  it("webhook:delete removes it and set-webhook sets it again, the local http URL accepted", { timeout: 60_000 }, async () => {
    const deleted = await beside("webhook.ts", ["delete"]);
    expect(deleted.stdout).toBe("webhook deleted; pending updates kept for polling\n");
    expectOneLineFailure(await beside("webhook.ts", ["info"]), /^error: no webhook is set\n$/);
    const set = await beside("webhook.ts", ["set"]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain(`webhook set for @mtt_pro_bot: ${worker}/bot/webhook/\n`);
    expectNoLeak(set, LOCAL_CREDENTIALS);
    expect((await beside("webhook.ts", ["info"])).code).toBe(0);
    const answers = await page.locator("#log .entry.bot").count();
    await type("/help");
    await page.locator("#log .entry.bot").nth(answers).waitFor();
    expect(await page.locator("#log .entry.bot").nth(answers).textContent()).toContain("/language");
  });
});

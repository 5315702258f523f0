// scripts/webhook.ts (npm run set-webhook / webhook:info / webhook:delete) as a child process against the Bot API double.
import { readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { Api } from "grammy";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startBotApiDouble, type BotApiDouble } from "../../../scripts/local/bot-api-double.js";
import { ALLOWED_UPDATES } from "../../../src/bot/allowed-updates.js";
import { COMMANDS } from "../../../src/bot/commands.js";
import { DEFAULT_LOCALE, LOCALES, translate } from "../../../src/bot/i18n/index.js";
import { readVariable } from "../../../src/config.js";
import {
  cleanUp,
  expectNoLeak,
  expectOneLineFailure,
  runScript,
  scratchDir,
  SAMPLES,
  startScript,
  TOKEN,
  waitFor,
  type ScriptResult,
} from "./run-script.js";

const WEBHOOK_URL = "https://mtt-pro-api.xlog.uz/bot/webhook/";
const SECRET = "webhook_test-secret_0123456789abcdef";

let double: BotApiDouble;
let api: Api;
let botInfo: Record<string, unknown>;

/** The variables of a correct set-up, with `overrides`. */
function env(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    TELEGRAM_BOT_TOKEN: TOKEN,
    TELEGRAM_API_ROOT: double.url,
    TELEGRAM_WEBHOOK_URL: WEBHOOK_URL,
    TELEGRAM_WEBHOOK_SECRET: SECRET,
    ...overrides,
  };
}

function webhook(args: string[], overrides: Record<string, string | undefined> = {}, cwd?: string): Promise<ScriptResult> {
  return runScript("webhook.ts", args, { env: env(overrides), ...(cwd === undefined ? {} : { cwd }) });
}

/** The webhook as set-webhook sets it, registered directly on the double. */
async function setWebhook(url = WEBHOOK_URL): Promise<void> {
  await api.setWebhook(url, { secret_token: SECRET, allowed_updates: [...ALLOWED_UPDATES], drop_pending_updates: true });
  const cleared = await fetch(`${double.url}/__control/calls`, { method: "DELETE" });
  expect(cleared.status).toBe(200);
}

async function reportWebhookError(secondsAgo: number, message: string): Promise<void> {
  const response = await fetch(`${double.url}/__control/webhook-error`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ last_error_date: Math.floor(Date.now() / 1000) - secondsAgo, last_error_message: message }),
  });
  expect(response.status).toBe(200);
}

const methods = (): string[] => double.calls().map((call) => call.method);

beforeAll(async () => {
  botInfo = JSON.parse(await readFile(new URL("getMe.json", SAMPLES), "utf8")) as Record<string, unknown>;
  double = await startBotApiDouble({ tokens: [TOKEN], botInfo });
  api = new Api(TOKEN, { apiRoot: double.url });
});

beforeEach(() => double.reset());

afterAll(async () => {
  await cleanUp();
  await double.close();
});

describe("webhook.ts set", () => {
  it("sets the webhook with the secret and allowed updates, registers the commands per locale, verifies, prints TELEGRAM_BOT_INFO", async () => {
    double.queueUpdates([{ message: { message_id: 1, date: 0, chat: { id: 1, type: "private" }, text: "queued" } }]);
    const result = await webhook(["set"]);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe("");
    expect(methods()).toEqual(["getMe", "setWebhook", ...LOCALES.map(() => "setMyCommands"), "getWebhookInfo"]);
    expect(double.calls().every((call) => call.token === TOKEN)).toBe(true);
    expect(double.calls("setWebhook")[0]?.params).toEqual({
      url: WEBHOOK_URL,
      secret_token: SECRET,
      allowed_updates: [...ALLOWED_UPDATES],
      max_connections: 40,
      drop_pending_updates: true,
    });
    expect(double.calls("setMyCommands").map((call) => call.params)).toEqual(
      LOCALES.map((locale) => ({
        commands: COMMANDS.map(({ command, description }) => ({ command, description: translate(locale, description) })),
        ...(locale === DEFAULT_LOCALE ? {} : { language_code: locale }),
      })),
    );
    expect((await api.getWebhookInfo()).pending_update_count).toBe(0);

    const lines = result.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe(`webhook set for @mtt_pro_bot: ${WEBHOOK_URL}`);
    const printedInfo = lines.at(-1) ?? "";
    expect(JSON.parse(printedInfo)).toEqual(botInfo);
    expect(readVariable({ TELEGRAM_BOT_INFO: printedInfo }, "TELEGRAM_BOT_INFO")?.username).toBe("mtt_pro_bot");
    expectNoLeak(result, [TOKEN, SECRET]);
  });

  it("--max-connections and --keep-pending change what is sent", async () => {
    double.queueUpdates([{ message: { message_id: 1, date: 0, chat: { id: 1, type: "private" }, text: "queued" } }]);
    const result = await webhook(["set", "--max-connections", "10", "--keep-pending"]);

    expect(result.code, result.stderr).toBe(0);
    expect(double.calls("setWebhook")[0]?.params).toMatchObject({ max_connections: 10, drop_pending_updates: false });
    expect(await api.getWebhookInfo()).toMatchObject({ max_connections: 10, pending_update_count: 1 });
    expect(result.stdout).toContain("max connections: 10; pending updates kept");
  });

  it.each(["0", "101", "1.5", "ten", "-1"])("refuses --max-connections %s before calling Telegram", async (value) => {
    const result = await webhook(["set", "--max-connections", value]);
    expectOneLineFailure(result, /option '--max-connections <n>' argument '.+' is invalid\. expected a whole number from 1 to 100/);
    expect(result.stdout).toBe("");
    expect(double.calls()).toEqual([]);
  });

  it.each([1, 100])("accepts --max-connections %i", async (value) => {
    const result = await webhook(["set", "--max-connections", String(value)]);
    expect(result.code, result.stderr).toBe(0);
    expect(double.calls("setWebhook")[0]?.params).toMatchObject({ max_connections: value });
  });

  it.each([
    ["443, spelled out", "https://mtt-pro-api.xlog.uz:443/bot/webhook/", WEBHOOK_URL],
    ["80", "https://mtt-pro-api.xlog.uz:80/bot/webhook/", "https://mtt-pro-api.xlog.uz:80/bot/webhook/"],
    ["88", "https://mtt-pro-api.xlog.uz:88/bot/webhook/", "https://mtt-pro-api.xlog.uz:88/bot/webhook/"],
    ["8443", "https://mtt-pro-api.xlog.uz:8443/bot/webhook/", "https://mtt-pro-api.xlog.uz:8443/bot/webhook/"],
  ])("accepts port %s", async (_port, url, registered) => {
    const result = await webhook(["set"], { TELEGRAM_WEBHOOK_URL: url });
    expect(result.code, result.stderr).toBe(0);
    expect(double.calls("setWebhook")[0]?.params).toMatchObject({ url: registered });
    expect(result.stdout).toContain(`webhook set for @mtt_pro_bot: ${registered}\n`);
  });

  it.each([
    ["an http URL", "http://mtt-pro-api.xlog.uz:8080/bot/webhook/", /TELEGRAM_WEBHOOK_URL must be https/],
    ["port 8080", "https://mtt-pro-api.xlog.uz:8080/bot/webhook/", /TELEGRAM_WEBHOOK_URL port must be 443, 80, 88 or 8443/],
    ["no URL at all", undefined, /TELEGRAM_WEBHOOK_URL is missing/],
  ])("refuses %s before calling Telegram", async (_what, url, message) => {
    const result = await webhook(["set"], { TELEGRAM_WEBHOOK_URL: url });
    expectOneLineFailure(result, message);
    expect(double.calls()).toEqual([]);
  });

  it("refuses a malformed secret, naming the variable but not its value", async () => {
    const badSecret = "not a valid secret!";
    const result = await webhook(["set"], { TELEGRAM_WEBHOOK_SECRET: badSecret });
    expectOneLineFailure(result, /TELEGRAM_WEBHOOK_SECRET is malformed/);
    expect(result.stderr).not.toContain(badSecret);
    expect(double.calls()).toEqual([]);
  });


  it.each([
    [
      "another URL",
      { url: "https://elsewhere.example/bot/webhook/", allowed_updates: [...ALLOWED_UPDATES] },
      /^error: Telegram reports webhook https:\/\/elsewhere\.example\/bot\/webhook\/, not https:\/\/mtt-pro-api\.xlog\.uz\/bot\/webhook\/\n$/,
    ],
    [
      "other allowed_updates",
      { url: WEBHOOK_URL, allowed_updates: ["message"] },
      new RegExp(`^error: Telegram reports allowed_updates \\["message"\\], not ${JSON.stringify(ALLOWED_UPDATES).replace(/[[\]]/g, "\\$&")}\n$`),
    ],
  ])("fails when getWebhookInfo reads back %s than it set", async (_what, other, message) => {
    // Someone else changes the webhook between our setWebhook and our read-back: the double holds the
    // script's getWebhookInfo for a while, and the change lands in that window.
    double.addFault({ method: "getWebhookInfo", delay_ms: 2000, times: 1 });
    const script = await startScript("webhook.ts", ["set"], { env: env() });
    await waitFor(() => double.calls("getWebhookInfo").length === 1, "the read-back");
    await api.setWebhook(other.url, { allowed_updates: other.allowed_updates as never });

    const result = await script.exited;
    expectOneLineFailure(result, message);
    expect(result.stdout).not.toContain("webhook set");
  });

  it("reports an unreachable Bot API in one line", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));

    for (const command of ["set", "info", "delete"]) {
      const result = await webhook([command], { TELEGRAM_API_ROOT: `http://127.0.0.1:${port}/` });
      const method = { set: "getMe", info: "getWebhookInfo", delete: "deleteWebhook" }[command];
      expectOneLineFailure(result, new RegExp(`^error: cannot reach the Bot API at http://127\\.0\\.0\\.1:${port} \\(TELEGRAM_API_ROOT\\) for ${method}: ECONNREFUSED\n$`));
    }
  });

  it("takes a plain-http webhook on this machine when the Bot API is on this machine too (the double of npm run dev)", async () => {
    const local = "http://127.0.0.1:8787/bot/webhook/";
    const result = await webhook(["set"], { TELEGRAM_WEBHOOK_URL: local });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`webhook set for @mtt_pro_bot: ${local}\n`);
    expect((await api.getWebhookInfo()).url).toBe(local);
  });

  it("refuses that webhook for Telegram itself, before calling it", async () => {
    const result = await webhook(["set"], { TELEGRAM_WEBHOOK_URL: "http://127.0.0.1:8787/bot/webhook/", TELEGRAM_API_ROOT: "https://api.telegram.org" });
    expectOneLineFailure(result, /^error: TELEGRAM_WEBHOOK_URL must be https\n$/);
  });
});

describe("webhook.ts with no bot token", () => {
  it.each([
    ["no .dev-session.json", undefined],
    ["a stale .dev-session.json, its npm run dev gone", { pid: 2 ** 22 + 12345, worker: "http://127.0.0.1:1", vars: { TELEGRAM_BOT_TOKEN: "1:stale" } }],
  ])("and %s says how to get one, in one line", async (_case, session) => {
    const cwd = await scratchDir();
    if (session !== undefined) await writeFile(join(cwd, ".dev-session.json"), JSON.stringify(session));
    for (const command of ["set", "info", "delete"]) {
      const result = await runScript("webhook.ts", [command], { cwd, env: {} });
      expectOneLineFailure(result, /^error: TELEGRAM_BOT_TOKEN is not set and no `npm run dev` runs in this directory: start `npm run dev` \(its local Bot API double\) or set TELEGRAM_BOT_TOKEN in \.dev\.vars\n$/);
    }
  });
});

describe("webhook.ts info", () => {
  it("fails when no webhook is set", async () => {
    const result = await webhook(["info"]);
    expectOneLineFailure(result, /no webhook is set/);
    expect(result.stdout).toMatch(/^url: +\(none\)$/m);
    expect(methods()).toEqual(["getWebhookInfo"]);
  });

  it("summarises a webhook that is set as expected", async () => {
    await setWebhook();
    const result = await webhook(["info"]);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(
      [
        `url:                  ${WEBHOOK_URL}`,
        "pending updates:      0",
        "max connections:      40",
        `allowed updates:      ${ALLOWED_UPDATES.join(", ")}`,
        "",
      ].join("\n"),
    );
  });

  it("--json prints Telegram's answer as JSON", async () => {
    await setWebhook();
    const result = await webhook(["info", "--json"]);

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(await api.getWebhookInfo());
    expect(JSON.parse(result.stdout)).toMatchObject({ url: WEBHOOK_URL, allowed_updates: [...ALLOWED_UPDATES] });
  });

  it("fails when the webhook is not TELEGRAM_WEBHOOK_URL", async () => {
    await setWebhook("https://elsewhere.example/bot/webhook/");
    const result = await webhook(["info"]);
    expectOneLineFailure(result, /webhook is https:\/\/elsewhere\.example\/bot\/webhook\/, expected https:\/\/mtt-pro-api\.xlog\.uz\/bot\/webhook\//);
  });

  it("compares URLs the way set registers them (default port spelled out)", async () => {
    await setWebhook();
    const result = await webhook(["info"], { TELEGRAM_WEBHOOK_URL: "https://mtt-pro-api.xlog.uz:443/bot/webhook/" });
    expect(result.code, result.stderr).toBe(0);
  });

  it("fails on a delivery error within the last hour, passes when it is 2 hours old", async () => {
    await setWebhook();
    await reportWebhookError(5 * 60, "Wrong response from the webhook: 502 Bad Gateway");
    const recent = await webhook(["info"]);
    expectOneLineFailure(recent, /delivery error within the last hour: Wrong response from the webhook: 502 Bad Gateway/);
    expect(recent.stdout).toMatch(/^last error: .+ Wrong response from the webhook: 502 Bad Gateway$/m);

    await reportWebhookError(2 * 60 * 60, "Connection timed out");
    const old = await webhook(["info"]);
    expect(old.code, old.stderr).toBe(0);
    expect(old.stdout).toMatch(/^last error: .+ Connection timed out$/m);
  });

  it("takes TELEGRAM_API_ROOT with a trailing slash", async () => {
    await setWebhook();
    const result = await webhook(["info"], { TELEGRAM_API_ROOT: `${double.url}/` });
    expect(result.code, result.stderr).toBe(0);
    expect(double.calls("getWebhookInfo")).toHaveLength(1);
  });

  it("reads .dev.vars from the working directory, the environment winning", async () => {
    await setWebhook();
    const cwd = await scratchDir();
    await writeFile(join(cwd, ".dev.vars"), `TELEGRAM_WEBHOOK_URL=https://elsewhere.example/bot/webhook/\nTELEGRAM_BOT_TOKEN=1:AAwrong\n`);

    const fromFile = await webhook(["info"], { TELEGRAM_WEBHOOK_URL: undefined }, cwd);
    expectOneLineFailure(fromFile, /expected https:\/\/elsewhere\.example\/bot\/webhook\//);
    const fromEnv = await webhook(["info"], {}, cwd);
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
  });
});

describe("webhook.ts delete", () => {
  it("deletes the webhook and keeps pending updates by default", async () => {
    await setWebhook();
    double.queueUpdates([{ message: { message_id: 1, date: 0, chat: { id: 1, type: "private" }, text: "queued" } }]);
    const result = await webhook(["delete"]);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("webhook deleted; pending updates kept for polling\n");
    expect(double.calls("deleteWebhook").map((call) => call.params)).toEqual([{ drop_pending_updates: false }]);
    expect(await api.getWebhookInfo()).toMatchObject({ url: "", pending_update_count: 1 });
  });

  it("--drop-pending drops them", async () => {
    await setWebhook();
    double.queueUpdates([{ message: { message_id: 1, date: 0, chat: { id: 1, type: "private" }, text: "queued" } }]);
    const result = await webhook(["delete", "--drop-pending"]);

    expect(result.code, result.stderr).toBe(0);
    expect(double.calls("deleteWebhook").map((call) => call.params)).toEqual([{ drop_pending_updates: true }]);
    expect(await api.getWebhookInfo()).toMatchObject({ url: "", pending_update_count: 0 });
  });
});

describe.each([
  ["set", "getMe", "setWebhook"],
  ["info", "getWebhookInfo", "getWebhookInfo"],
  ["delete", "deleteWebhook", "deleteWebhook"],
])("webhook.ts %s and Telegram's errors", (command, firstMethod, method) => {
  beforeEach(() => setWebhook());

  it(`reports an unknown token (401 on ${firstMethod}) in one line without printing it`, async () => {
    const unknownToken = "7000000002:AAunknown-token";
    const result = await webhook([command], { TELEGRAM_BOT_TOKEN: unknownToken });
    expectOneLineFailure(result, new RegExp(`^error: Telegram refused ${firstMethod}: 401 Unauthorized\n$`));
    expectNoLeak(result, [unknownToken, TOKEN]);
    expect(methods()).toEqual([firstMethod]);
    expect(double.calls()[0]?.token).toBe(unknownToken);
  });

  it(`waits out a short 429 on ${method} (retry_after 1) once and carries on`, async () => {
    double.addFault({ method, error_code: 429, retry_after: 1, times: 1 });
    const result = await webhook([command]);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe("");
    const [first, second, third] = double.calls(method);
    expect(third).toBeUndefined();
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(990);
    expect(second?.params).toEqual(first?.params);
  });

  it(`a second 429 on ${method} after the wait is one line, and no third try`, async () => {
    double.addFault({ method, error_code: 429, retry_after: 1 });
    const result = await webhook([command]);

    expectOneLineFailure(
      result,
      new RegExp(`^error: Telegram refused ${method}: 429 Too Many Requests: retry after 1 \\(again after waiting 1 s\\)\n$`),
    );
    expect(double.calls(method)).toHaveLength(2);
  });

  it(`does not sit out a long 429 on ${method} (retry_after 7): one line, at once`, async () => {
    double.addFault({ method, error_code: 429, retry_after: 7 });
    const started = Date.now();
    const result = await webhook([command]);

    expectOneLineFailure(result, new RegExp(`^error: Telegram refused ${method}: 429 Too Many Requests: retry after 7\n$`));
    expect(double.calls(method)).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(7000);
  });
});

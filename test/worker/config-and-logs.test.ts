import { afterEach, describe, expect, it, vi } from "vitest";
import type { Update } from "grammy/types";
import { TEST_SECRETS } from "./bindings.js";
import { freshUserId, sample, textMessage } from "./fixtures.js";
import { botApi, callWorkerWith, neonGateway, redisGateway } from "./helpers.js";

/** Every Bot API call a request of its own, so a failing reply is the Worker's to handle (not Telegram's). */
const REPLIES_AS_REQUESTS = { WEBHOOK_REPLY_METHODS: "none" };

const CONSOLE_METHODS = ["log", "info", "warn", "error", "debug"] as const;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Captures everything written to the console, by the Worker's logger or anyone else. */
function captureLogs(): {
  lines: () => Record<string, unknown>[];
  raw: () => string;
  withoutTimes: () => string;
} {
  const spies = CONSOLE_METHODS.map((method) => vi.spyOn(console, method).mockImplementation(() => undefined));
  const written = () => spies.flatMap((spy) => spy.mock.calls.map((args) => args.map(String).join(" ")));
  const parsed = () =>
    written().flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  return {
    raw: () => written().join("\n"),
    lines: parsed,
    /**
     * Everything written, with the logger's own timestamps taken out, so that a short value (say "0")
     * can be looked for without matching the clock; a `time` that is not a timestamp is kept.
     */
    withoutTimes: () =>
      written()
        .map((line) => {
          try {
            const { time, ...rest } = JSON.parse(line) as Record<string, unknown>;
            return typeof time === "string" && ISO_TIME.test(time) ? JSON.stringify(rest) : line;
          } catch {
            return line;
          }
        })
        .join("\n"),
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

const webhookPost = (body: unknown, secret: string = TEST_SECRETS.TELEGRAM_WEBHOOK_SECRET) => ({
  method: "POST",
  headers: { "X-Telegram-Bot-Api-Secret-Token": secret },
  body: JSON.stringify(body),
});

describe("configuration is validated at the first request", () => {
  // Each value is one the Worker must refuse.
  it.each([
    ["TELEGRAM_BOT_TOKEN", undefined, "missing"],
    ["TELEGRAM_BOT_TOKEN", "not a token", "malformed"],
    ["TELEGRAM_WEBHOOK_SECRET", "has spaces and ! marks", "malformed"],
    ["TELEGRAM_WEBHOOK_SECRET", "x".repeat(257), "malformed"],
    ["UPSTASH_REDIS_REST_URL", "redis.example:6379", "malformed"],
    ["DATABASE_URL", undefined, "missing"],
    ["TELEGRAM_BOT_INFO", "{not json", "malformed"],
    ["TELEGRAM_IP_ALLOWLIST", "maybe", "malformed"],
    ["TELEGRAM_API_ROOT", "bot-api-7391.example/root", "malformed"],
    ["TELEGRAM_API_ROOT", "ftp://bot-api-7391.example", "malformed"],
    ["UPSTASH_REDIS_REST_TOKEN", undefined, "missing"],
    ["UPSTASH_REDIS_REST_TOKEN", "", "missing"],
    ["DATABASE_URL", "mysql://app:db-password-5521@db-5521.example/app", "malformed"],
    ["NEON_HTTP_ENDPOINT", "neon-proxy-7391.example/sql", "malformed"],
    ["NEON_HTTP_ENDPOINT", "ws://neon-proxy-7391.example/v1", "malformed"],
    ["BOT_INTERNAL_API_TOKEN", undefined, "missing"],
    ["BOT_INTERNAL_API_TOKEN", "short-internal-token-".padEnd(23, "q"), "malformed"],
    ["RATE_LIMIT_PER_MINUTE", "thirty-per-minute", "malformed"],
    ["RATE_LIMIT_PER_MINUTE", "-30", "malformed"],
    ["RATE_LIMIT_PER_MINUTE", "2.5", "malformed"],
    ["RATE_LIMIT_PER_MINUTE", "100001", "malformed"],
    ["WEBHOOK_HANDLER_TIMEOUT_MS", "0", "malformed"],
    ["WEBHOOK_HANDLER_TIMEOUT_MS", "50001", "malformed"],
    ["WEBHOOK_HANDLER_TIMEOUT_MS", "25s", "malformed"],
    ["REDIS_TIMEOUT_MS", "99", "malformed"],
    ["REDIS_TIMEOUT_MS", "10001", "malformed"],
    ["REDIS_TIMEOUT_MS", "2s", "malformed"],
    ["FAILED_UPDATES_RETENTION_DAYS", "0", "malformed"],
    ["FAILED_UPDATES_RETENTION_DAYS", "366", "malformed"],
    ["FAILED_UPDATES_RETENTION_DAYS", "7d", "malformed"],
    ["TELEGRAM_SEND_RATE", "0", "malformed"],
    ["TELEGRAM_SEND_RATE", "1001", "malformed"],
    ["TELEGRAM_SEND_RATE", "30/s", "malformed"],
    ["WEBHOOK_REPLY_METHODS", "answerCallbackQuery;sendMessage", "malformed"],
    ["WEBHOOK_REPLY_METHODS", "answer_callback_query", "malformed"],
  ])("%s %j → 500 naming the variable; the value is in no response or log line", async (variable, value, problem) => {
    const logs = captureLogs();
    const response = await callWorkerWith({ [variable]: value }, "/bot/ready");
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ error: "configuration_error", variable, problem });
    expect(logs.lines().filter((line) => line.msg === "configuration error")).toEqual([
      { level: "error", msg: "configuration error", variable, problem, time: expect.stringMatching(ISO_TIME) },
    ]);
    if (value) {
      expect(text).not.toContain(value);
      expect(logs.withoutTimes()).not.toContain(value);
    }
  });

  it.each([
    ["BOT_INTERNAL_API_TOKEN", "t".repeat(24)],
    ["RATE_LIMIT_PER_MINUTE", "0"],
    ["RATE_LIMIT_PER_MINUTE", "100000"],
    ["WEBHOOK_HANDLER_TIMEOUT_MS", "1"],
    ["WEBHOOK_HANDLER_TIMEOUT_MS", "50000"],
    ["TELEGRAM_SEND_RATE", "1"],
    ["TELEGRAM_SEND_RATE", "1000"],
    ["WEBHOOK_REPLY_METHODS", "answerCallbackQuery,sendMessage"],
    ["WEBHOOK_REPLY_METHODS", ""],
  ])("%s %j is at the edge of what is accepted", async (variable, value) => {
    const logs = captureLogs();
    const response = await callWorkerWith({ [variable]: value }, "/bot/ready");
    expect(response.status).toBe(200);
    expect(logs.lines().filter((line) => line.msg === "configuration error")).toEqual([]);
  });

  it("TELEGRAM_WEBHOOK_URL is for the webhook scripts: a malformed one does not take the Worker down", async () => {
    const logs = captureLogs();
    const response = await callWorkerWith({ TELEGRAM_WEBHOOK_URL: "not a url 8812" }, "/bot/ready");
    expect(response.status).toBe(200);
    expect(logs.lines().filter((line) => line.msg === "configuration error")).toEqual([]);
  });

  it("health needs no configuration at all", async () => {
    const response = await callWorkerWith({ TELEGRAM_BOT_TOKEN: undefined }, "/bot/health");
    expect(response.status).toBe(200);
  });
});

describe("structured logs", () => {
  it("one JSON line per webhook request with update_id, type, outcome and duration; no secrets or text", async () => {
    await botApi.reset();
    const logs = captureLogs();
    const text = "my secret order note 4242";
    const update = textMessage(freshUserId(), text);
    const response = await callWorkerWith({}, "/bot/webhook/", webhookPost(update));
    expect(response.status).toBe(200);
    const lines = logs.lines().filter((line) => line.msg === "webhook");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "info", update_id: update.update_id, update_type: "message", outcome: "handled", status: 200 });
    expect(lines[0]?.duration_ms).toBeTypeOf("number");
    const raw = logs.raw();
    for (const secret of [...Object.values(TEST_SECRETS), text]) expect(raw).not.toContain(secret);
  });

  it("a handler bug is logged with update_id and stack", async () => {
    const logs = captureLogs();
    const user = freshUserId();
    await botApi.addFault({ method: "sendMessage", chat_id: user, error_code: 400, description: "Bad Request: chat not found" });
    const update = textMessage(user, "/help");
    expect((await callWorkerWith(REPLIES_AS_REQUESTS, "/bot/webhook/", webhookPost(update))).status).toBe(200);
    await botApi.clearFaults();
    const failure = logs.lines().find((line) => line.msg === "handler failed");
    expect(failure).toMatchObject({ level: "error", update_id: update.update_id, error_name: "GrammyError" });
    expect(String(failure?.stack)).toContain("GrammyError");
    expect(logs.raw()).not.toContain(TEST_SECRETS.TELEGRAM_BOT_TOKEN);
  });
});

describe("no message text or names in log lines when an update fails", () => {
  afterEach(async () => {
    await Promise.all([redisGateway.up(), neonGateway.up(), botApi.clearFaults()]);
  });

  const privateText = "my private order note 4242: deliver to flat 17";
  const names = { first_name: "Zarinaxq", last_name: "Qodirovaxq", username: "zarina_private_handle" };

  /** A private message from a fresh user with names no other test uses. */
  function fromNamedUser(text: string): { user: number; update: Update } {
    const user = freshUserId();
    const update = textMessage(user, text) as Update & { message: { from: object; chat: object } };
    Object.assign(update.message.from, names);
    Object.assign(update.message.chat, names);
    return { user, update };
  }

  /** The log lines carry the update_id, and nothing the user wrote or is called. */
  function expectUpdateIdButNoText(
    logs: ReturnType<typeof captureLogs>,
    update: Update,
    failureMessage: string,
    level: "warn" | "error",
  ): void {
    const lines = logs.lines();
    expect(lines.find((line) => line.msg === failureMessage)).toMatchObject({ level, update_id: update.update_id });
    expect(lines.find((line) => line.msg === "webhook")).toMatchObject({ update_id: update.update_id });
    const raw = logs.raw();
    for (const word of [privateText, "private order note", "flat 17", ...Object.values(names)]) {
      expect(raw).not.toContain(word);
    }
    for (const secret of Object.values(TEST_SECRETS)) expect(raw).not.toContain(secret);
  }

  it("a Bot API 400 on a greeting that carries the user's name: 200, a handler failure without the name", async () => {
    const { user, update } = fromNamedUser("/start");
    await botApi.addFault({ method: "sendMessage", chat_id: user, error_code: 400, description: "Bad Request: chat not found" });
    const logs = captureLogs();
    expect((await callWorkerWith(REPLIES_AS_REQUESTS, "/bot/webhook/", webhookPost(update))).status).toBe(200);
    // The failed call did carry the name, so the logs had it at hand.
    expect(String((await botApi.callsFor(user, "sendMessage"))[0]?.params.text)).toContain(names.first_name);
    expectUpdateIdButNoText(logs, update, "handler failed", "error");
  });

  it("a Bot API 400 on a reply to a text message: 200, a handler failure without the text", async () => {
    const { user, update } = fromNamedUser(privateText);
    await botApi.addFault({ method: "sendMessage", chat_id: user, error_code: 400, description: "Bad Request: chat not found" });
    const logs = captureLogs();
    expect((await callWorkerWith(REPLIES_AS_REQUESTS, "/bot/webhook/", webhookPost(update))).status).toBe(200);
    expectUpdateIdButNoText(logs, update, "handler failed", "error");
  });

  it("a Bot API 500: 503, a redelivery warning without the text", async () => {
    const { user, update } = fromNamedUser(privateText);
    await botApi.addFault({ method: "sendMessage", chat_id: user, error_code: 500 });
    const logs = captureLogs();
    expect((await callWorkerWith(REPLIES_AS_REQUESTS, "/bot/webhook/", webhookPost(update))).status).toBe(503);
    expectUpdateIdButNoText(logs, update, "update failed, will be redelivered", "warn");
  });

  it("Redis down: 503, an unclaimed-update warning without the text", async () => {
    const { update } = fromNamedUser(privateText);
    await redisGateway.down();
    const logs = captureLogs();
    expect((await callWorkerWith({}, "/bot/webhook/", webhookPost(update))).status).toBe(503);
    expectUpdateIdButNoText(logs, update, "update not claimed", "warn");
  });

  it("Postgres down while /start stores the names: 503, a redelivery warning without them", async () => {
    const { update } = fromNamedUser("/start");
    await neonGateway.down();
    const logs = captureLogs();
    expect((await callWorkerWith({}, "/bot/webhook/", webhookPost(update))).status).toBe(503);
    expectUpdateIdButNoText(logs, update, "update failed, will be redelivered", "warn");
  });

  it("Redis lost after the edit went out, with the whole update on its way to the failed list: no names either", async () => {
    const user = freshUserId();
    const choose = sample("callbackQuery", user) as Update & {
      callback_query: { data: string; from: object; message: { chat: object; text: string } };
    };
    choose.callback_query.data = "lang:en";
    Object.assign(choose.callback_query.from, names);
    Object.assign(choose.callback_query.message.chat, names);
    choose.callback_query.message.text = privateText;
    // The choice is stored after the answer (sent before the edit, which rides on the response); Redis goes
    // away while the answer is in flight, so storing the session fails, and so does keeping the update
    // (names and text) in the failed list.
    await botApi.addFault({ method: "answerCallbackQuery", delay_ms: 1000, times: 1 });
    const logs = captureLogs();
    const delivery = callWorkerWith({}, "/bot/webhook/", webhookPost(choose));
    await new Promise((resolve) => setTimeout(resolve, 400));
    await redisGateway.down();
    expect((await delivery).status).toBe(200);
    expectUpdateIdButNoText(logs, choose, "update failed after its reply was sent", "error");
    expect(logs.lines().find((line) => line.msg === "failed update not recorded")).toMatchObject({
      level: "warn",
      update_id: choose.update_id,
    });
  });
});

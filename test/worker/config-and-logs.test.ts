import { afterEach, describe, expect, it, vi } from "vitest";
import { TEST_SECRETS } from "./bindings.js";
import { freshUserId, textMessage } from "./fixtures.js";
import { botApi, callWorkerWith } from "./helpers.js";

function captureLogs(): { lines: () => Record<string, unknown>[]; raw: () => string } {
  const spy = vi.spyOn(console, "log").mockImplementation(() => undefined);
  return {
    raw: () => spy.mock.calls.map((args) => args.join(" ")).join("\n"),
    lines: () => spy.mock.calls.map((args) => JSON.parse(String(args[0])) as Record<string, unknown>),
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
  it.each([
    ["TELEGRAM_BOT_TOKEN", undefined, "missing"],
    ["TELEGRAM_BOT_TOKEN", "not a token", "malformed"],
    ["TELEGRAM_WEBHOOK_SECRET", "has spaces and ! marks", "malformed"],
    ["TELEGRAM_WEBHOOK_SECRET", "x".repeat(257), "malformed"],
    ["UPSTASH_REDIS_REST_URL", "redis.example:6379", "malformed"],
    ["DATABASE_URL", undefined, "missing"],
    ["TELEGRAM_BOT_INFO", "{not json", "malformed"],
    ["TELEGRAM_IP_ALLOWLIST", "maybe", "malformed"],
  ])("%s %s → 500 naming the variable, never its value", async (variable, value, problem) => {
    const logs = captureLogs();
    const response = await callWorkerWith({ [variable]: value }, "/bot/ready");
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ error: "configuration_error", variable, problem });
    const logged = logs.lines().find((line) => line.msg === "configuration error");
    expect(logged).toMatchObject({ level: "error", variable, problem });
    if (value !== undefined) {
      expect(text).not.toContain(value);
      expect(logs.raw()).not.toContain(value);
    }
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
    expect((await callWorkerWith({}, "/bot/webhook/", webhookPost(update))).status).toBe(200);
    await botApi.clearFaults();
    const failure = logs.lines().find((line) => line.msg === "handler failed");
    expect(failure).toMatchObject({ level: "error", update_id: update.update_id, error_name: "GrammyError" });
    expect(String(failure?.stack)).toContain("GrammyError");
    expect(logs.raw()).not.toContain(TEST_SECRETS.TELEGRAM_BOT_TOKEN);
  });
});

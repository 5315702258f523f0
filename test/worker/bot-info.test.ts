import { beforeEach, describe, expect, it } from "vitest";
import { TEST_SECRETS } from "./bindings.js";
import { freshUserId, textMessage } from "./fixtures.js";
import { bindingsWith, botApi, fetchWithBindings } from "./helpers.js";

const BOT_INFO = JSON.stringify({ id: 7000000001, is_bot: true, first_name: "MTT Pro", username: "mtt_pro_bot" });

function webhookPost(update: unknown, secret: string = TEST_SECRETS.TELEGRAM_WEBHOOK_SECRET): RequestInit {
  return { method: "POST", headers: { "X-Telegram-Bot-Api-Secret-Token": secret }, body: JSON.stringify(update) };
}

beforeEach(async () => {
  await botApi.reset();
});

describe("the bot's identity (getMe)", () => {
  it("without TELEGRAM_BOT_INFO: fetched once per isolate, never per request, never for a wrong secret", async () => {
    const isolate = bindingsWith({ TELEGRAM_BOT_INFO: undefined });
    expect((await fetchWithBindings(isolate, "/bot/webhook/", webhookPost(textMessage(freshUserId(), "/help"), "wrong"))).status).toBe(401);
    expect(await botApi.calls("getMe")).toHaveLength(0);
    for (let i = 0; i < 3; i++) {
      expect((await fetchWithBindings(isolate, "/bot/webhook/", webhookPost(textMessage(freshUserId(), "/help")))).status).toBe(200);
    }
    expect(await botApi.calls("getMe")).toHaveLength(1);
  });

  it("with TELEGRAM_BOT_INFO: never fetched", async () => {
    const isolate = bindingsWith({ TELEGRAM_BOT_INFO: BOT_INFO });
    const user = freshUserId();
    const answered = await fetchWithBindings(isolate, "/bot/webhook/", webhookPost(textMessage(user, "/help")));
    expect(answered.status).toBe(200);
    expect(await answered.json()).toMatchObject({ method: "sendMessage", chat_id: user });
    expect(await botApi.calls("getMe")).toHaveLength(0);
  });

  it("a failed getMe answers 503 (redelivered later) and is retried by the next request", async () => {
    const isolate = bindingsWith({ TELEGRAM_BOT_INFO: undefined });
    await botApi.addFault({ method: "getMe", error_code: 502, times: 1 });
    const user = freshUserId();
    const update = textMessage(user, "/help");
    const failed = await fetchWithBindings(isolate, "/bot/webhook/", webhookPost(update));
    expect(failed.status).toBe(503);
    expect(await failed.json()).toEqual({ error: "dependency_unavailable", dependency: "telegram" });
    const answered = await fetchWithBindings(isolate, "/bot/webhook/", webhookPost(update));
    expect(answered.status).toBe(200);
    expect(await answered.json()).toMatchObject({ method: "sendMessage", chat_id: user });
    expect(await botApi.calls("getMe")).toHaveLength(2);
  });
});

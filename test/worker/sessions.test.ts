import { beforeEach, describe, expect, it } from "vitest";
import { buttonPress, freshUserId, textMessage } from "./fixtures.js";
import { botApi, deliver, testRedis } from "./helpers.js";

const redis = testRedis();
const THIRTY_DAYS = 30 * 24 * 60 * 60;

beforeEach(async () => {
  await botApi.reset();
});

describe("sessions expire 30 days after their chat's last update", () => {
  it("a chosen language is stored under bot:session:<chat> with a TTL of about 30 days", async () => {
    const user = freshUserId();
    expect((await deliver(textMessage(user, "/language"))).status).toBe(200);
    expect((await deliver(buttonPress(user, "lang:en"))).status).toBe(200);
    const key = `bot:session:${user}`;
    expect(await redis.get(key)).toEqual({ language: "en" });
    const ttl = await redis.ttl(key);
    // -1 would be a session that never expires; a few seconds may have passed since it was stored.
    expect(ttl).toBeGreaterThan(THIRTY_DAYS - 60);
    expect(ttl).toBeLessThanOrEqual(THIRTY_DAYS);
  });

  it("changing the session stores it again with a fresh 30-day TTL", async () => {
    const user = freshUserId();
    const key = `bot:session:${user}`;
    expect((await deliver(buttonPress(user, "lang:en"))).status).toBe(200);
    // As if the session had been stored long ago.
    await redis.expire(key, 3600);
    expect((await deliver(buttonPress(user, "lang:uz"))).status).toBe(200);
    expect(await redis.get(key)).toEqual({ language: "uz" });
    expect(await redis.ttl(key)).toBeGreaterThan(THIRTY_DAYS - 60);
  });

  it("any update of the chat renews the TTL, without storing the session again", async () => {
    const user = freshUserId();
    const key = `bot:session:${user}`;
    expect((await deliver(buttonPress(user, "lang:en"))).status).toBe(200);
    await redis.expire(key, 3600);
    expect((await deliver(textMessage(user, "/help"))).status).toBe(200);
    expect(await redis.get(key)).toEqual({ language: "en" });
    expect(await redis.ttl(key)).toBeGreaterThan(THIRTY_DAYS - 60);
  });
});

describe("two updates of one chat that overlap", () => {
  it("a slow update that left its session alone does not write back its stale copy over a newer change", async () => {
    const user = freshUserId();
    const key = `bot:session:${user}`;
    await deliver(buttonPress(user, "lang:ru"));
    expect(await redis.get(key)).toEqual({ language: "ru" });
    // "Cancel" on the unlink question reads the session (for the language), then waits on the Bot API
    // (its answer and its edit are both slow, whichever of them is a request of its own) while the user
    // picks another language.
    const cancel = buttonPress(user, "unlink:no");
    await botApi.addFault({ method: "answerCallbackQuery", callback_query_id: cancel.callback_query.id, delay_ms: 1000, times: 1 });
    await botApi.addFault({ method: "editMessageText", chat_id: user, delay_ms: 1000, times: 1 });
    const slowCancel = deliver(cancel);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await deliver(buttonPress(user, "lang:en"))).status).toBe(200);
    expect(await redis.get(key)).toEqual({ language: "en" });
    expect((await slowCancel).status).toBe(200);
    expect((await botApi.callsFor(user, "editMessageText")).map((call) => call.params.text)).toContain("Ничего не изменилось.");
    expect(await redis.get(key)).toEqual({ language: "en" });
  });
});

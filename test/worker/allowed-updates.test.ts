// set-webhook and polling subscribe to ALLOWED_UPDATES only, so Telegram never sends any other type.
// A handler for another type would be starved without a sound: these tests send every other common
// type straight to the Worker and expect nothing to happen. Adding a handler means adding its type.
import { describe, expect, it } from "vitest";
import { ALLOWED_UPDATES } from "../../src/bot/allowed-updates.js";
import { freshUpdateId, freshUserId, sample } from "./fixtures.js";
import { botApi, deliver, testRedis, testSql } from "./helpers.js";

const bot = { id: 7000000001, is_bot: true, first_name: "MTT Pro", username: "mtt_pro_bot" };
const person = (id: number) => ({ id, is_bot: false, first_name: "Aziz", username: "aziz_k", language_code: "ru" });
const privateChat = (id: number) => ({ id, first_name: "Aziz", username: "aziz_k", type: "private" });
const channel = { id: -1009876543210, title: "MTT Pro news", type: "channel" };

/** One update of each type outside the subscription, from a fresh user in a private chat where it has one. */
const unsubscribed: Record<string, (user: number) => Record<string, unknown>> = {
  edited_message: (user) => (sample("editedMessage", user) as unknown as { edited_message: unknown }).edited_message as Record<string, unknown>,
  channel_post: () => ({ message_id: 5, chat: channel, date: 1768985000, text: "/help" }),
  edited_channel_post: () => ({ message_id: 5, chat: channel, date: 1768985000, edit_date: 1768985001, text: "/start" }),
  inline_query: (user) => ({ id: "4382bfdwdsb323b2d9", from: person(user), query: "order 1042", offset: "" }),
  chosen_inline_result: (user) => ({ result_id: "1", from: person(user), query: "order" }),
  poll_answer: (user) => ({ poll_id: "1", user: person(user), option_ids: [0] }),
  chat_member: (user) => ({
    chat: privateChat(user),
    from: person(user),
    date: 1768985000,
    old_chat_member: { user: bot, status: "member" },
    new_chat_member: { user: bot, status: "kicked", until_date: 0 },
  }),
  chat_join_request: (user) => ({ chat: channel, from: person(user), user_chat_id: user, date: 1768985000 }),
  message_reaction: (user) => ({
    chat: privateChat(user),
    message_id: 15,
    user: person(user),
    date: 1768985000,
    old_reaction: [],
    new_reaction: [{ type: "emoji", emoji: "👍" }],
  }),
};

describe("update types outside ALLOWED_UPDATES", () => {
  it("the list itself names only types the handlers use", () => {
    expect([...ALLOWED_UPDATES].sort()).toEqual(["callback_query", "message", "my_chat_member"]);
    for (const type of Object.keys(unsubscribed)) expect(ALLOWED_UPDATES).not.toContain(type);
  });

  it.each(Object.keys(unsubscribed))("%s is handled by no one: no Bot API call, no account, no session", async (type) => {
    const user = freshUserId();
    await botApi.reset();
    const update = { update_id: freshUpdateId(), [type]: unsubscribed[type]!(user) };
    expect((await deliver(update)).status).toBe(200);
    // getMe is the isolate's own business (once, when TELEGRAM_BOT_INFO is unset), not a handler's.
    expect((await botApi.calls()).filter((call) => call.method !== "getMe")).toEqual([]);
    expect(await testSql().query("SELECT 1 FROM telegram_accounts WHERE telegram_user_id = $1", [user])).toEqual([]);
    expect(await testRedis().exists(`bot:session:${user}`, `bot:session:${channel.id}`)).toBe(0);
  });
});

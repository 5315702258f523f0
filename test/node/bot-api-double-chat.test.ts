// The chat page's side of the Bot API double: its JSON API, the updates it makes, and what it serves.
import { request } from "node:http";
import { Api, GrammyError } from "grammy";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startBotApiDouble, type BotApiDouble } from "../../scripts/local/bot-api-double.js";
import { userEntities } from "../../scripts/local/bot-api-double/chat-world.js";

const TOKEN = "7000000001:chat-page-test-token";
const BOT = { id: 7000000001, is_bot: true, first_name: "MTT Pro", username: "mtt_pro_bot", can_read_all_group_messages: false };
const USER_ID = 730000001;

let double: BotApiDouble;
let api: Api;

interface Answer {
  status: number;
  body: any;
}

async function page(path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${double.url}/__chat/${path}`, {
    ...(body === undefined ? {} : { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json", ...headers } }),
  });
  return { status: response.status, body: await response.json() };
}

/** The updates waiting for getUpdates, taken. */
async function take(): Promise<any[]> {
  const updates = await api.getUpdates({ timeout: 0 });
  if (updates.length > 0) await api.getUpdates({ offset: (updates.at(-1)?.update_id ?? 0) + 1, timeout: 0 });
  return updates;
}

const log = async (chatId = USER_ID): Promise<any[]> => (await page(`chats/${chatId}/log`)).body;

beforeAll(async () => {
  double = await startBotApiDouble({ tokens: [TOKEN], botInfo: BOT });
  api = new Api(TOKEN, { apiRoot: double.url });
});

beforeEach(async () => {
  double.reset();
  expect((await page("users", { id: USER_ID, first_name: "Aziz", username: "aziz_k", language_code: "uz" })).status).toBe(200);
});

afterAll(async () => {
  await double.close();
});

describe("users", () => {
  it("are created with the next free id unless one is given, and listed with their private chats", async () => {
    const created = await page("users", { first_name: "  Bobur ", language_code: "ru" });
    expect(created.body).toEqual({ id: 100000001, is_bot: false, first_name: "Bobur", language_code: "ru" });
    const state = (await page("state")).body;
    expect(state.users.map((u: any) => u.id)).toEqual([USER_ID, 100000001]);
    expect(state.chats).toContainEqual({ id: USER_ID, type: "private", first_name: "Aziz", username: "aziz_k", blocked: false });
    expect(state.bot).toEqual({ id: BOT.id, is_bot: true, first_name: "MTT Pro", username: "mtt_pro_bot" });
    expect(state.delivery).toEqual({ mode: "none" });
  });

  it.each([
    [{ first_name: "", language_code: "en" }, "first name must be 1-64 characters"],
    [{ first_name: "A", username: "x!", language_code: "en" }, "username must be 5-32 characters"],
    [{ first_name: "A", language_code: "english" }, "language must be a two-letter code"],
    [{ id: -5, first_name: "A", language_code: "en" }, "user id must be a positive whole number"],
    [{ id: BOT.id, first_name: "A", language_code: "en" }, "that id is the bot's own"],
  ])("refuses %j", async (input, error) => {
    const answer = await page("users", input);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toContain(error);
  });
});

describe("messages", () => {
  it("become message updates from the user, with the entities a client marks", async () => {
    const sent = await page("messages", { user_id: USER_ID, chat_id: USER_ID, text: "/start@mtt_pro_bot hi @someone #tag https://t.me/x" });
    expect(sent.status).toBe(200);
    const [update] = await take();
    expect(update.message).toMatchObject({
      from: { id: USER_ID, is_bot: false, first_name: "Aziz", username: "aziz_k", language_code: "uz" },
      chat: { id: USER_ID, type: "private", first_name: "Aziz", username: "aziz_k" },
      text: "/start@mtt_pro_bot hi @someone #tag https://t.me/x",
      entities: [
        { type: "bot_command", offset: 0, length: 18 },
        { type: "mention", offset: 22, length: 8 },
        { type: "hashtag", offset: 31, length: 4 },
        { type: "url", offset: 36, length: 14 },
      ],
    });
    expect(sent.body).toMatchObject({ side: "user", update_id: update.update_id, delivery: { state: "waiting" } });
  });

  it("marks commands only where a client would: not inside a path or a word", () => {
    expect(userEntities("see /help and a/b /x_y")).toEqual([
      { type: "bot_command", offset: 4, length: 5 },
      { type: "bot_command", offset: 18, length: 4 },
    ]);
    expect(userEntities("https://example.com/path")).toEqual([{ type: "url", offset: 0, length: 24 }]);
  });

  it("show the bot's answers, edits and deletions in the chat's log, with getUpdates as their delivery", async () => {
    await page("messages", { user_id: USER_ID, chat_id: USER_ID, text: "/start" });
    await take();
    const sent = await api.sendMessage(USER_ID, "<b>Hi</b>", { parse_mode: "HTML" });
    await api.editMessageText(USER_ID, sent.message_id, "Hi again");
    const other = await api.sendMessage(USER_ID, "gone soon");
    await api.deleteMessage(USER_ID, other.message_id);
    const entries = await log();
    expect(entries.map((e) => [e.side, e.message.text])).toEqual([
      ["user", "/start"],
      ["bot", "Hi again"],
    ]);
    expect(entries[0].delivery).toMatchObject({ state: "fetched", text: "fetched by getUpdates" });
    expect(entries[1].message.edit_date).toEqual(expect.any(Number));
  });

  it("in a group reach the bot only as commands (privacy mode); creating the group tells the bot it was added", async () => {
    const group = (await page("groups", { user_id: USER_ID, title: "Dispatch" })).body;
    expect(group).toMatchObject({ type: "group", title: "Dispatch" });
    expect(group.id).toBeLessThan(0);
    await page("messages", { user_id: USER_ID, chat_id: group.id, text: "hello everyone" });
    await page("messages", { user_id: USER_ID, chat_id: group.id, text: "/help@mtt_pro_bot" });
    const updates = await take();
    expect(updates.map((u) => Object.keys(u).find((k) => k !== "update_id"))).toEqual(["my_chat_member", "message"]);
    expect(updates[0].my_chat_member).toMatchObject({ chat: { id: group.id }, old_chat_member: { status: "left" }, new_chat_member: { status: "member", user: { id: BOT.id } } });
    expect(updates[1].message.text).toBe("/help@mtt_pro_bot");
    const entries = await log(group.id);
    expect(entries.map((e) => e.text ?? e.message.text)).toEqual(["Aziz added the bot to the group", "hello everyone", "/help@mtt_pro_bot"]);
    expect(entries[1].delivery).toMatchObject({ state: "not_sent" });
  });

  it("refuses what a client would not send", async () => {
    expect((await page("messages", { user_id: USER_ID, chat_id: USER_ID, text: "  " })).body.error).toBe("message text is empty");
    expect((await page("messages", { user_id: 1, chat_id: USER_ID, text: "x" })).body.error).toContain("no such user");
    expect((await page("messages", { user_id: USER_ID, chat_id: 999, text: "x" })).body.error).toBe("no such chat");
    expect(await take()).toEqual([]);
  });
});

describe("deep links", () => {
  it.each([
    ["https://t.me/mtt_pro_bot?start=link_abc-DEF_123", "link_abc-DEF_123"],
    ["t.me/MTT_PRO_BOT?start=x", "x"],
    ["tg://resolve?domain=mtt_pro_bot&start=promo", "promo"],
    ["just_a_payload", "just_a_payload"],
  ])("%s sends /start %s, the command marked", async (link, payload) => {
    expect((await page("deep-links", { user_id: USER_ID, link })).status).toBe(200);
    const [update] = await take();
    expect(update.message).toMatchObject({ chat: { id: USER_ID }, text: `/start ${payload}`, entities: [{ type: "bot_command", offset: 0, length: 6 }] });
  });

  it.each([
    ["https://t.me/other_bot?start=x", "that link is for @other_bot"],
    ["https://example.com/mtt_pro_bot?start=x", "not a t.me link"],
    ["https://t.me/mtt_pro_bot?start=bad payload", "a start payload is 1-64 characters"],
    ["x".repeat(65), "a start payload is 1-64 characters"],
  ])("refuses %s", async (link, error) => {
    const answer = await page("deep-links", { user_id: USER_ID, link });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toContain(error);
  });
});

describe("inline buttons", () => {
  it("a press is a callback_query with the message as it is now; the bot's answer reaches the page as a toast", async () => {
    const sent = await api.sendMessage(USER_ID, "Choose", { reply_markup: { inline_keyboard: [[{ text: "English", callback_data: "lang:en" }]] } });
    const events = await fetch(`${double.url}/__chat/events`);
    const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
    const pressed = await page("callbacks", { user_id: USER_ID, chat_id: USER_ID, message_id: sent.message_id, data: "lang:en" });
    expect(pressed.body).toMatchObject({ side: "event", text: "Aziz pressed “English”" });
    const [update] = await take();
    expect(update.callback_query).toMatchObject({ from: { id: USER_ID }, data: "lang:en", message: { message_id: sent.message_id, text: "Choose" } });
    expect(typeof update.callback_query.chat_instance).toBe("string");
    await api.answerCallbackQuery(update.callback_query.id, { text: "Language: English.", show_alert: true });

    let seen = "";
    while (!seen.includes('"type":"toast"')) seen += (await reader.read()).value ?? "";
    const toast = JSON.parse(/data: (\{"type":"toast".*\})\n/.exec(seen)?.[1] ?? "{}");
    expect(toast).toEqual({ type: "toast", chat_id: USER_ID, callback_query_id: update.callback_query.id, text: "Language: English.", show_alert: true });
    await reader.cancel();
  });

  it("refuses a press on a button the message no longer has", async () => {
    const sent = await api.sendMessage(USER_ID, "Choose", { reply_markup: { inline_keyboard: [[{ text: "A", callback_data: "a" }]] } });
    await api.editMessageText(USER_ID, sent.message_id, "Chosen");
    const answer = await page("callbacks", { user_id: USER_ID, chat_id: USER_ID, message_id: sent.message_id, data: "a" });
    expect(answer.body.error).toBe("that message has no such button (any more)");
  });
});

describe("blocking the bot", () => {
  it("is a my_chat_member change member → kicked; the bot then gets 403; unblocking turns it back", async () => {
    await page("blocks", { user_id: USER_ID, blocked: true });
    const [blocked] = await take();
    expect(blocked.my_chat_member).toMatchObject({
      chat: { id: USER_ID, type: "private" },
      from: { id: USER_ID },
      old_chat_member: { status: "member", user: { id: BOT.id, is_bot: true } },
      new_chat_member: { status: "kicked", until_date: 0 },
    });
    const refused = await api.sendMessage(USER_ID, "still there?").catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(GrammyError);
    expect((refused as GrammyError).error_code).toBe(403);
    expect((refused as GrammyError).description).toBe("Forbidden: bot was blocked by the user");
    expect((await api.sendMessage(5, "another chat")).chat.id).toBe(5);
    expect((await page("messages", { user_id: USER_ID, chat_id: USER_ID, text: "hi" })).status).toBe(409);
    expect((await page("state")).body.chats.find((c: any) => c.id === USER_ID).blocked).toBe(true);

    await page("blocks", { user_id: USER_ID, blocked: false });
    const [unblocked] = await take();
    expect(unblocked.my_chat_member).toMatchObject({ old_chat_member: { status: "kicked" }, new_chat_member: { status: "member" } });
    expect((await api.sendMessage(USER_ID, "welcome back")).text).toBe("welcome back");
    expect((await log()).filter((e) => e.side === "event").map((e) => e.text)).toEqual(["Aziz blocked the bot", "Aziz unblocked the bot"]);
  });
});

describe("parse modes", () => {
  it("MarkdownV2 becomes text and entities as Telegram makes them", async () => {
    const sent = await api.sendMessage(USER_ID, "*bold \\*text* _it_ __u__ ~s~ ||sp|| [link](https://x.uz/a\\)b) `c\\`d`\n>quote", { parse_mode: "MarkdownV2" });
    expect(sent.text).toBe("bold *text it u s sp link c`d\nquote");
    expect(sent.entities).toEqual([
      { type: "bold", offset: 0, length: 10 },
      { type: "italic", offset: 11, length: 2 },
      { type: "underline", offset: 14, length: 1 },
      { type: "strikethrough", offset: 16, length: 1 },
      { type: "spoiler", offset: 18, length: 2 },
      { type: "text_link", offset: 21, length: 4, url: "https://x.uz/a)b" },
      { type: "code", offset: 26, length: 3 },
      { type: "blockquote", offset: 30, length: 5 },
    ]);
  });

  it.each([
    ["Hello.", "Character '.' is reserved and must be escaped with the preceding '\\'"],
    ["x *open", "Can't find end of Bold entity at byte offset 2"],
    ["[a](https://x", "Can't find end of a URL at byte offset 4"],
  ])("MarkdownV2 %j is refused as Telegram refuses it", async (text, why) => {
    const error = (await api.sendMessage(USER_ID, text, { parse_mode: "MarkdownV2" }).catch((e: unknown) => e)) as GrammyError;
    expect(error.description).toBe(`Bad Request: can't parse entities: ${why}`);
  });

  it("legacy Markdown, and links Telegram would not open are dropped (HTML and Markdown alike)", async () => {
    const legacy = await api.sendMessage(USER_ID, "*b* _i_ `c` [t](https://x.uz)", { parse_mode: "Markdown" });
    expect([legacy.text, legacy.entities]).toEqual([
      "b i c t",
      [
        { type: "bold", offset: 0, length: 1 },
        { type: "italic", offset: 2, length: 1 },
        { type: "code", offset: 4, length: 1 },
        { type: "text_link", offset: 6, length: 1, url: "https://x.uz" },
      ],
    ]);
    const html = await api.sendMessage(USER_ID, '<a href="javascript:alert(1)">x</a>', { parse_mode: "HTML" });
    expect([html.text, html.entities]).toEqual(["x", undefined]);
    const markdown = await api.sendMessage(USER_ID, "[x](javascript:alert\\(1\\))", { parse_mode: "MarkdownV2" });
    expect([markdown.text, markdown.entities]).toEqual(["x", undefined]);
  });
});

describe("what the page is served with", () => {
  it("serves the page and its scripts with a policy that allows no inline script and no other origin", async () => {
    for (const [path, type] of [
      ["/", "text/html"],
      ["/chat.js", "text/javascript"],
      ["/render.js", "text/javascript"],
      ["/chat.css", "text/css"],
    ]) {
      const response = await fetch(`${double.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get("content-type")).toContain(type);
      expect(response.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    }
    expect(await (await fetch(double.chatPageUrl)).text()).toContain('<script type="module" src="/chat.js"></script>');
  });

  it("answers no other host (DNS rebinding) and no other origin, and takes only JSON (no form from another site)", async () => {
    // fetch will not send another Host: node's own client will, as a browser does after DNS rebinding.
    const rebound = await new Promise<number | undefined>((resolve, reject) => {
      request(`${double.url}/__chat/state`, { headers: { host: "evil.example" } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      })
        .on("error", reject)
        .end();
    });
    expect(rebound).toBe(403);
    const foreign = await page("users", { first_name: "X", language_code: "en" }, { origin: "https://evil.example" });
    expect(foreign.status).toBe(403);
    const form = await fetch(`${double.url}/__chat/messages`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `user_id=${USER_ID}&chat_id=${USER_ID}&text=hi`,
    });
    expect(form.status).toBe(415);
    expect(await take()).toEqual([]);
  });
});

import { readFile } from "node:fs/promises";
import { Api, GrammyError, InputFile } from "grammy";
import type { Update } from "grammy/types";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startBotApiDouble, type BotApiDouble, type RecordedCall } from "../../scripts/local/bot-api-double.js";

const TOKEN = "7000000001:bot-api-double-test-token";
const SAMPLES = new URL("../fixtures/telegram/", import.meta.url);

let double: BotApiDouble;
let api: Api;
let botInfo: Record<string, unknown>;

async function sample(name: string): Promise<Update> {
  return JSON.parse(await readFile(new URL(`${name}.json`, SAMPLES), "utf8")) as Update;
}

interface Answer {
  status: number;
  body: Record<string, any>;
}

/** One Bot API call over plain HTTP, to see the wire format rather than what grammY makes of it. */
async function raw(method: string, params?: Record<string, unknown>, token = TOKEN): Promise<Answer> {
  const response = await fetch(`${double.url}/bot${token}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(params ?? {}),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

async function control(path: string, method: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${double.url}/__control/${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** The GrammyError a call fails with. */
async function refusal(call: Promise<unknown>): Promise<GrammyError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GrammyError);
  return error as GrammyError;
}

const badRequest = (description: string): Answer => ({
  status: 400,
  body: { ok: false, error_code: 400, description: `Bad Request: ${description}` },
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  botInfo = JSON.parse(await readFile(new URL("getMe.json", SAMPLES), "utf8")) as Record<string, unknown>;
  double = await startBotApiDouble({ tokens: [TOKEN], botInfo });
  api = new Api(TOKEN, { apiRoot: double.url });
});

afterAll(async () => {
  await double.close();
});

beforeEach(() => {
  double.reset();
});

describe("getMe and routing", () => {
  it("answers getMe with the configured bot and records the call", async () => {
    expect(double.url).toBe(`http://127.0.0.1:${double.port}`);
    expect(await api.getMe()).toEqual(botInfo);
    expect(double.calls()).toEqual([{ method: "getMe", token: TOKEN, params: {}, at: expect.any(Number) }]);
  });

  it("takes method names in any case and records the canonical name", async () => {
    expect((await raw("SENDMESSAGE", { chat_id: 5, text: "hi" })).body.ok).toBe(true);
    expect((await raw("getme")).body.result).toEqual(botInfo);
    expect(double.calls().map((call) => call.method)).toEqual(["sendMessage", "getMe"]);
    expect(double.calls("sendmessage")).toHaveLength(1);
  });

  it("answers 401 Unauthorized to an unknown token, and still records the call", async () => {
    const error = await refusal(new Api("123:wrong", { apiRoot: double.url }).getMe());
    expect(error.error_code).toBe(401);
    expect(error.description).toBe("Unauthorized");
    expect(await raw("sendMessage", { chat_id: 1, text: "x" }, "123:wrong")).toEqual({
      status: 401,
      body: { ok: false, error_code: 401, description: "Unauthorized" },
    });
    expect(double.calls().map((call) => [call.method, call.token])).toEqual([
      ["getMe", "123:wrong"],
      ["sendMessage", "123:wrong"],
    ]);
  });

  it("answers 404 Not Found to an unknown method or path", async () => {
    const notFound = { status: 404, body: { ok: false, error_code: 404, description: "Not Found" } };
    expect(await raw("sendTelepathy", { chat_id: 1 })).toEqual(notFound);
    const response = await fetch(`${double.url}/somewhere/else`);
    expect({ status: response.status, body: await response.json() }).toEqual(notFound);
    expect(double.calls().map((call) => call.method)).toEqual(["sendTelepathy", "/somewhere/else"]);
  });
});

describe("sendMessage", () => {
  it("returns a Message from the bot and records the parameters as sent", async () => {
    const keyboard = { inline_keyboard: [[{ text: "Русский", callback_data: "lang:ru" }]] };
    const before = Math.floor(Date.now() / 1000);
    const first = await api.sendMessage(123456789, "Выберите язык:", { reply_markup: keyboard });
    const second = await api.sendMessage(123456789, "again");
    expect(first).toEqual({
      message_id: expect.any(Number),
      from: { id: 7000000001, is_bot: true, first_name: "MTT Pro", username: "mtt_pro_bot" },
      chat: { id: 123456789, type: "private" },
      date: expect.any(Number),
      text: "Выберите язык:",
      reply_markup: keyboard,
    });
    expect(first.date).toBeGreaterThanOrEqual(before);
    expect(first.date).toBeLessThanOrEqual(before + 5);
    expect(second.message_id).toBe(first.message_id + 1);
    expect(double.calls("sendMessage")[0]?.params).toEqual({
      chat_id: 123456789,
      text: "Выберите язык:",
      reply_markup: keyboard,
    });
  });

  it("gives groups and supergroups their chat types", async () => {
    expect((await api.sendMessage(-4001234567, "g")).chat).toEqual({ id: -4001234567, type: "group" });
    expect((await api.sendMessage(-1001234567890, "s")).chat).toEqual({ id: -1001234567890, type: "supergroup" });
  });

  it("echoes entities, and turns HTML into text and entities as Telegram does", async () => {
    const entities = [{ type: "bold" as const, offset: 0, length: 5 }];
    expect((await api.sendMessage(5, "Hello world", { entities })).entities).toEqual(entities);
    const html = await api.sendMessage(5, '  <b>Salom</b>, <a href="https://x.uz/?a=1&amp;b=2">link</a> &lt;3 😀<i>x</i>\n', {
      parse_mode: "HTML",
    });
    expect(html.text).toBe("Salom, link <3 😀x");
    expect(html.entities).toEqual([
      { type: "bold", offset: 0, length: 5 },
      { type: "text_link", offset: 7, length: 4, url: "https://x.uz/?a=1&b=2" },
      { type: "italic", offset: 17, length: 1 },
    ]);
  });

  it("keeps reply keyboards out of the returned Message, as Telegram does", async () => {
    const sent = await api.sendMessage(5, "k", { reply_markup: { keyboard: [[{ text: "A" }]], resize_keyboard: true } });
    expect(sent).not.toHaveProperty("reply_markup");
    expect(double.calls("sendMessage")[0]?.params.reply_markup).toEqual({ keyboard: [[{ text: "A" }]], resize_keyboard: true });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ["empty text", { chat_id: 5, text: "" }, "message text is empty"],
    ["blank text", { chat_id: 5, text: " \n " }, "message text is empty"],
    ["no text", { chat_id: 5 }, "message text is empty"],
    ["no chat_id", { text: "hi" }, "chat_id is empty"],
    ["an unknown @username", { chat_id: "@nobody_here", text: "hi" }, "chat not found"],
    ["a text over 4096 characters", { chat_id: 5, text: "x".repeat(4097) }, "message is too long"],
    ["an unknown parse_mode", { chat_id: 5, text: "hi", parse_mode: "BBCode" }, "unsupported parse_mode"],
    ["a bare < in HTML", { chat_id: 5, text: "1 < 2", parse_mode: "HTML" }, 'can\'t parse entities: Unsupported start tag "" at byte offset 2'],
    ["an unknown HTML tag", { chat_id: 5, text: "Ёж<br>", parse_mode: "HTML" }, 'can\'t parse entities: Unsupported start tag "br" at byte offset 4'],
    ["an unclosed HTML tag", { chat_id: 5, text: "<b>x", parse_mode: "HTML" }, 'can\'t parse entities: Can\'t find end tag corresponding to start tag "b"'],
    [
      "crossed HTML tags",
      { chat_id: 5, text: "<b><i>x</b></i>", parse_mode: "HTML" },
      'can\'t parse entities: Unmatched end tag at byte offset 7, expected "</i>", found "</b>"',
    ],
    [
      "callback_data over 64 bytes",
      { chat_id: 5, text: "hi", reply_markup: { inline_keyboard: [[{ text: "b", callback_data: "я".repeat(33) }]] } },
      "BUTTON_DATA_INVALID",
    ],
    [
      "an inline button without an action",
      { chat_id: 5, text: "hi", reply_markup: { inline_keyboard: [[{ text: "b" }]] } },
      "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
    ],
  ])("refuses %s with 400 in Telegram's words", async (_case, params, description) => {
    expect(await raw("sendMessage", params)).toEqual(badRequest(description));
  });

  it("makes grammY throw a GrammyError for a validation error", async () => {
    const error = await refusal(api.sendMessage(5, ""));
    expect(error.error_code).toBe(400);
    expect(error.description).toBe("Bad Request: message text is empty");
    expect(error.method).toBe("sendMessage");
  });
});

describe("editing and deleting", () => {
  it("edits a sent message, refuses an identical edit, and forgets deleted messages", async () => {
    const keyboard = { inline_keyboard: [[{ text: "Да", callback_data: "unlink:yes" }]] };
    const sent = await api.sendMessage(42, "Отвязать?", { reply_markup: keyboard });
    const edited = await api.editMessageText(42, sent.message_id, "Отвязано.");
    expect(edited).toMatchObject({ message_id: sent.message_id, chat: { id: 42 }, text: "Отвязано.", date: sent.date });
    expect(edited).not.toHaveProperty("reply_markup");
    expect(typeof (edited as { edit_date?: unknown }).edit_date).toBe("number");

    const same = await refusal(api.editMessageText(42, sent.message_id, "Отвязано."));
    expect(same.description).toBe(
      "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
    );
    const withKeyboard = await api.editMessageReplyMarkup(42, sent.message_id, { reply_markup: keyboard });
    expect(withKeyboard).toMatchObject({ text: "Отвязано.", reply_markup: keyboard });

    expect(await api.deleteMessage(42, sent.message_id)).toBe(true);
    expect((await refusal(api.deleteMessage(42, sent.message_id))).description).toBe("Bad Request: message to delete not found");
    expect((await refusal(api.editMessageText(42, sent.message_id, "late"))).description).toBe(
      "Bad Request: message to edit not found",
    );
  });

  it("edits a message it did not send (one from an incoming update) as if it existed", async () => {
    const update = await sample("callback_query");
    const message = update.callback_query?.message;
    if (message === undefined) throw new Error("the sample has no message");
    const edited = await api.editMessageText(message.chat.id, message.message_id, "Язык: русский.");
    expect(edited).toMatchObject({ message_id: 15, chat: { id: 123456789 }, text: "Язык: русский." });
  });

  it.each<[string, string, Record<string, unknown>, string]>([
    ["editMessageText without text", "editMessageText", { chat_id: 5, message_id: 1 }, "message text is empty"],
    ["editMessageText without message_id", "editMessageText", { chat_id: 5, text: "t" }, "message identifier is not specified"],
    ["editMessageText without chat_id", "editMessageText", { message_id: 1, text: "t" }, "chat_id is empty"],
    ["deleteMessage without message_id", "deleteMessage", { chat_id: 5 }, "message identifier is not specified"],
    [
      "answerCallbackQuery without callback_query_id",
      "answerCallbackQuery",
      {},
      "query is too old and response timeout expired or query ID is invalid",
    ],
    ["sendChatAction with an unknown action", "sendChatAction", { chat_id: 5, action: "dancing" }, "wrong parameter action in request"],
  ])("refuses %s", async (_case, method, params, description) => {
    expect(await raw(method, params)).toEqual(badRequest(description));
  });

  it("answers callback queries, chat actions and inline-message edits with true", async () => {
    expect(await api.answerCallbackQuery("4382bfdwdsb323b2d9", { text: "ok" })).toBe(true);
    expect(await api.sendChatAction(5, "typing")).toBe(true);
    expect(await api.editMessageTextInline("inline-1", "t")).toBe(true);
    expect(await api.setChatMenuButton({ menu_button: { type: "commands" } })).toBe(true);
  });
});

describe("faults", () => {
  it("a 429 fault carries retry_after, fails `times` calls, then lets calls through", async () => {
    double.addFault({ method: "sendMessage", error_code: 429, retry_after: 7, times: 1 });
    const error = await refusal(api.sendMessage(5, "hi"));
    expect(error.error_code).toBe(429);
    expect(error.description).toBe("Too Many Requests: retry after 7");
    expect(error.parameters.retry_after).toBe(7);
    expect((await api.sendMessage(5, "hi")).text).toBe("hi");
    expect(double.calls("sendMessage")).toHaveLength(2);
  });

  it("sends the fault's status over HTTP with Telegram's envelope", async () => {
    double.addFault({ method: "*", error_code: 429 });
    expect(await raw("getMe")).toEqual({
      status: 429,
      body: { ok: false, error_code: 429, description: "Too Many Requests: retry after 1", parameters: { retry_after: 1 } },
    });
    double.clearFaults();
    expect((await raw("getMe")).status).toBe(200);
  });

  it("a 403 fault for one chat_id leaves other chats alone, until cleared", async () => {
    double.addFault({ method: "sendMessage", chat_id: 100, error_code: 403 });
    const blocked = await refusal(api.sendMessage(100, "hi"));
    expect(blocked.error_code).toBe(403);
    expect(blocked.description).toBe("Forbidden: bot was blocked by the user");
    expect((await api.sendMessage(200, "hi")).chat.id).toBe(200);
    expect((await refusal(api.sendMessage(100, "again"))).error_code).toBe(403);
    expect(await api.sendChatAction(100, "typing")).toBe(true);
    double.clearFaults();
    expect((await api.sendMessage(100, "now")).text).toBe("now");
  });

  it("a fault for one callback_query_id leaves other button answers alone", async () => {
    double.addFault({ method: "answerCallbackQuery", callback_query_id: "cb-1", error_code: 400 });
    expect((await refusal(api.answerCallbackQuery("cb-1"))).error_code).toBe(400);
    expect(await api.answerCallbackQuery("cb-2")).toBe(true);
    double.clearFaults();
  });

  it("a 500 fault with its own description", async () => {
    double.addFault({ method: "getMe", error_code: 500, description: "Internal Server Error: restart" });
    const error = await refusal(api.getMe());
    expect([error.error_code, error.description]).toEqual([500, "Internal Server Error: restart"]);
  });

  it("a delay fault answers late and then handles the call", async () => {
    double.addFault({ method: "sendMessage", delay_ms: 400, times: 1 });
    const started = Date.now();
    expect((await api.sendMessage(5, "slow")).text).toBe("slow");
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);
    const again = Date.now();
    await api.sendMessage(5, "fast");
    expect(Date.now() - again).toBeLessThan(300);
  });

  it("rejects a fault without an error_code or delay", () => {
    expect(() => double.addFault({ method: "getMe" })).toThrow(/error_code/);
    expect(() => double.addFault({ method: "getMe", error_code: 200 })).toThrow(/error_code/);
  });
});

describe("webhook", () => {
  it.each<[string, Record<string, unknown>, string]>([
    ["an http URL", { url: "http://mtt-pro-api.xlog.uz/bot/webhook/" }, "bad webhook: An HTTPS URL must be provided for webhook"],
    ["port 8080", { url: "https://mtt-pro-api.xlog.uz:8080/bot/webhook/" }, "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"],
    ["a malformed URL", { url: "https://exa mple.com/" }, "invalid webhook URL specified"],
    ["a base64 secret", { url: "https://mtt-pro-api.xlog.uz/bot/webhook/", secret_token: "abc+/=" }, "secret token contains unallowed characters"],
    ["a 257-character secret", { url: "https://mtt-pro-api.xlog.uz/bot/webhook/", secret_token: "a".repeat(257) }, "secret token is too long"],
  ])("setWebhook refuses %s", async (_case, params, description) => {
    expect(await raw("setWebhook", params)).toEqual(badRequest(description));
    expect((await api.getWebhookInfo()).url).toBe("");
  });

  it("setWebhook and getWebhookInfo round trip", async () => {
    const url = "https://mtt-pro-api.xlog.uz/bot/webhook/";
    const params = { url, secret_token: "a".repeat(64), max_connections: 10, allowed_updates: ["message", "callback_query"] };
    expect(await raw("setWebhook", params)).toEqual({ status: 200, body: { ok: true, result: true, description: "Webhook was set" } });
    expect((await raw("setWebhook", params)).body.description).toBe("Webhook is already set");
    double.queueUpdates([await sample("message_start")]);
    expect(await api.getWebhookInfo()).toEqual({
      url,
      has_custom_certificate: false,
      pending_update_count: 1,
      max_connections: 10,
      allowed_updates: ["message", "callback_query"],
    });
    expect(double.calls("setWebhook")[0]?.params).toEqual(params);
  });

  it("clamps max_connections to 1-100 with 40 by default, and accepts port 8443", async () => {
    await api.setWebhook("https://bot.example.com:8443/hook");
    expect((await api.getWebhookInfo()).max_connections).toBe(40);
    await api.setWebhook("https://bot.example.com/hook", { max_connections: 500 });
    expect((await api.getWebhookInfo()).max_connections).toBe(100);
  });

  it("drop_pending_updates drops the queued updates", async () => {
    double.queueUpdates([await sample("message_start"), await sample("message_help")]);
    await api.setWebhook("https://bot.example.com/hook");
    expect((await api.getWebhookInfo()).pending_update_count).toBe(2);
    await api.setWebhook("https://bot.example.com/hook", { drop_pending_updates: true });
    expect((await api.getWebhookInfo()).pending_update_count).toBe(0);
  });

  it("deleteWebhook says whether there was one; an empty setWebhook url deletes too", async () => {
    await api.setWebhook("https://bot.example.com/hook");
    expect((await raw("deleteWebhook")).body).toEqual({ ok: true, result: true, description: "Webhook was deleted" });
    expect((await raw("deleteWebhook")).body).toEqual({ ok: true, result: true, description: "Webhook is already deleted" });
    expect((await api.getWebhookInfo()).url).toBe("");
    await api.setWebhook("https://bot.example.com/hook");
    expect((await raw("setWebhook", { url: "" })).body.description).toBe("Webhook was deleted");
    double.queueUpdates([await sample("message_start")]);
    expect(await api.deleteWebhook({ drop_pending_updates: true })).toBe(true);
    expect((await api.getWebhookInfo()).pending_update_count).toBe(0);
  });

  it("reports the last delivery error set through the control endpoint", async () => {
    await api.setWebhook("https://bot.example.com/hook");
    const error = { last_error_date: 1768985000, last_error_message: "Wrong response from the webhook: 503 Service Unavailable" };
    expect(await control("webhook-error", "POST", error)).toEqual({ status: 200, body: { ok: true } });
    expect(await api.getWebhookInfo()).toMatchObject(error);
    await api.setWebhook("https://other.example.com/hook");
    expect(await api.getWebhookInfo()).not.toHaveProperty("last_error_date");
  });
});

describe("getUpdates", () => {
  it("long-polls: waits, and returns as soon as updates are queued from elsewhere", async () => {
    const started = Date.now();
    let settled = false;
    const poll = api.getUpdates({ timeout: 20 }).finally(() => {
      settled = true;
    });
    await sleep(300);
    expect(settled).toBe(false);
    const update = await sample("message_start");
    expect(await control("updates", "POST", [update])).toEqual({ status: 200, body: { ok: true, queued: 1 } });
    expect(await poll).toEqual([update]);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("returns at once with timeout 0, and empty-handed after a short timeout", async () => {
    expect(await api.getUpdates({ timeout: 0 })).toEqual([]);
    const started = Date.now();
    expect(await api.getUpdates({ timeout: 1 })).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("confirms with offset, honours limit, and numbers updates queued without update_id", async () => {
    const [start, help] = [await sample("message_start"), await sample("message_help")];
    double.queueUpdates([start, help, { message: { message_id: 1, date: 0, chat: { id: 1, type: "private" }, text: "x" } }]);
    const all = await api.getUpdates();
    expect(all.map((u) => u.update_id)).toEqual([start.update_id, help.update_id, help.update_id + 1]);
    expect((await api.getUpdates({ limit: 1 })).map((u) => u.update_id)).toEqual([start.update_id]);
    expect((await api.getUpdates({ offset: help.update_id })).map((u) => u.update_id)).toEqual([help.update_id, help.update_id + 1]);
    expect((await api.getWebhookInfo()).pending_update_count).toBe(2);
    expect((await api.getUpdates({ offset: -1 })).map((u) => u.update_id)).toEqual([help.update_id + 1]);
    expect(await api.getUpdates({ offset: help.update_id + 2 })).toEqual([]);
  });

  it("leaves out chat_member updates unless asked for, like Telegram", async () => {
    const member = { update_id: 5, chat_member: { chat: { id: -1, type: "group" } } };
    const message = { update_id: 6, message: { message_id: 1, date: 0, chat: { id: 1, type: "private" } } };
    double.queueUpdates([member, message]);
    expect((await api.getUpdates()).map((u) => u.update_id)).toEqual([6]);
    expect((await api.getUpdates({ allowed_updates: ["chat_member"] })).map((u) => u.update_id)).toEqual([5]);
    expect((await api.getWebhookInfo()).allowed_updates).toEqual(["chat_member"]);
  });

  it("answers 409 while a webhook is set", async () => {
    await api.setWebhook("https://bot.example.com/hook");
    const error = await refusal(api.getUpdates());
    expect(error.error_code).toBe(409);
    expect(error.description).toBe(
      "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
    );
    await api.deleteWebhook();
    expect(await api.getUpdates()).toEqual([]);
  });

  it("a second poller ends the first with 409, as a second bot instance would", async () => {
    const first = refusal(api.getUpdates({ timeout: 20 }));
    await sleep(100);
    const second = api.getUpdates({ timeout: 0 });
    const error = await first;
    expect(error.description).toBe("Conflict: terminated by other getUpdates request; make sure that only one bot instance is running");
    expect(await second).toEqual([]);
  });

  it("setWebhook ends a pending poll with 409", async () => {
    const poll = refusal(api.getUpdates({ timeout: 20 }));
    await sleep(100);
    await api.setWebhook("https://bot.example.com/hook");
    expect((await poll).description).toBe("Conflict: terminated by setWebhook request");
  });
});

describe("commands", () => {
  it("stores commands per scope and language", async () => {
    const commands = [
      { command: "start", description: "Начать" },
      { command: "help", description: "Помощь" },
    ];
    const uzbek = [{ command: "start", description: "Boshlash" }];
    expect(await api.setMyCommands(commands)).toBe(true);
    expect(await api.setMyCommands(uzbek, { language_code: "uz" })).toBe(true);
    await api.setMyCommands([{ command: "stats", description: "Stats" }], { scope: { type: "chat", chat_id: 42 } });
    expect(await api.getMyCommands()).toEqual(commands);
    expect(await api.getMyCommands({ language_code: "uz" })).toEqual(uzbek);
    expect(await api.getMyCommands({ scope: { type: "chat", chat_id: 42 } })).toEqual([{ command: "stats", description: "Stats" }]);
    expect(await api.getMyCommands({ scope: { type: "all_private_chats" } })).toEqual([]);
    expect(await api.deleteMyCommands({ language_code: "uz" })).toBe(true);
    expect(await api.getMyCommands({ language_code: "uz" })).toEqual([]);
  });

  it.each<[string, unknown, string]>([
    ["a hyphen", [{ command: "deploy-status", description: "d" }], "BOT_COMMAND_INVALID"],
    ["upper case", [{ command: "Start", description: "d" }], "BOT_COMMAND_INVALID"],
    ["an empty command", [{ command: "", description: "d" }], "command must be non-empty"],
    ["33 characters", [{ command: "a".repeat(33), description: "d" }], "command length must not exceed 32"],
    ["an empty description", [{ command: "start", description: "" }], "command description must be non-empty"],
    ["a 257-character description", [{ command: "start", description: "d".repeat(257) }], "command description length must not exceed 256"],
    ["101 commands", Array.from({ length: 101 }, (_, i) => ({ command: `c${i}`, description: "d" })), "BOT_COMMANDS_TOO_MUCH"],
  ])("refuses %s", async (_case, commands, description) => {
    expect(await raw("setMyCommands", { commands })).toEqual(badRequest(description));
    expect(await api.getMyCommands()).toEqual([]);
  });

  it("refuses an invalid language code", async () => {
    expect(await raw("setMyCommands", { commands: [], language_code: "russian" })).toEqual(badRequest("invalid language code specified"));
  });
});

describe("parameter encodings", () => {
  it("reads form-urlencoded bodies, with JSON-serialised fields", async () => {
    const response = await fetch(`${double.url}/bot${TOKEN}/sendMessage`, {
      method: "POST",
      body: new URLSearchParams({
        chat_id: "-1001234567890",
        text: "<b>form</b>",
        parse_mode: "HTML",
        reply_markup: JSON.stringify({ inline_keyboard: [[{ text: "ok", callback_data: "ok" }]] }),
      }),
    });
    expect(response.headers.get("content-type")).toBe("application/json");
    const body = (await response.json()) as Record<string, any>;
    expect(body.result).toMatchObject({
      chat: { id: -1001234567890, type: "supergroup" },
      text: "form",
      entities: [{ type: "bold", offset: 0, length: 4 }],
      reply_markup: { inline_keyboard: [[{ text: "ok", callback_data: "ok" }]] },
    });
    expect(double.calls("sendMessage")[0]?.params).toMatchObject({ chat_id: "-1001234567890", parse_mode: "HTML" });
  });

  it("reads query-string parameters", async () => {
    const response = await fetch(`${double.url}/bot${TOKEN}/sendMessage?chat_id=77&text=from%20the%20query`);
    expect(((await response.json()) as Record<string, any>).result).toMatchObject({ chat: { id: 77 }, text: "from the query" });
  });

  it("reads multipart uploads as grammY sends them", async () => {
    const sent = await api.sendDocument(5, new InputFile(new TextEncoder().encode("report"), "report.txt"), { caption: "Hisobot" });
    expect(sent).toMatchObject({ chat: { id: 5 }, caption: "Hisobot", document: { file_id: expect.any(String) } });
    const params = double.calls("sendDocument")[0]?.params;
    expect(params).toMatchObject({ chat_id: "5", caption: "Hisobot", document: expect.stringMatching(/^attach:\/\//) });
    expect(Object.values(params ?? {})).toContainEqual({ filename: "report.txt", size: 6, type: "application/octet-stream" });
  });

  it("answers 400 to a JSON body that does not parse", async () => {
    const response = await fetch(`${double.url}/bot${TOKEN}/sendMessage`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    expect({ status: response.status, body: await response.json() }).toEqual(badRequest("can't parse JSON object"));
  });
});

describe("control endpoints", () => {
  it("POST webhook-reply runs a webhook's answer as Telegram does: recorded, and no fault applies", async () => {
    double.addFault({ method: "sendMessage", error_code: 500 });
    const ran = await control("webhook-reply", "POST", { method: "sendMessage", chat_id: 55, text: "riding" });
    expect(ran).toEqual({ status: 200, body: { ok: true, result: { ok: true } } });
    expect(double.calls("sendMessage").map((call) => call.params)).toEqual([{ chat_id: 55, text: "riding" }]);
    const refused = await control("webhook-reply", "POST", { method: "sendMessage", chat_id: 55 });
    expect(refused.body.result).toEqual({ ok: false, description: "Bad Request: message text is empty" });
    expect((await control("webhook-reply", "POST", { text: "no method" })).status).toBe(400);
  });

  it("list, filter and clear calls, and are not recorded themselves", async () => {
    await api.getMe();
    await api.sendMessage(1, "one");
    const listed = (await control("calls", "GET")).body as unknown as RecordedCall[];
    expect(listed.map((call) => call.method)).toEqual(["getMe", "sendMessage"]);
    const filtered = (await control("calls?method=sendMessage", "GET")).body as unknown as RecordedCall[];
    expect(filtered).toEqual([{ method: "sendMessage", token: TOKEN, params: { chat_id: 1, text: "one" }, at: expect.any(Number) }]);
    expect(await control("calls", "DELETE")).toEqual({ status: 200, body: { ok: true } });
    expect(double.calls()).toEqual([]);
  });

  it("add and clear faults over HTTP", async () => {
    expect((await control("faults", "POST", { method: "sendMessage", chat_id: 9, error_code: 403, times: 2 })).status).toBe(200);
    expect((await raw("sendMessage", { chat_id: 9, text: "x" })).status).toBe(403);
    expect(await control("faults", "DELETE")).toEqual({ status: 200, body: { ok: true } });
    expect((await raw("sendMessage", { chat_id: 9, text: "x" })).status).toBe(200);
    expect((await control("faults", "POST", { method: "sendMessage", error_code: "soon" })).status).toBe(400);
  });

  it("queue updates, refusing what is not a list of updates", async () => {
    expect((await control("updates", "POST", { update_id: 1 })).status).toBe(400);
    expect((await control("updates", "POST", [{ update_id: "1", message: {} }])).status).toBe(400);
    expect(await control("updates", "POST", [{ update_id: 3, message: { text: "hi" } }])).toEqual({
      status: 200,
      body: { ok: true, queued: 1 },
    });
    expect((await api.getWebhookInfo()).pending_update_count).toBe(1);
  });

  it("reset clears calls, faults, updates, webhook and commands", async () => {
    double.addFault({ method: "getMe", error_code: 500 });
    double.queueUpdates([{ update_id: 1, message: {} }]);
    await api.setWebhook("https://bot.example.com/hook");
    await api.setMyCommands([{ command: "start", description: "s" }]);
    await control("webhook-error", "POST", { last_error_date: 1, last_error_message: "boom" });
    expect(await control("reset", "POST")).toEqual({ status: 200, body: { ok: true } });
    expect(double.calls()).toEqual([]);
    expect(await api.getMe()).toEqual(botInfo);
    expect(await api.getWebhookInfo()).toEqual({ url: "", has_custom_certificate: false, pending_update_count: 0 });
    expect(await api.getMyCommands()).toEqual([]);
  });

  it("refuses a malformed webhook error, and 404s an unknown endpoint", async () => {
    expect((await control("webhook-error", "POST", { last_error_message: "x" })).status).toBe(400);
    expect((await control("nothing-here", "POST")).status).toBe(404);
    expect(double.calls()).toEqual([]);
  });
});

describe("close", () => {
  it("ends a pending long poll and stops listening", async () => {
    const own = await startBotApiDouble({ tokens: [TOKEN], botInfo });
    const poll = fetch(`${own.url}/bot${TOKEN}/getUpdates?timeout=30`).then((response) => response.json());
    await sleep(100);
    const started = Date.now();
    await own.close();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await poll).toEqual({ ok: true, result: [] });
    await expect(fetch(`${own.url}/bot${TOKEN}/getMe`)).rejects.toThrow();
  });
});

import { beforeEach, describe, expect, it } from "vitest";
import { COMMANDS } from "../../src/bot/commands.js";
import { buttonPress, freshUserId, sample, textMessage } from "./fixtures.js";
import { botApi, callWorker, deliver, deliverWith, failedRecord, redisGateway, testRedis, testSql } from "./helpers.js";
import { TEST_SECRETS } from "./bindings.js";
import { startEarlyInMinute } from "./rate-window.js";

const sql = testSql();
const redis = testRedis();
/** Every Bot API call a request of its own, so a failing reply is the Worker's to handle (not Telegram's). */
const REPLIES_AS_REQUESTS = { WEBHOOK_REPLY_METHODS: "none" };

async function account(userId: number) {
  const rows = (await sql.query("SELECT * FROM telegram_accounts WHERE telegram_user_id = $1", [userId])) as Record<string, unknown>[];
  return rows[0];
}

async function sentTexts(chatId: number): Promise<string[]> {
  return (await botApi.callsFor(chatId, "sendMessage")).map((call) => String(call.params.text));
}

async function issueLinkToken(webUserId: number): Promise<{ token: string; url: string; expires_at: string }> {
  const response = await callWorker("/bot/internal/link-tokens", {
    method: "POST",
    headers: { Authorization: `Bearer ${TEST_SECRETS.BOT_INTERNAL_API_TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify({ user_id: webUserId }),
  });
  expect(response.status).toBe(201);
  return response.json();
}

beforeEach(async () => {
  await botApi.reset();
});

describe("/start", () => {
  it("greets in the user's Telegram language and stores the account (sample message_start.json)", async () => {
    const user = freshUserId();
    expect((await deliver(sample("messageStart", user))).status).toBe(200);
    expect(await sentTexts(user)).toEqual(["Здравствуйте, Aziz! Это бот MTT Pro. Отправьте /help, чтобы увидеть, что я умею."]);
    expect(await account(user)).toMatchObject({
      chat_id: String(user),
      username: "aziz_k",
      first_name: "Aziz",
      last_name: "Karimov",
      language_code: "ru",
      web_user_id: null,
      is_blocked: false,
    });
  });

  it("an unknown link token gets a clear message and links nothing (sample message_start_deeplink.json)", async () => {
    const user = freshUserId();
    expect((await deliver(sample("messageStartDeeplink", user))).status).toBe(200);
    expect(await sentTexts(user)).toEqual(["Ссылка устарела или уже использована. Откройте MTT Pro и создайте новую."]);
    expect((await account(user))?.web_user_id).toBeNull();
  });

  it("stores names with SQL and HTML metacharacters verbatim", async () => {
    const user = freshUserId();
    const update = sample("messageStart", user) as any;
    update.message.from.first_name = `Robert'); DROP TABLE telegram_accounts;-- <b>&amp;`;
    expect((await deliver(update)).status).toBe(200);
    expect((await account(user))?.first_name).toBe(`Robert'); DROP TABLE telegram_accounts;-- <b>&amp;`);
  });
});

describe("link → /me → /unlink, starting from a token made by the internal API", () => {
  it("links once, refuses the reused token, shows the link, and unlinks after confirmation", async () => {
    const user = freshUserId();
    const webUserId = 4000 + (user % 1000);
    const issued = await issueLinkToken(webUserId);
    expect(issued.url).toBe(`https://t.me/mtt_pro_bot?start=link_${issued.token}`);
    const expiresIn = Date.parse(issued.expires_at) - Date.now();
    expect(expiresIn).toBeGreaterThan(14 * 60 * 1000);
    expect(expiresIn).toBeLessThanOrEqual(15 * 60 * 1000);
    expect(await redis.ttl(`bot:link-token:${issued.token}`)).toBeGreaterThan(14 * 60);

    expect((await deliver(textMessage(user, `/start link_${issued.token}`))).status).toBe(200);
    expect(await sentTexts(user)).toEqual(["Готово: этот аккаунт Telegram привязан к вашему аккаунту MTT Pro."]);
    expect((await account(user))?.web_user_id).toBe(String(webUserId));

    const other = freshUserId();
    expect((await deliver(textMessage(other, `/start link_${issued.token}`))).status).toBe(200);
    expect(await sentTexts(other)).toEqual(["Ссылка устарела или уже использована. Откройте MTT Pro и создайте новую."]);
    expect((await account(other))?.web_user_id).toBeNull();

    await deliver(textMessage(user, "/me"));
    expect((await sentTexts(user)).at(-1)).toBe(`Ваш Telegram привязан к аккаунту MTT Pro #${webUserId}.`);

    await deliver(textMessage(user, "/unlink"));
    const confirm = (await botApi.callsFor(user, "sendMessage")).at(-1);
    expect(confirm?.params.text).toBe("Отвязать этот аккаунт Telegram от аккаунта MTT Pro?");
    expect(confirm?.params.reply_markup).toEqual({
      inline_keyboard: [[{ text: "Да, отвязать", callback_data: "unlink:yes" }, { text: "Отмена", callback_data: "unlink:no" }]],
    });
    expect((await account(user))?.web_user_id).toBe(String(webUserId));

    const yes = buttonPress(user, "unlink:yes");
    const answered = await deliver(yes);
    // The button is answered first, then the edit rides on the response.
    expect(await answered.json()).toMatchObject({
      method: "editMessageText",
      chat_id: user,
      text: "Аккаунт отвязан. Уведомления MTT Pro сюда больше не придут.",
    });
    expect((await botApi.calls("answerCallbackQuery")).filter((call) => call.params.callback_query_id === yes.callback_query.id)).toHaveLength(1);
    expect((await account(user))?.web_user_id).toBeNull();

    await deliver(textMessage(user, "/me"));
    expect((await sentTexts(user)).at(-1)).toBe("Ваш Telegram ещё не привязан. Воспользуйтесь ссылкой в MTT Pro.");

    // The token was used up: the same user cannot link with it again.
    await deliver(textMessage(user, `/start link_${issued.token}`));
    expect((await sentTexts(user)).at(-1)).toBe("Ссылка устарела или уже использована. Откройте MTT Pro и создайте новую.");
    expect((await account(user))?.web_user_id).toBeNull();
  });

  it("a reply that fails after the link is stored: the redelivery still links and says so", async () => {
    const user = freshUserId();
    const issued = await issueLinkToken(88);
    const update = textMessage(user, `/start link_${issued.token}`);
    await botApi.addFault({ method: "sendMessage", chat_id: user, error_code: 502, times: 1 });
    expect((await deliverWith(REPLIES_AS_REQUESTS, update)).status).toBe(503);
    expect((await deliverWith(REPLIES_AS_REQUESTS, update)).status).toBe(200);
    expect((await sentTexts(user)).at(-1)).toBe("Готово: этот аккаунт Telegram привязан к вашему аккаунту MTT Pro.");
    expect((await account(user))?.web_user_id).toBe("88");
    const other = freshUserId();
    await deliver(textMessage(other, `/start link_${issued.token}`));
    expect(await sentTexts(other)).toEqual(["Ссылка устарела или уже использована. Откройте MTT Pro и создайте новую."]);
  });

  it("confirming the unlink again (a redelivery after a failed edit) still says it is done", async () => {
    const user = freshUserId();
    const issued = await issueLinkToken(99);
    await deliver(textMessage(user, `/start link_${issued.token}`));
    const yes = buttonPress(user, "unlink:yes");
    // The account is unlinked, then the answer (sent before the edit) fails: Telegram redelivers.
    await botApi.addFault({ method: "answerCallbackQuery", callback_query_id: yes.callback_query.id, error_code: 500, times: 1 });
    expect((await deliver(yes)).status).toBe(503);
    expect((await deliver(yes)).status).toBe(200);
    expect((await botApi.callsFor(user, "editMessageText")).at(-1)?.params.text).toBe(
      "Аккаунт отвязан. Уведомления MTT Pro сюда больше не придут.",
    );
    expect((await account(user))?.web_user_id).toBeNull();
  });

  it("cancel keeps the link", async () => {
    const user = freshUserId();
    const issued = await issueLinkToken(77);
    await deliver(textMessage(user, `/start link_${issued.token}`));
    await deliver(buttonPress(user, "unlink:no"));
    expect((await botApi.callsFor(user, "editMessageText")).at(-1)?.params.text).toBe("Ничего не изменилось.");
    expect((await account(user))?.web_user_id).toBe("77");
  });
});

describe("/help", () => {
  it("lists every command with a translated description (sample message_help.json)", async () => {
    const user = freshUserId();
    await deliver(sample("messageHelp", user));
    const [text] = await sentTexts(user);
    expect(text?.startsWith("Команды:\n")).toBe(true);
    for (const { command } of COMMANDS) expect(text).toContain(`/${command} — `);
  });
});

describe("/language", () => {
  it("offers uz/ru/en, stores the choice in the session, and later replies use it", async () => {
    const user = freshUserId();
    await deliver(textMessage(user, "/language"));
    const offer = (await botApi.callsFor(user, "sendMessage"))[0];
    expect(offer?.params.text).toBe("Выберите язык:");
    const buttons = (offer?.params.reply_markup as any).inline_keyboard.flat().map((b: any) => b.callback_data);
    expect(buttons).toEqual(["lang:uz", "lang:ru", "lang:en"]);

    const press = buttonPress(user, "lang:uz");
    const choose = await deliver(press);
    expect(await choose.json()).toMatchObject({ method: "editMessageText", text: "Til: o‘zbekcha." });
    const answers = (await botApi.calls("answerCallbackQuery")).filter((call) => call.params.callback_query_id === press.callback_query.id);
    expect(answers.map((call) => call.params.text)).toEqual(["Til: o‘zbekcha."]);
    expect(await redis.get(`bot:session:${user}`)).toEqual({ language: "uz" });

    await deliver(textMessage(user, "/help"));
    expect((await sentTexts(user)).at(-1)?.startsWith("Buyruqlar:\n")).toBe(true);
  });
});

describe("my_chat_member", () => {
  it("blocking the bot sets the account's blocked flag; unblocking clears it (sample my_chat_member_kicked.json)", async () => {
    const user = freshUserId();
    await deliver(sample("messageStart", user));
    expect((await deliver(sample("myChatMemberKicked", user))).status).toBe(200);
    expect((await account(user))?.is_blocked).toBe(true);
    const back = sample("myChatMemberKicked", user) as any;
    back.my_chat_member.old_chat_member.status = "kicked";
    back.my_chat_member.new_chat_member = { ...back.my_chat_member.new_chat_member, status: "member" };
    delete back.my_chat_member.new_chat_member.until_date;
    await deliver(back);
    expect((await account(user))?.is_blocked).toBe(false);
  });
});

describe("everything else", () => {
  it.each([
    ["plain text (sample message_text.json)", (user: number) => sample("messageText", user)],
    ["a photo (sample message_photo.json)", (user: number) => sample("messagePhoto", user)],
    ["an unknown command", (user: number) => textMessage(user, "/frobnicate")],
    ["4096 characters of odd Unicode", (user: number) => textMessage(user, "🇺🇿\u200d\u202eЖ\u0000ʻ".repeat(600).slice(0, 4096))],
  ])("%s gets a short hint", async (_case, make) => {
    const user = freshUserId();
    expect((await deliver(make(user))).status).toBe(200);
    expect(await sentTexts(user)).toEqual(["Я не понял сообщение. Отправьте /help, чтобы увидеть команды."]);
  });

  it("an edited message gets no answer (sample edited_message.json)", async () => {
    const user = freshUserId();
    expect((await deliver(sample("editedMessage", user))).status).toBe(200);
    expect(await botApi.callsFor(user)).toEqual([]);
  });
});

describe("group chats", () => {
  it("a command addressed to the bot is answered in the group (sample group_command.json)", async () => {
    const update = sample("groupCommand") as any;
    expect((await deliver(update)).status).toBe(200);
    const [reply] = await botApi.callsFor(update.message.chat.id, "sendMessage");
    expect(String(reply?.params.text).startsWith("Команды:")).toBe(true);
  });

  it.each(["/help", "hello everyone", "/help@some_other_bot"])("%j in a group is ignored, with no Redis work", async (text) => {
    const update = sample("groupCommand") as any;
    update.message.text = text;
    await redisGateway.resetStats();
    expect((await deliver(update)).status).toBe(200);
    expect(await botApi.callsFor(update.message.chat.id)).toEqual([]);
    // Only the update's own bookkeeping: claim and done.
    expect((await redisGateway.stats()).requests).toBe(2);
  });
});

describe("rate limit", () => {
  it("over the limit the user is told once, then ignored", async () => {
    await startEarlyInMinute();
    const user = freshUserId();
    const statuses: number[] = [];
    const updates = [sample("messageStart", user), ...[1, 2, 3, 4, 5].map((i) => textMessage(user, `hello ${i}`))];
    // Blocking the bot is not something the user sends: it is recorded even over the limit.
    updates.push(sample("myChatMemberKicked", user));
    for (const update of updates) {
      const response = await deliverWith({ RATE_LIMIT_PER_MINUTE: "3" }, update);
      statuses.push(response.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200]);
    const texts = await sentTexts(user);
    expect(texts.filter((t) => t.startsWith("Здравствуйте"))).toHaveLength(1);
    expect(texts.filter((t) => t.startsWith("Я не понял"))).toHaveLength(2);
    expect(texts.filter((t) => t.startsWith("Вы отправляете сообщения слишком часто"))).toHaveLength(1);
    expect((await account(user))?.is_blocked).toBe(true);

    // A button pressed over the limit is answered (it would spin otherwise) and does nothing else.
    const press = buttonPress(user, "lang:en");
    const answered = await deliverWith({ RATE_LIMIT_PER_MINUTE: "3" }, press);
    expect(await answered.json()).toEqual({
      method: "answerCallbackQuery",
      callback_query_id: press.callback_query.id,
      text: "Вы отправляете сообщения слишком часто. Подождите немного.",
    });
    expect(await botApi.callsFor(user, "editMessageText")).toEqual([]);
  });
});

describe("a second tap on the same button", () => {
  it("leaves the message as it is and is not a failure", async () => {
    const user = freshUserId();
    const first = buttonPress(user, "lang:en");
    const second = buttonPress(user, "lang:en");
    expect((await deliver(first)).status).toBe(200);
    expect((await deliver(second)).status).toBe(200);
    // Telegram refused the second edit (same text); that is the outcome the user wanted anyway.
    expect(await botApi.callsFor(user, "editMessageText")).toHaveLength(2);
    expect(await failedRecord(second.update_id)).toBeUndefined();
  });
});

describe("Redis round trips", () => {
  it("a /help update costs 2 Redis requests: one script claims it, reads the session, checks the rate limit; one marks it done after the answer", async () => {
    const user = freshUserId();
    await deliverWith({}, textMessage(user, "/help"));
    await redisGateway.resetStats();
    await deliverWith({}, textMessage(user, "/help"));
    expect(await redisGateway.stats()).toEqual({ requests: 2, commands: 2 });
  });

  it("a first contact costs no more: an empty session is not stored", async () => {
    const user = freshUserId();
    await redisGateway.resetStats();
    await deliverWith({}, sample("messageStart", user));
    expect(await redisGateway.stats()).toEqual({ requests: 2, commands: 2 });
    expect(await redis.exists(`bot:session:${user}`)).toBe(0);
  });

  it("a changed session costs one more request, to store it", async () => {
    const user = freshUserId();
    await deliverWith({}, textMessage(user, "/help"));
    await redisGateway.resetStats();
    await deliverWith({}, buttonPress(user, "lang:en"));
    expect((await redisGateway.stats()).requests).toBe(3);
  });

  it("the rate limit is counted in the claim's script, and an over-the-limit message costs no further request", async () => {
    const user = freshUserId();
    await startEarlyInMinute();
    for (let i = 0; i < 2; i++) await deliverWith({ RATE_LIMIT_PER_MINUTE: "2" }, textMessage(user, "/help"));
    await redisGateway.resetStats();
    const limited = await deliverWith({ RATE_LIMIT_PER_MINUTE: "2" }, textMessage(user, "/help"));
    expect(await limited.json()).toMatchObject({ method: "sendMessage", text: "Вы отправляете сообщения слишком часто. Подождите немного." });
    expect((await redisGateway.stats()).requests).toBe(2);
  });
});

describe("replies on the webhook response", () => {
  it("a single reply costs no Bot API request: it is the answer", async () => {
    const user = freshUserId();
    const response = await deliver(textMessage(user, "/help"), { runReply: false });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(await response.json()).toMatchObject({ method: "sendMessage", chat_id: user, text: expect.stringMatching(/^Команды:\n/) });
    expect(await botApi.calls()).toEqual([]);
  });

  it("two calls keep their order: the first is a request of its own, the last rides on the answer", async () => {
    const user = freshUserId();
    const press = buttonPress(user, "lang:en");
    const response = await deliver(press, { runReply: false });
    const requests = await botApi.calls();
    expect(requests.map((call) => call.method)).toEqual(["answerCallbackQuery"]);
    expect(requests[0]?.params).toMatchObject({ callback_query_id: press.callback_query.id, text: "Language: English." });
    expect(await response.json()).toMatchObject({ method: "editMessageText", chat_id: user, text: "Language: English." });
  });

  it("WEBHOOK_REPLY_METHODS=none: every call is a request of its own and the answer is empty", async () => {
    const user = freshUserId();
    const response = await deliverWith({ WEBHOOK_REPLY_METHODS: "none" }, textMessage(user, "/help"), { runReply: false });
    expect(await response.text()).toBe("");
    expect(await botApi.callsFor(user, "sendMessage")).toHaveLength(1);
  });
});

// Linking a Telegram account to an MTT Pro web account with a one-time token from the internal API.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TEST_SECRETS } from "./bindings.js";
import { buttonPress, freshUserId, textMessage } from "./fixtures.js";
import { botApi, callWorker, deliver, neonGateway, testSql } from "./helpers.js";

const sql = testSql();

async function linkedWebUser(userId: number): Promise<unknown> {
  const rows = (await sql.query("SELECT web_user_id FROM telegram_accounts WHERE telegram_user_id = $1", [userId])) as {
    web_user_id: string | null;
  }[];
  return rows[0]?.web_user_id;
}

async function issueLinkToken(webUserId: number): Promise<string> {
  const response = await callWorker("/bot/internal/link-tokens", {
    method: "POST",
    headers: { Authorization: `Bearer ${TEST_SECRETS.BOT_INTERNAL_API_TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify({ user_id: webUserId }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { token: string }).token;
}

beforeEach(async () => {
  await botApi.reset();
});

afterEach(async () => {
  await neonGateway.up();
});

describe("web user ids survive a redelivery exactly", () => {
  it.each([123_456_789_012_345, Number.MAX_SAFE_INTEGER])("%d: Neon down on the first delivery, up on the second", async (webUserId) => {
    const user = freshUserId();
    const token = await issueLinkToken(webUserId);
    const update = textMessage(user, `/start link_${token}`);
    await neonGateway.down();
    expect((await deliver(update)).status).toBe(503);
    await neonGateway.up();
    expect((await deliver(update)).status).toBe(200);
    expect(await linkedWebUser(user)).toBe(String(webUserId));
  });
});

describe("a link never silently replaces another one", () => {
  const linkedTo = async (user: number, webUserId: number) => {
    await deliver(textMessage(user, `/start link_${await issueLinkToken(webUserId)}`));
    expect(await linkedWebUser(user)).toBe(String(webUserId));
  };
  const lastMessage = async (user: number) => (await botApi.callsFor(user, "sendMessage")).at(-1)?.params;

  async function askedToReplace(user: number, current: number, next: number): Promise<string> {
    const token = await issueLinkToken(next);
    expect((await deliver(textMessage(user, `/start link_${token}`))).status).toBe(200);
    expect(await lastMessage(user)).toMatchObject({
      text: `Этот аккаунт Telegram привязан к аккаунту MTT Pro #${current}. Привязать его к аккаунту #${next}?`,
      reply_markup: {
        inline_keyboard: [
          [
            { text: `Привязать к #${next}`, callback_data: `link:replace:${token}` },
            { text: `Оставить #${current}`, callback_data: "link:keep" },
          ],
        ],
      },
    });
    expect(await linkedWebUser(user)).toBe(String(current));
    return token;
  }

  it("keep: the link stays, and the token can still be used until it expires", async () => {
    const victim = freshUserId();
    await linkedTo(victim, 1001);
    const token = await askedToReplace(victim, 1001, 2002);
    const keep = buttonPress(victim, "link:keep");
    expect(await (await deliver(keep)).json()).toMatchObject({
      method: "editMessageText",
      text: "Ничего не изменилось: этот аккаунт Telegram по-прежнему привязан к аккаунту MTT Pro #1001.",
    });
    expect((await botApi.calls("answerCallbackQuery")).map((call) => call.params.callback_query_id)).toContain(keep.callback_query.id);
    expect(await linkedWebUser(victim)).toBe("1001");
    // Changing one's mind later: the token was not used up by the question.
    await deliver(buttonPress(victim, `link:replace:${token}`));
    expect(await linkedWebUser(victim)).toBe("2002");
  });

  it("replace: the link moves, once; the token is used up", async () => {
    const user = freshUserId();
    await linkedTo(user, 3003);
    const token = await askedToReplace(user, 3003, 4004);
    const replace = buttonPress(user, `link:replace:${token}`);
    expect((await deliver(replace)).status).toBe(200);
    expect((await botApi.callsFor(user, "editMessageText")).at(-1)?.params.text).toBe(
      "Готово: этот аккаунт Telegram теперь привязан к аккаунту MTT Pro #4004.",
    );
    expect(await linkedWebUser(user)).toBe("4004");
    const other = freshUserId();
    await deliver(textMessage(other, `/start link_${token}`));
    expect((await lastMessage(other))?.text).toBe("Ссылка устарела или уже использована. Откройте MTT Pro и создайте новую.");
    expect(await linkedWebUser(other)).toBeNull();
  });

  it("a token for the account it is already linked to just confirms", async () => {
    const user = freshUserId();
    await linkedTo(user, 5005);
    await deliver(textMessage(user, `/start link_${await issueLinkToken(5005)}`));
    expect(await lastMessage(user)).toEqual({
      chat_id: user,
      text: "Готово: этот аккаунт Telegram привязан к вашему аккаунту MTT Pro.",
    });
    expect(await linkedWebUser(user)).toBe("5005");
  });
});

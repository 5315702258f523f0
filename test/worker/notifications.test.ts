import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { consumeNotifications } from "../../src/notifications/consumer.js";
import { requestFingerprint } from "../../src/notifications/producer.js";
import type { NotificationSender } from "../../src/notifications/send.js";
import { runtimeFor } from "../../src/runtime.js";
import { botApi, bindingsWith, neonGateway, testSql } from "./helpers.js";
import {
  api,
  batchOf,
  consume,
  DEAD_LETTER_QUEUE,
  delivery,
  deliverBody,
  floodControl,
  freshChat,
  freshNotificationId,
  linkedChats,
  pacer,
  QUEUE,
  recordedNotification,
  settled,
  settlementOf,
} from "./notification-fixtures.js";

const sql = testSql();

/** sendMessage calls per chat, for the given chats. */
async function sendsTo(chats: string[]): Promise<Record<string, number>> {
  const counts = Object.fromEntries(chats.map((chat) => [chat, 0]));
  for (const call of await botApi.calls("sendMessage")) {
    const chat = String(call.params.chat_id);
    if (chat in counts) counts[chat] = (counts[chat] ?? 0) + 1;
  }
  return counts;
}

const once = (chats: string[]): Record<string, number> => Object.fromEntries(chats.map((chat) => [chat, 1]));

beforeEach(async () => {
  await botApi.reset();
  // Telegram's own limits, as the pacer must respect them.
  await floodControl.on();
});

describe("POST /bot/internal/notifications", () => {
  it("accepts a notification (202), the queue consumer sends it once to every linked chat, paced, and the status says so", async () => {
    const { webUserId, chats } = await linkedChats(3);
    const other = await linkedChats(1);
    const id = freshNotificationId();
    const request = {
      id,
      user_ids: [webUserId, other.webUserId],
      text: "<b>Order #7</b> is ready",
      parse_mode: "HTML",
      disable_notification: true,
      buttons: [{ text: "Open", url: "https://mtt-pro.xlog.uz/orders/7" }],
    };
    const accepted = await api("/notifications", request);
    expect(accepted).toEqual({ status: 202, body: { id, recipients: 4, status_url: `/bot/internal/notifications/${id}` } });

    const status = await settled(id);
    expect(status).toEqual({
      id,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      recipients: 4,
      sent: 4,
      blocked: 0,
      failed: 0,
      pending: 0,
      done: true,
    });
    const all = [...chats, ...other.chats];
    expect(await sendsTo(all)).toEqual(once(all));
    const [call] = await botApi.callsFor(Number(chats[0]), "sendMessage");
    expect(call?.params).toMatchObject({
      text: "<b>Order #7</b> is ready",
      parse_mode: "HTML",
      disable_notification: true,
      reply_markup: { inline_keyboard: [[{ text: "Open", url: "https://mtt-pro.xlog.uz/orders/7" }]] },
    });
    expect(call?.params).not.toHaveProperty("allow_paid_broadcast");
    expect((await floodControl.report()).refused).toEqual({});

    const { body } = await api(`/notifications/${id}?results=1`);
    expect(body.results).toEqual(all.sort().map((chat) => ({ chat_id: chat, status: "sent", message_id: expect.any(Number), attempts: 1 })));
    expect(body.next_cursor).toBeNull();
  });

  it('"audience": "all_linked" reaches every linked, unblocked account and no other', async () => {
    const { chats } = await linkedChats(2);
    const blocked = await linkedChats(1);
    await sql.query("UPDATE telegram_accounts SET is_blocked = TRUE WHERE chat_id = $1", [blocked.chats[0]]);
    const unlinked = freshChat();
    await sql.query("INSERT INTO telegram_accounts (telegram_user_id, chat_id, first_name) VALUES ($1, $1, 'Unlinked')", [unlinked]);
    const [expected] = (await sql.query(
      "SELECT count(DISTINCT chat_id)::int AS n FROM telegram_accounts WHERE web_user_id IS NOT NULL AND NOT is_blocked",
    )) as { n: number }[];
    const id = freshNotificationId();
    const accepted = await api("/notifications", { id, audience: "all_linked", text: "Maintenance tonight" });
    expect(accepted.status).toBe(202);
    expect(accepted.body.recipients).toBe(expected?.n);
    await settled(id, "", 60_000);
    expect(await sendsTo([...chats, ...blocked.chats, unlinked])).toEqual({ ...once(chats), [blocked.chats[0]!]: 0, [unlinked]: 0 });
  }, 70_000);

  it("the same id with the same body answers 200 and sends nothing again; with another body 409", async () => {
    const { webUserId, chats } = await linkedChats(2);
    const id = freshNotificationId();
    const request = { id, user_ids: [webUserId], text: "Once" };
    expect((await api("/notifications", request)).status).toBe(202);
    await settled(id);
    const again = await api("/notifications", { ...request, user_ids: [webUserId, webUserId] });
    expect(again).toEqual({ status: 200, body: { id, recipients: 2, status_url: `/bot/internal/notifications/${id}` } });
    const changed = await api("/notifications", { ...request, text: "Twice" });
    expect(changed).toEqual({ status: 409, body: { error: "conflict", detail: "this id belongs to a notification with another body" } });
    expect(await sendsTo(chats)).toEqual(once(chats));
  });

  it("the same id posted 5 times at once is enqueued once: one 202, four 200, one message per chat", async () => {
    const { webUserId, chats } = await linkedChats(4);
    const id = freshNotificationId();
    const request = { id, user_ids: [webUserId], text: "Concurrent" };
    const answers = await Promise.all(Array.from({ length: 5 }, () => api("/notifications", request)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 202]);
    for (const answer of answers) expect(answer.body).toEqual({ id, recipients: 4, status_url: `/bot/internal/notifications/${id}` });
    expect((await settled(id)).sent).toBe(4);
    expect(await sendsTo(chats)).toEqual(once(chats));
    const [row] = (await sql.query("SELECT sum(attempts)::int AS attempts FROM notification_deliveries WHERE notification_id = $1", [id])) as {
      attempts: number;
    }[];
    expect(row?.attempts).toBe(4);
  });

  it("a hand-over that stopped before its deliveries were on the queue is enqueued by the next request with its id", async () => {
    const { webUserId, chats } = await linkedChats(2);
    const id = freshNotificationId();
    const request = { id, audience: { userIds: [webUserId] }, text: "Stranded", parseMode: undefined, disableNotification: false, buttons: undefined };
    const fingerprint = await requestFingerprint("queued", request);
    await sql.transaction((txn) => [
      txn.query(`INSERT INTO notifications (id, fingerprint, kind, text, recipients) VALUES ($1, $2, 'queued', 'Stranded', 2)`, [id, fingerprint]),
      txn.query(`INSERT INTO notification_deliveries (notification_id, chat_id) SELECT $1, unnest($2::bigint[])`, [id, chats]),
    ]);
    const answer = await api("/notifications", { id, user_ids: [webUserId], text: "Stranded" });
    expect(answer.status).toBe(202);
    expect((await settled(id)).sent).toBe(2);
    expect(await sendsTo(chats)).toEqual(once(chats));
  });

  it("a user with no linked chat makes a notification that is done at once", async () => {
    const id = freshNotificationId();
    expect((await api("/notifications", { id, user_ids: [1], text: "Nobody" })).body.recipients).toBe(0);
    expect(await settled(id)).toMatchObject({ recipients: 0, pending: 0, done: true });
  });

  it("counts the text as Telegram does: markup does not count, 4097 characters after it do", async () => {
    const { webUserId } = await linkedChats(1);
    const markup = `<b>${"x".repeat(4090)}</b>`;
    expect((await api("/notifications", { id: freshNotificationId(), user_ids: [webUserId], text: markup, parse_mode: "HTML" })).status).toBe(202);
    const tooLong = await api("/notifications", { id: freshNotificationId(), user_ids: [webUserId], text: `${"y".repeat(4096)}\\!`, parse_mode: "MarkdownV2" });
    expect(tooLong).toEqual({
      status: 400,
      body: { error: "invalid_request", fields: { text: ["must be at most 4096 characters as Telegram counts them (after entity parsing), not 4097"] } },
    });
  });

  it.each([
    ["no id", { user_ids: [1], text: "x" }, { id: ["is required"] }],
    ["an id with a space", { id: "has space", user_ids: [1], text: "x" }, { id: ["must be 1-64 characters of A-Z a-z 0-9 _ . : -"] }],
    ["an id of 65 characters", { id: "x".repeat(65), user_ids: [1], text: "x" }, { id: ["must be 1-64 characters of A-Z a-z 0-9 _ . : -"] }],
    ["no user ids", { id: "a", user_ids: [], text: "x" }, { user_ids: ["must have 1-10000 entries"] }],
    ["10,001 user ids", { id: "a", user_ids: Array.from({ length: 10_001 }, (_, i) => i + 1), text: "x" }, { user_ids: ["must have 1-10000 entries"] }],
    ["a user id of 0", { id: "a", user_ids: [1, 0], text: "x" }, { "user_ids.1": ["must be positive"] }],
    ["neither user_ids nor audience", { id: "a", text: "x" }, { user_ids: ['give user_ids or "audience": "all_linked", not both'] }],
    ["both user_ids and audience", { id: "a", user_ids: [1], audience: "all_linked", text: "x" }, { user_ids: ['give user_ids or "audience": "all_linked", not both'] }],
    ["an unknown audience", { id: "a", audience: "everyone", text: "x" }, { audience: ['must be "all_linked"'] }],
    ["an empty text", { id: "a", user_ids: [1], text: "" }, { text: ["must not be empty"] }],
    ["unclosed HTML", { id: "a", user_ids: [1], text: "<b>x", parse_mode: "HTML" }, { text: ['can\'t parse entities: Can\'t find end tag corresponding to start tag "b"'] }],
    ["MarkdownV2 with a reserved character", { id: "a", user_ids: [1], text: "Done.", parse_mode: "MarkdownV2" }, { text: ["can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"] }],
    ["legacy Markdown", { id: "a", user_ids: [1], text: "x", parse_mode: "Markdown" }, { parse_mode: ["must be HTML or MarkdownV2"] }],
    ["disable_notification as a string", { id: "a", user_ids: [1], text: "x", disable_notification: "yes" }, { disable_notification: ["must be true or false"] }],
    ["a button with an http URL", { id: "a", user_ids: [1], text: "x", buttons: [{ text: "Open", url: "http://x.io" }] }, { "buttons.0.url": ["must be an https:// URL"] }],
  ])("%s → 400 naming the fields", async (_case, request, fields) => {
    expect(await api("/notifications", request)).toEqual({ status: 400, body: { error: "invalid_request", fields } });
  });
});

describe("GET /bot/internal/notifications/<id>", () => {
  it("404 for an unknown id, or one that cannot be an id", async () => {
    expect(await api(`/notifications/${freshNotificationId()}`)).toEqual({ status: 404, body: { error: "not_found" } });
    expect((await api(`/notifications/${"x".repeat(65)}`)).status).toBe(404);
  });

  it("counts each outcome, and ?results=1 lists them per chat with a cursor", async () => {
    const { webUserId, chats } = await linkedChats(4);
    const [ok1, ok2, blocked, missing] = chats as [string, string, string, string];
    await floodControl.on({ blocked: [blocked], not_found: [missing] });
    const id = freshNotificationId();
    await api("/notifications", { id, user_ids: [webUserId], text: "Outcomes" });
    expect(await settled(id)).toMatchObject({ recipients: 4, sent: 2, blocked: 1, failed: 1, pending: 0, done: true });
    const { body } = await api(`/notifications/${id}?results=1`);
    expect(body.results).toEqual([
      { chat_id: ok1, status: "sent", message_id: expect.any(Number), attempts: 1 },
      { chat_id: ok2, status: "sent", message_id: expect.any(Number), attempts: 1 },
      { chat_id: blocked, status: "blocked", error: "Forbidden: bot was blocked by the user", attempts: 1 },
      { chat_id: missing, status: "failed", error: "Bad Request: chat not found", attempts: 1 },
    ]);
    const [account] = (await sql.query("SELECT is_blocked FROM telegram_accounts WHERE chat_id = $1", [blocked])) as { is_blocked: boolean }[];
    expect(account?.is_blocked).toBe(true);
  });

  it("pages results 1000 at a time", async () => {
    const chats = Array.from({ length: 1001 }, freshChat);
    const id = await recordedNotification(chats);
    const first = await api(`/notifications/${id}?results=1`);
    expect(first.body).toMatchObject({ recipients: 1001, pending: 1001, done: false });
    expect(first.body.results).toHaveLength(1000);
    expect(first.body.results[0]).toEqual({ chat_id: chats[0], status: "pending", attempts: 0 });
    expect(first.body.next_cursor).toBe(chats[999]);
    const second = await api(`/notifications/${id}?results=1&cursor=${first.body.next_cursor}`);
    expect(second.body.results.map((r: { chat_id: string }) => r.chat_id)).toEqual([chats[1000]]);
    expect(second.body.next_cursor).toBeNull();
    expect(await api(`/notifications/${id}?results=1&cursor=abc`)).toEqual({
      status: 400,
      body: { error: "invalid_request", fields: { cursor: ["must be a next_cursor from an earlier page"] } },
    });
  });
});

describe("the queue consumer", () => {
  it("sends a claimed delivery and acks; a redelivery of it, or a second copy in the batch, sends nothing", async () => {
    const chat = freshChat();
    const id = await recordedNotification([chat], "Hello");
    const batch = batchOf(QUEUE, [deliverBody(id, chat), deliverBody(id, chat)]);
    const result = await consume(batch);
    expect(result.explicitAcks.sort()).toEqual(batch.messages.map((m) => m.id).sort());
    expect(result.retryMessages).toEqual([]);
    expect(await delivery(id, chat)).toMatchObject({ status: "sent", attempts: 1, held: false });
    const again = batchOf(QUEUE, [deliverBody(id, chat)], 2);
    expect((await consume(again)).explicitAcks).toEqual([again.messages[0]?.id]);
    expect(await sendsTo([chat])).toEqual({ [chat]: 1 });
  });

  it("above Telegram's free 30/s every message is a paid broadcast (allow_paid_broadcast)", async () => {
    const chat = freshChat();
    const id = await recordedNotification([chat]);
    expect((await consume(batchOf(QUEUE, [deliverBody(id, chat)]), bindingsWith({ TELEGRAM_SEND_RATE: "100" }))).explicitAcks).toHaveLength(1);
    const [call] = await botApi.callsFor(Number(chat), "sendMessage");
    expect(call?.params).toMatchObject({ allow_paid_broadcast: true });
  });

  it("429: the message is retried after retry_after, its claim given back, and the pacer slows down", async () => {
    const chat = freshChat();
    const id = await recordedNotification([chat]);
    await botApi.addFault({ method: "sendMessage", chat_id: chat, error_code: 429, retry_after: 1, times: 1 });
    const batch = batchOf(QUEUE, [deliverBody(id, chat)]);
    const result = await consume(batch);
    expect(result.retryMessages).toEqual([{ msgId: batch.messages[0]?.id, delaySeconds: 1 }]);
    expect(await delivery(id, chat)).toMatchObject({ status: "pending", attempts: 1, error: "429: retry after 1", held: false });
    expect(await pacer().speed()).toBeLessThan(1);
    // The pacer holds the chat until retry_after has passed; the retry then goes through.
    const retried = batchOf(QUEUE, [deliverBody(id, chat)], 2);
    expect((await consume(retried)).explicitAcks).toHaveLength(1);
    expect(await delivery(id, chat)).toMatchObject({ status: "sent", attempts: 2 });
  });

  it("5xx and an unreachable Bot API: retried with backoff (2^attempts s), the claim given back", async () => {
    const [a, b] = [freshChat(), freshChat()];
    const id = await recordedNotification([a, b]);
    await botApi.addFault({ method: "sendMessage", chat_id: a, error_code: 502, times: 1 });
    const first = batchOf(QUEUE, [deliverBody(id, a)], 3);
    expect((await consume(first)).retryMessages).toEqual([{ msgId: first.messages[0]?.id, delaySeconds: 8 }]);
    expect(await delivery(id, a)).toMatchObject({ status: "pending", error: "502: Bad Gateway" });

    const unreachable = bindingsWith({ TELEGRAM_API_ROOT: "http://127.0.0.1:9" });
    const second = batchOf(QUEUE, [deliverBody(id, b)]);
    expect((await consume(second, unreachable)).retryMessages).toEqual([{ msgId: second.messages[0]?.id, delaySeconds: 2 }]);
    expect(await delivery(id, b)).toMatchObject({ status: "pending", error: "telegram_unreachable", attempts: 1 });
  });

  it("403 marks the account blocked, other 4xx fail with Telegram's description; both are acked", async () => {
    const { chats } = await linkedChats(2);
    const [blocked, bad] = chats as [string, string];
    await floodControl.on({ blocked: [blocked], not_found: [bad] });
    const id = await recordedNotification(chats);
    const batch = batchOf(QUEUE, chats.map((chat) => deliverBody(id, chat)));
    expect((await consume(batch)).explicitAcks).toHaveLength(2);
    expect(await delivery(id, blocked)).toMatchObject({ status: "blocked", error: "Forbidden: bot was blocked by the user" });
    expect(await delivery(id, bad)).toMatchObject({ status: "failed", error: "Bad Request: chat not found" });
    const accounts = (await sql.query("SELECT chat_id::text, is_blocked FROM telegram_accounts WHERE chat_id = ANY($1::bigint[]) ORDER BY chat_id", [
      chats,
    ])) as unknown[];
    expect(accounts).toEqual([
      { chat_id: blocked, is_blocked: true },
      { chat_id: bad, is_blocked: false },
    ]);
  });

  it("a delivery another consumer holds is retried after its lease; one whose lease ran out is taken over and sent", async () => {
    const [held, abandoned] = [freshChat(), freshChat()];
    const id = await recordedNotification([held, abandoned]);
    await sql.query(
      `UPDATE notification_deliveries SET status = 'sending', attempts = 1, lease = gen_random_uuid(),
         lease_until = CASE WHEN chat_id = $2 THEN now() + interval '30 seconds' ELSE now() - interval '1 second' END
       WHERE notification_id = $1`,
      [id, held],
    );
    const batch = batchOf(QUEUE, [deliverBody(id, held), deliverBody(id, abandoned)]);
    const result = await consume(batch);
    expect(result.retryMessages).toEqual([{ msgId: batch.messages[0]?.id, delaySeconds: expect.any(Number) }]);
    expect(result.retryMessages[0]?.delaySeconds).toBeGreaterThan(25);
    expect(result.explicitAcks).toEqual([batch.messages[1]?.id]);
    expect(await delivery(id, abandoned)).toMatchObject({ status: "sent", attempts: 2 });
    expect(await sendsTo([held, abandoned])).toEqual({ [held]: 0, [abandoned]: 1 });
  });

  it("acks, without sending, a message it cannot read and one for a delivery that does not exist", async () => {
    const batch = batchOf(QUEUE, [{ v: 2, kind: "deliver", n: "x", c: "1" }, "garbage", deliverBody(freshNotificationId(), freshChat())]);
    const result = await consume(batch);
    expect(result.explicitAcks.sort()).toEqual(batch.messages.map((m) => m.id).sort());
    expect(await botApi.calls("sendMessage")).toEqual([]);
  });

  it("a fan-out message puts its page of deliveries on the queue", async () => {
    const chats = [freshChat(), freshChat(), freshChat()];
    const id = await recordedNotification(chats);
    const batch = batchOf(QUEUE, [{ v: 1, kind: "fanout", n: id, page: 0 }]);
    expect((await consume(batch)).explicitAcks).toHaveLength(1);
    expect((await settled(id)).sent).toBe(3);
    expect(await sendsTo(chats)).toEqual(once(chats));
  });

  it("an exception in the middle of a batch costs no outcome: the sent are recorded, the rest retried", async () => {
    const chats = [freshChat(), freshChat(), freshChat()];
    const id = await recordedNotification(chats);
    const deps = runtimeFor(env).notifications.forRequest();
    const sender: NotificationSender = {
      send: (chatId, content) => (chatId === chats[1] ? Promise.reject(new TypeError("a bug")) : deps.sender.send(chatId, content)),
    };
    const batch = batchOf(QUEUE, chats.map((chat) => deliverBody(id, chat)));
    const result = await settlementOf(batch, () => consumeNotifications(batch, { ...deps, sender }));
    expect(result.explicitAcks.sort()).toEqual([batch.messages[0]?.id, batch.messages[2]?.id].sort());
    expect(result.retryMessages).toEqual([{ msgId: batch.messages[1]?.id, delaySeconds: 2 }]);
    expect(await delivery(id, chats[0]!)).toMatchObject({ status: "sent" });
    expect(await delivery(id, chats[1]!)).toMatchObject({ status: "pending", error: "unexpected_error", held: false });
    expect(await delivery(id, chats[2]!)).toMatchObject({ status: "sent" });
  });

  /**
   * Consumes one delivery whose sendMessage Telegram answers slowly (`fault`), with Postgres going away
   * while it does; resolves once the delivery is `sent`, whatever background queue work that takes.
   */
  async function consumeWhilePostgresFails(fault: Record<string, unknown>): Promise<{ chat: string; id: string }> {
    const chat = freshChat();
    const id = await recordedNotification([chat]);
    await botApi.addFault({ method: "sendMessage", chat_id: chat, delay_ms: 1000, times: 1, ...fault });
    const batch = batchOf(QUEUE, [deliverBody(id, chat)]);
    const consumed = consume(batch);
    for (let i = 0; (await botApi.callsFor(Number(chat), "sendMessage")).length === 0 && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
    await neonGateway.down();
    let acked: string[];
    try {
      acked = (await consumed).explicitAcks;
    } finally {
      await neonGateway.up();
    }
    expect(acked).toEqual([batch.messages[0]?.id]);
    const until = Date.now() + 15_000;
    while ((await delivery(id, chat))?.status !== "sent" && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    return { chat, id };
  }

  it("when Postgres fails after Telegram answered, the outcome rides the queue and is recorded later, nothing sent twice", async () => {
    const { chat, id } = await consumeWhilePostgresFails({});
    expect(await delivery(id, chat)).toMatchObject({ status: "sent", attempts: 1, held: false, message_id: expect.any(String) });
    expect(await sendsTo([chat])).toEqual({ [chat]: 1 });
  });

  it("when Postgres fails after a 429, the queue gives the claim back and brings the next attempt: sent within seconds, not after the lease", async () => {
    const { chat, id } = await consumeWhilePostgresFails({ error_code: 429, retry_after: 1 });
    expect(await delivery(id, chat)).toMatchObject({ status: "sent", attempts: 2 });
    expect(await sendsTo([chat])).toEqual({ [chat]: 2 });
  });

  it("Postgres down at the claim: every message is retried with backoff, nothing sent", async () => {
    const chat = freshChat();
    const id = await recordedNotification([chat]);
    const batch = batchOf(QUEUE, [deliverBody(id, chat)]);
    await neonGateway.down();
    try {
      expect((await consume(batch)).retryMessages).toEqual([{ msgId: batch.messages[0]?.id, delaySeconds: 2 }]);
    } finally {
      await neonGateway.up();
    }
    expect(await sendsTo([chat])).toEqual({ [chat]: 0 });
  });
});

describe("the dead-letter queue", () => {
  it("records failed (gave_up) for deliveries no one holds, keeps finished ones, and waits for held ones", async () => {
    const [stuck, done, held] = [freshChat(), freshChat(), freshChat()];
    const id = await recordedNotification([stuck, done, held]);
    await sql.query(`UPDATE notification_deliveries SET status = 'sent', message_id = 9 WHERE notification_id = $1 AND chat_id = $2`, [id, done]);
    await sql.query(
      `UPDATE notification_deliveries SET status = 'sending', lease = gen_random_uuid(), lease_until = now() + interval '30 seconds'
       WHERE notification_id = $1 AND chat_id = $2`,
      [id, held],
    );
    const batch = batchOf(DEAD_LETTER_QUEUE, [deliverBody(id, stuck), deliverBody(id, done), deliverBody(id, held)]);
    const result = await consume(batch);
    expect(result.explicitAcks.sort()).toEqual([batch.messages[0]?.id, batch.messages[1]?.id].sort());
    expect(result.retryMessages.map((r) => r.msgId)).toEqual([batch.messages[2]?.id]);
    expect(await delivery(id, stuck)).toMatchObject({ status: "failed", error: "gave_up" });
    expect(await delivery(id, done)).toMatchObject({ status: "sent" });
    expect(await api(`/notifications/${id}`)).toMatchObject({ body: { sent: 1, failed: 1, pending: 1, done: false } });
    expect(await botApi.calls("sendMessage")).toEqual([]);
  });
});

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { updateKey } from "../../src/webhook/update-ledger.js";
import { TEST_SECRETS } from "./bindings.js";
import { buttonPress, freshUserId, sample, textMessage } from "./fixtures.js";
import {
  botApi,
  callWorkerWith,
  deliver,
  deliverWith,
  failedRecord,
  failedUpdateIds,
  neonGateway,
  redisGateway,
  testRedis,
  testSql,
} from "./helpers.js";
import { FAILED_UPDATE_IDS_KEY, failedUpdateKey } from "../../src/webhook/failed-updates.js";

const redis = testRedis();
/** Every Bot API call a request of its own, so a failing reply is the Worker's to handle (not Telegram's). */
const REPLIES_AS_REQUESTS = { WEBHOOK_REPLY_METHODS: "none" };

/**
 * A press of the language button whose answer, the call the handler makes before its edit (and so a
 * request of its own, while the edit rides on the response), meets `fault` at the Bot API.
 */
async function pressWithAnswerFault(user: number, fault: Record<string, unknown>): Promise<ReturnType<typeof buttonPress>> {
  const press = buttonPress(user, "lang:en");
  await botApi.addFault({ method: "answerCallbackQuery", callback_query_id: press.callback_query.id, ...fault });
  return press;
}

/** The answers of one button press that reached the double. */
async function answersOf(press: ReturnType<typeof buttonPress>) {
  return (await botApi.calls("answerCallbackQuery")).filter((call) => call.params.callback_query_id === press.callback_query.id);
}

beforeEach(async () => {
  await botApi.reset();
});

afterEach(async () => {
  await Promise.all([redisGateway.up(), neonGateway.up(), botApi.clearFaults()]);
});

describe("exactly once under Telegram's redeliveries", () => {
  it("a second delivery of a handled update answers 200 without running handlers", async () => {
    const user = freshUserId();
    const update = textMessage(user, "/help");
    expect((await deliver(update)).status).toBe(200);
    expect((await deliver(update)).status).toBe(200);
    expect(await botApi.callsFor(user, "sendMessage")).toHaveLength(1);
    expect(await redis.get(updateKey(update.update_id))).toBe("done");
    expect(await redis.ttl(updateKey(update.update_id))).toBeGreaterThan(23 * 60 * 60);
  });

  it("concurrent deliveries of one update run the handler once; the losers are told to retry", async () => {
    const user = freshUserId();
    // A slow answer keeps the first delivery running while the others arrive.
    const update = await pressWithAnswerFault(user, { delay_ms: 500, times: 1 });
    const first = deliver(update);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const others = await Promise.all([deliver(update), deliver(update)]);
    for (const response of others) {
      expect(response.status).toBe(503);
      expect(response.headers.get("retry-after")).toBe("5");
      expect(await response.json()).toEqual({ error: "update_in_progress" });
    }
    expect((await first).status).toBe(200);
    // Telegram redelivers the 503s later: they find the update done.
    expect((await deliver(update)).status).toBe(200);
    expect(await answersOf(update)).toHaveLength(1);
    expect(await botApi.callsFor(user, "editMessageText")).toHaveLength(1);
  });

  it("a redelivery racing the done mark after the answer never runs the handler again", async () => {
    for (let round = 0; round < 10; round++) {
      const user = freshUserId();
      const update = textMessage(user, "/help");
      const [first, second] = await Promise.all([
        deliver(update, { runReply: false }),
        new Promise((resolve) => setTimeout(resolve, round)).then(() => deliver(update, { runReply: false })),
      ]);
      const bodies = [await first.text(), await second.text()];
      // Exactly one delivery ran the handler and carries its reply; the other found it claimed or done.
      expect(bodies.filter((body) => body.includes('"method":"sendMessage"'))).toHaveLength(1);
      for (const [response, body] of [[first, bodies[0]], [second, bodies[1]]] as const) {
        if (!body?.includes("sendMessage")) expect([200, 503]).toContain(response.status);
      }
    }
  });
});

describe("dependency failures answer 503 and lose nothing", () => {
  it.each([
    ["dropping connections", () => redisGateway.down()],
    // Accepting requests and never answering: only the deadline (REDIS_TIMEOUT_MS) ends the wait.
    ["hanging", () => redisGateway.hang()],
  ])("Upstash %s: 503 with Retry-After, nothing applied, and once it is back the update is handled exactly once", async (_how, fail) => {
    const user = freshUserId();
    const update = textMessage(user, "/help");
    await fail();
    const response = await deliverWith({ REDIS_TIMEOUT_MS: "300" }, update);
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
    expect(await response.json()).toEqual({ error: "dependency_unavailable", dependency: "redis" });
    expect(await botApi.callsFor(user)).toEqual([]);
    await redisGateway.up();
    expect((await deliver(update)).status).toBe(200);
    expect((await deliver(update)).status).toBe(200);
    expect(await botApi.callsFor(user, "sendMessage")).toHaveLength(1);
  });

  it("Postgres down: /start answers 503 with nothing sent, then links up once it is back", async () => {
    const user = freshUserId();
    const update = sample("messageStart", user);
    await neonGateway.down();
    const failed = await deliver(update);
    expect(failed.status).toBe(503);
    expect(await failed.json()).toEqual({ error: "dependency_unavailable", dependency: "postgres" });
    expect(await botApi.callsFor(user)).toEqual([]);
    await neonGateway.up();
    expect((await deliver(update)).status).toBe(200);
    expect(await botApi.callsFor(user, "sendMessage")).toHaveLength(1);
    const rows = await testSql().query("SELECT chat_id FROM telegram_accounts WHERE telegram_user_id = $1", [user]);
    expect(rows).toEqual([{ chat_id: String(user) }]);
  });

  it("Redis lost after the answer reached the user: 200 with the edit, so nothing is ever sent twice", async () => {
    const user = freshUserId();
    // The answer goes out before the edit; the choice is stored after both. Redis goes away while the
    // answer is in flight, so storing the session fails after the user saw the answer.
    const choose = await pressWithAnswerFault(user, { delay_ms: 1000, times: 1 });
    const delivery = deliver(choose);
    await new Promise((resolve) => setTimeout(resolve, 400));
    await redisGateway.down();
    const response = await delivery;
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ method: "editMessageText", chat_id: user, text: "Language: English." });
    await redisGateway.up();
    // Telegram does not redeliver after a 200; a stray redelivery finds the update still leased.
    expect(await (await deliver(choose)).json()).toEqual({ error: "update_in_progress" });
    expect(await answersOf(choose)).toHaveLength(1);
    expect(await botApi.callsFor(user, "editMessageText")).toHaveLength(1);
  });

  it.each([
    [500, undefined],
    [502, undefined],
    [429, 3],
  ])("Bot API %i: 503, and the redelivery after it recovers replies once", async (errorCode, retryAfter) => {
    const user = freshUserId();
    const update = await pressWithAnswerFault(user, { error_code: errorCode, retry_after: retryAfter });
    const failed = await deliver(update);
    expect(failed.status).toBe(503);
    expect(await failed.json()).toEqual({ error: "dependency_unavailable", dependency: "telegram" });
    expect(await redis.get(updateKey(update.update_id))).toBeNull();
    // The edit that was to ride on the answer went nowhere: the redelivery makes it.
    expect(await botApi.callsFor(user, "editMessageText")).toEqual([]);
    await botApi.clearFaults();
    expect((await deliver(update)).status).toBe(200);
    expect(await answersOf(update)).toHaveLength(2); // the failed attempt reached the double too
    expect(await botApi.callsFor(user, "editMessageText")).toHaveLength(1);
  });
});

describe("Upstash accepting requests but never answering", () => {
  it("Upstash hanging once the handler runs: the update is still answered, and its replies sent once", async () => {
    const user = freshUserId();
    // The session write after the slow answer hangs, and so does recording the failure.
    const update = await pressWithAnswerFault(user, { delay_ms: 1500, times: 1 });
    const answered = deliverWith({ REDIS_TIMEOUT_MS: "300" }, update);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await redisGateway.hang();
    expect((await answered).status).toBe(200);
    expect(await answersOf(update)).toHaveLength(1);
    expect(await botApi.callsFor(user, "editMessageText")).toHaveLength(1);
  });
});

describe("handler bugs", () => {
  it("a handler error a retry cannot fix answers 200 and keeps the update in the failed list", async () => {
    const user = freshUserId();
    const update = textMessage(user, "/help");
    await botApi.addFault({ method: "sendMessage", chat_id: user, error_code: 400, description: "Bad Request: chat not found" });
    const response = await deliverWith(REPLIES_AS_REQUESTS, update);
    expect(response.status).toBe(200);
    const failed = await failedRecord(update.update_id);
    expect(failed).toMatchObject({ update_id: update.update_id, update_type: "message", error_name: "GrammyError" });
    expect(await failedUpdateIds()).toContain(update.update_id);
    expect(String(failed?.error_message)).toContain("chat not found");
    expect(failed?.update).toEqual(update);
    // A redelivery does not run it again.
    await botApi.clearFaults();
    expect((await deliver(update)).status).toBe(200);
    expect(await botApi.callsFor(user, "sendMessage")).toHaveLength(1);
  });
});

describe("what the failed-update store keeps", () => {
  const chatNotFound = (chatId: number) =>
    botApi.addFault({ method: "sendMessage", chat_id: chatId, error_code: 400, description: "Bad Request: chat not found" });

  it("bad data while recording a failure is a bug, not an outage: 200, done, and the chat moves on", async () => {
    const user = freshUserId();
    await redis.set(FAILED_UPDATE_IDS_KEY, "not a sorted set");
    try {
      await chatNotFound(user);
      const update = textMessage(user, "/help");
      const response = await deliverWith(REPLIES_AS_REQUESTS, update);
      expect(response.status).toBe(200);
      expect(await redis.get(updateKey(update.update_id))).toBe("done");
      await botApi.clearFaults();
      expect((await deliver(update)).status).toBe(200);
      expect((await deliver(textMessage(user, "/help"))).status).toBe(200);
      expect(await botApi.callsFor(user, "sendMessage")).toHaveLength(2);
    } finally {
      await redis.del(FAILED_UPDATE_IDS_KEY);
    }
  });

  it("a record expires after the retention, and a long update keeps only its first 8 KiB", async () => {
    const user = freshUserId();
    await chatNotFound(user);
    const update = textMessage(user, `/help ${"я".repeat(4000)}`, { entities: Array.from({ length: 200 }, (_, i) => ({ offset: i, length: 1, type: "bold" })) });
    expect((await deliverWith({ ...REPLIES_AS_REQUESTS, FAILED_UPDATES_RETENTION_DAYS: "2" }, update)).status).toBe(200);
    const record = await failedRecord(update.update_id);
    expect(record?.update).toBeUndefined();
    expect(record?.update_excerpt).toBe(JSON.stringify(update).slice(0, 8192));
    const twoDays = 2 * 24 * 60 * 60;
    for (const key of [failedUpdateKey(update.update_id), FAILED_UPDATE_IDS_KEY]) {
      const ttl = await redis.ttl(key);
      expect(ttl).toBeGreaterThan(twoDays - 60);
      expect(ttl).toBeLessThanOrEqual(twoDays);
    }
  });

  it("an index entry older than the retention is dropped when the next failure is kept", async () => {
    const user = freshUserId();
    const stale = 900_000_000 + Math.floor(Math.random() * 1_000_000);
    await redis.zadd(FAILED_UPDATE_IDS_KEY, { score: Date.now() - 8 * 24 * 60 * 60 * 1000, member: String(stale) });
    await chatNotFound(user);
    const update = textMessage(user, "/help");
    expect((await deliverWith(REPLIES_AS_REQUESTS, update)).status).toBe(200);
    const ids = await failedUpdateIds();
    expect(ids[0]).toBe(update.update_id);
    expect(ids).not.toContain(stale);
  });
});

describe("bad data in Redis", () => {
  it("a chat whose session key holds the wrong type: 200 and the failed list, not a blocked queue", async () => {
    const user = freshUserId();
    await redis.lpush(`bot:session:${user}`, "not a session");
    const update = textMessage(user, "/help");
    const response = await deliver(update);
    expect(response.status).toBe(200);
    const failed = await failedRecord(update.update_id);
    expect(failed).toMatchObject({ error_name: "RedisReplyError" });
    expect(String(failed?.error_message)).toContain("WRONGTYPE");
    // Upstash appends the command and its arguments (tokens, session data): none of that is kept.
    expect(JSON.stringify(failed)).not.toContain("command was");
    expect(await redis.get(updateKey(update.update_id))).toBe("done");
    // Once the key is repaired, the chat's next update is handled as usual.
    await redis.del(`bot:session:${user}`);
    expect((await deliver(textMessage(user, "/help"))).status).toBe(200);
    expect(await botApi.callsFor(user, "sendMessage")).toHaveLength(1);
  });

  it("the update's own ledger key holding the wrong type: 200 and a log line, not endless redeliveries", async () => {
    const user = freshUserId();
    const update = textMessage(user, "/help");
    await redis.lpush(updateKey(update.update_id), "not a lease");
    expect((await deliver(update)).status).toBe(200);
    expect(await botApi.callsFor(user)).toEqual([]);
  });
});

describe("handler deadline", () => {
  it("an update past the deadline answers 503, finishes in the background and is not applied twice", async () => {
    const user = freshUserId();
    const update = await pressWithAnswerFault(user, { delay_ms: 1500, times: 1 });
    const late = await deliverWith({ WEBHOOK_HANDLER_TIMEOUT_MS: "300" }, update);
    expect(late.status).toBe(503);
    expect(await late.json()).toEqual({ error: "handler_timeout" });
    // deliverWith waited for the background work: the update is now recorded as done, and the edit
    // that was to ride on the response went out as a request of its own.
    expect(await redis.get(updateKey(update.update_id))).toBe("done");
    expect(await botApi.callsFor(user, "editMessageText")).toHaveLength(1);
    expect((await deliver(update)).status).toBe(200);
    expect(await answersOf(update)).toHaveLength(1);
    expect(await botApi.callsFor(user, "editMessageText")).toHaveLength(1);
  });
});

describe("handler deadline, then Upstash down when the late handler ends", () => {
  it("the done mark is retried until Upstash is back: Telegram's redeliveries never run the update again", async () => {
    const user = freshUserId();
    const started = Date.now();
    const at = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, started + ms - Date.now())));
    const update = await pressWithAnswerFault(user, { delay_ms: 3000, times: 1 });
    // Resolves once the late work is over too.
    const first = deliverWith({ WEBHOOK_HANDLER_TIMEOUT_MS: "1500" }, update);
    const outage = (async () => {
      await at(2500);
      await redisGateway.down();
      await at(5000);
      await redisGateway.up();
    })();
    // Telegram redelivers what got 503: while the handler runs, during the outage, and after it.
    const redelivered: number[] = [];
    for (const moment of [2000, 4000, 6000]) {
      await at(moment);
      redelivered.push((await deliver(update)).status);
    }
    expect(redelivered.slice(0, 2)).toEqual([503, 503]);
    expect((await first).status).toBe(503);
    await outage;
    expect(await redis.get(updateKey(update.update_id))).toBe("done");
    expect((await deliver(update)).status).toBe(200);
    expect(await answersOf(update)).toHaveLength(1);
    expect(await botApi.callsFor(user, "editMessageText")).toHaveLength(1);
  });
});

describe("handler deadline, then a bug", () => {
  it("the late failure is kept in the failed list, and a redelivery does not run it again", async () => {
    const user = freshUserId();
    const press = await pressWithAnswerFault(user, { delay_ms: 1500, error_code: 400, times: 1 });
    const late = await deliverWith({ WEBHOOK_HANDLER_TIMEOUT_MS: "300" }, press);
    expect(late.status).toBe(503);
    // deliverWith waited for the background work.
    expect(await failedUpdateIds()).toContain(press.update_id);
    expect((await deliver(press)).status).toBe(200);
    expect(await answersOf(press)).toHaveLength(1);
    expect(await botApi.callsFor(user, "editMessageText")).toEqual([]);
  });
});

describe("Telegram source networks (TELEGRAM_IP_ALLOWLIST=on)", () => {
  const post = (ip: string | undefined, update = textMessage(freshUserId(), "/help")) =>
    callWorkerWith({ TELEGRAM_IP_ALLOWLIST: "on" }, "/bot/webhook/", {
      method: "POST",
      headers: {
        "X-Telegram-Bot-Api-Secret-Token": TEST_SECRETS.TELEGRAM_WEBHOOK_SECRET,
        ...(ip === undefined ? {} : { "CF-Connecting-IP": ip }),
      },
      body: JSON.stringify(update),
    });

  it.each(["149.154.160.1", "149.154.175.254", "91.108.4.10", "91.108.7.200"])("%s is let in", async (ip) => {
    expect((await post(ip)).status).toBe(200);
  });

  it.each(["203.0.113.9", "149.154.176.1", "91.108.8.1", "::1", undefined])("%s gets 403 and no work", async (ip) => {
    const user = freshUserId();
    const response = await post(ip, textMessage(user, "/help"));
    expect(response.status).toBe(403);
    expect(await botApi.callsFor(user)).toEqual([]);
  });

  it("is off by default: any address is let in", async () => {
    expect((await deliver(textMessage(freshUserId(), "/help"), { headers: { "CF-Connecting-IP": "203.0.113.9" } })).status).toBe(200);
  });
});
